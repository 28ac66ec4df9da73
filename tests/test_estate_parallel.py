"""A large estate is loaded by two processes: the result must be the sequential one exactly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from zonesync import estate as E
from zonesync.load import description_files, load_file

GOOD = """\
domain: {d}
hosts:
  sbc1.{d}: [192.0.2.10, "2001:db8::10"]
sip:
  - transport: tls
    targets: [{{host: sbc1.{d}}}]
  - transport: tcp
    targets: [{{host: sbc1.{d}}}]
  - transport: udp
    targets: [{{host: sbc1.{d}}}]
"""

VARIANTS = [
    # a warning only (no tls/tcp): linted by the worker
    "domain: {d}\nsip:\n  - transport: udp\n    targets: [{{host: sip.{d}}}]\n",
    # a target in another file's hosts (the second file's): must be linted with every host known
    "domain: {d}\nsip:\n  - transport: udp\n    targets: [{{host: sbc1.w1.example}}]\n",
    # a target nobody gives an address for
    "domain: {d}\nsip:\n  - transport: udp\n    targets: [{{host: sip.elsewhere.example}}]\n",
    # schema errors
    "domain: {d}\nsip:\n  - transport: udpp\n    targets: [{{host: sip.{d}, port: 70000}}]\n",
    # the full YAML parser's findings (duplicate key, octal)
    "domain: {d}\ndomain: {d}\nsip: []\n",
    "domain: {d}\nsip:\n  - transport: udp\n    targets: [{{host: sip.{d}, port: 05060}}]\n",
    # YAML syntax
    "domain: {d}\nsip: [\n",
    # the same domain as another file (in the other half)
    "domain: w1.example\nsip:\n  - transport: udp\n    targets: [{{host: sip.w1.example}}]\n",
    # a host with other addresses than in another file
    "domain: {d}\nhosts:\n  sbc1.w1.example: [192.0.2.99]\n"
    "sip:\n  - transport: udp\n    targets: [{{host: sbc1.w1.example}}]\n",
    # a file name that does not match, IDN, a flow mapping with a comment, an absolute owner
    "domain: other-{d}  # comment\nsip:\n- transport: tcp\n  srv: _sip._tcp.other-{d}.\n"
    "  targets:\n  - {{host: sip.other-{d}, weight: 7}}\n",
    "domain: \u043f\u0440\u0438\u043c\u0435\u0440-{d}\nsip:\n  - transport: udp\n"
    "    targets: [{{host: sip.{d}}}]\n",
]


def _estate(directory: Path, count: int) -> None:
    for i in range(count):
        d = f"w{i}.example"
        text = GOOD if i % 3 else VARIANTS[(i // 3) % len(VARIANTS)]
        (directory / f"{d}.yaml").write_text(text.format(d=d), encoding="utf-8")
    (directory / "dangling.example.yaml").symlink_to(directory / "gone.yaml")


def _view(estate: E.Estate) -> list:
    return [(f.file, f.description, f.findings) for f in estate.files]


@pytest.mark.parametrize("count", [7, 120])
def test_two_processes_give_the_sequential_result(tmp_path: Path, monkeypatch, count: int):
    _estate(tmp_path, count)
    monkeypatch.setenv("ZONESYNC_LOAD_WORKERS", "1")
    sequential = E.check([load_file(p, E._shower()(p)) for p in description_files([tmp_path])])
    assert not E._parallel_ok(10_000)
    monkeypatch.delenv("ZONESYNC_LOAD_WORKERS")
    monkeypatch.setattr(E, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(E, "_CHUNK", 2)   # both ends take several claims
    assert E._parallel_ok(count)
    seen, from_worker = [], []
    real_check, real_alone, real_from_worker = E._check, E._lint_alone, E._from_worker
    monkeypatch.setattr(E, "_check", lambda files, linted: seen.append(set(linted))
                        or real_check(files, linted))

    def slow_alone(*args):   # this process slowed down: the worker surely takes some files
        time.sleep(0.004)
        return real_alone(*args)
    monkeypatch.setattr(E, "_lint_alone", slow_alone)
    monkeypatch.setattr(E, "_from_worker", lambda ready, index, linted:
                        from_worker.append(index) or real_from_worker(ready, index, linted))
    parallel = E.load_estate([tmp_path])
    assert from_worker, "the worker sent nothing: the parallel path was not taken"
    assert _view(parallel) == _view(sequential)
    assert parallel.zone_records() == sequential.zone_records()
    rules = {f.rule for f in sequential.findings}
    if count > 100:   # every variant is there, in both halves
        assert {"naptr-missing-service", "srv-target-no-address", "transport-unknown",
                "yaml-duplicate-key", "yaml-syntax", "domain-duplicate", "file-unreadable",
                "file-name-mismatch", "host-conflict", "schema-type"} <= rules, rules


def test_a_dead_worker_leaves_its_files_to_the_parent(tmp_path: Path, monkeypatch):
    _estate(tmp_path, 40)
    sequential = E.check([load_file(p, E._shower()(p)) for p in description_files([tmp_path])])
    monkeypatch.setattr(E, "PARALLEL_MIN_FILES", 2)

    def die(loaded):
        raise RuntimeError("worker trouble")
    monkeypatch.setattr(E, "_prepared", die)
    assert _view(E.load_estate([tmp_path])) == _view(sequential)


def test_a_large_estate_is_kept_out_of_the_collectors_reach(tmp_path: Path, monkeypatch):
    import gc
    _estate(tmp_path, 6)
    monkeypatch.setattr(E, "LONG_LIVED_AT", 4)
    gc.unfreeze()
    try:
        E.load_estate([tmp_path])
        assert gc.get_freeze_count() > 0, "the estate's objects are left to the collector"
        gc.unfreeze()
        monkeypatch.setattr(E, "LONG_LIVED_AT", 100)   # a small estate: nothing frozen
        E.load_estate([tmp_path])
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
