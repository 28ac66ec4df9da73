"""The warm estate equals a fresh load + lint of the same directory, after any changes."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from zonesync.estate import Estate
from zonesync.providers.config import load_providers
from zonesync.sync import select
from zonesync.warm import WarmEstate, fresh

ZONES = ["example", "ex2.test"]
HOSTS = ["sbc1", "sbc2", "edge", "pbx"]


def shown(p: Path) -> str:
    return f"zones/{p.name}"


def _host(rng: random.Random, zone: str) -> str:
    # shared names across files (conflicts), names outside the file's zone (known hosts)
    return f"{rng.choice(HOSTS)}.{rng.choice(['a', 'b', 'c'])}.{rng.choice(ZONES) if rng.random() < .3 else zone}"


def description(rng: random.Random, domain: str) -> str:
    if rng.random() < 0.06:
        return rng.choice(["domain: [unclosed\n", "", "just text\n", "domain: 5\n",
                           "domain: x.example\nbogus: 1\n"])
    zone = domain.split(".", 1)[1] if rng.random() < 0.5 and "." in domain else None
    if zone is None:
        zone = next(z for z in ZONES if domain.endswith(z))
    lines = [f"domain: {domain}"]
    if rng.random() < 0.4:
        lines.append(f"zone: {zone}")
    if rng.random() < 0.3:
        lines.append(f"ttl: {rng.choice([300, 600])}")
    if rng.random() < 0.15:
        lines.append(f"providers: [{rng.choice(['local', 'nowhere'])}]")
    if rng.random() < 0.2:
        lines.append("naptr: false")
    hosts = {}
    for _ in range(rng.randint(0, 3)):
        hosts[_host(rng, zone)] = rng.choice(["[192.0.2.1]", "[192.0.2.2]", "[192.0.2.1, '2001:db8::1']"])
    if hosts:
        lines.append("hosts:")
        lines += [f"  {h}: {a}" for h, a in hosts.items()]
    entries = []
    for transport in rng.sample(["tls", "tcp", "udp", "wss"], rng.randint(0 if rng.random() < .1 else 1, 3)):
        entry = [f"  - transport: {transport}"]
        if rng.random() < 0.25:
            entry.append(f"    srv: _sip._tcp.{rng.choice(['shared', 'x', domain.split('.')[0]])}.{zone}.")
        entry.append("    targets:")
        for _ in range(rng.randint(1, 2)):
            host = rng.choice(list(hosts) or [_host(rng, zone)]) if rng.random() < .7 else _host(rng, zone)
            entry.append(f"      - {{host: {host}, port: {rng.choice([5060, 5061])}, "
                         f"priority: {rng.choice([10, 20])}}}")
        entries.append("\n".join(entry))
    if entries:
        lines.append("sip:")
        lines += entries
    if rng.random() < 0.15:
        lines.append(f"disabled: [{rng.choice(['udp', 'tcp'])}]")
    return "\n".join(lines) + "\n"


def as_compared(estate: Estate) -> list:
    return [(f.file, f.description.model_dump() if f.description else None, f.findings)
            for f in estate.files]


def assert_same(warm: WarmEstate, zones: Path):
    got = warm.current()
    want = fresh(zones, shown)
    assert [f.file for f in got.files] == [f.file for f in want.files]
    for a, b in zip(got.files, want.files):
        assert (a.description is None) == (b.description is None), a.file
        assert a.findings == b.findings, a.file
    assert got.errors == want.errors
    return got, want


def _names(rng):
    return [f"{p}{i}.{z}" for p in ("d", "sip") for i in range(4) for z in ZONES]


@pytest.mark.parametrize("seed", range(12))
def test_random_changes_equal_a_fresh_load(tmp_path, seed):
    rng = random.Random(seed)
    zones = tmp_path / "zones"
    zones.mkdir()
    domains = _names(rng)
    for d in rng.sample(domains, 8):
        (zones / f"{d}.yaml").write_text(description(rng, d))
    warm = WarmEstate(zones, shown, rescan=None)
    assert_same(warm, zones)
    for step in range(25):
        changed = []
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            existing = sorted(zones.glob("*.yaml"))
            if op < 0.25 and existing:
                victim = rng.choice(existing)
                victim.unlink()
                changed.append(victim.name)
            elif op < 0.35 and existing:
                # a file under another domain's name (file-name-mismatch, duplicate domains)
                src = rng.choice(existing)
                d = rng.choice(domains)
                (zones / f"{d}.yaml").write_text(src.read_text())
                changed.append(f"{d}.yaml")
            else:
                d = rng.choice(domains)
                (zones / f"{d}.yaml").write_text(description(rng, d))
                changed.append(f"{d}.yaml")
        # the cheap path (names given) and the scan (nothing given) must both be right
        if step % 2:
            got = warm.current(changed)
        else:
            got = warm.current()
        want = fresh(zones, shown)
        assert [f.file for f in got.files] == [f.file for f in want.files]
        for a, b in zip(got.files, want.files):
            assert a.findings == b.findings, (seed, step, a.file)


def test_incremental_work_is_local(tmp_path):
    from bench.compile_lint import generate
    zones = tmp_path / "zones"
    zones.mkdir()
    generate(zones, 300)
    warm = WarmEstate(zones, shown, rescan=None)
    warm.current()
    before = dict(warm.stats)
    path = zones / "c7.example.yaml"
    path.write_text(path.read_text().replace("192.0.2.10", "192.0.2.99"))
    view = warm.current([path.name])
    assert warm.stats["reloaded"] - before["reloaded"] == 1
    assert warm.stats["relinted"] - before["relinted"] == 1
    assert warm.stats["cross_files"] - before["cross_files"] <= 2
    assert warm.stats["full_scans"] == before["full_scans"]
    assert view.find("c7.example").description.hosts["sbc1.c7.example"][0] == "192.0.2.99"
    assert as_compared(view) == as_compared(fresh(zones, shown))


def test_conflicts_appear_and_disappear(tmp_path):
    zones = tmp_path / "zones"
    zones.mkdir()
    a = "domain: a.example\ndisabled: [udp]\nhosts:\n  sbc.shared.example: [192.0.2.1]\n"
    (zones / "a.example.yaml").write_text(a)
    (zones / "b.example.yaml").write_text(
        "domain: b.example\nsip:\n  - transport: tls\n    targets: [{host: sbc.shared.example}]\n")
    warm = WarmEstate(zones, shown, rescan=None)
    assert_same(warm, zones)
    # b's target is outside its zone: known only while a gives its address
    (zones / "a.example.yaml").unlink()
    got, _ = assert_same(warm, zones)
    assert any(f.rule == "srv-target-no-address" for f in got.find("b.example").findings)
    (zones / "a.example.yaml").write_text(a)
    got, _ = assert_same(warm, zones)
    assert not any(f.rule == "srv-target-no-address" for f in got.find("b.example").findings)
    # a host conflict, then a duplicate domain, then both gone
    (zones / "c.example.yaml").write_text(
        "domain: c.example\ndisabled: [udp]\nhosts:\n  sbc.shared.example: [192.0.2.2]\n")
    got, _ = assert_same(warm, zones)
    assert any(f.rule == "host-conflict" for f in got.find("c.example").findings)
    (zones / "d.example.yaml").write_text(a)
    got, _ = assert_same(warm, zones)
    assert any(f.rule == "domain-duplicate" for f in got.files[-1].findings)
    (zones / "c.example.yaml").unlink()
    (zones / "d.example.yaml").unlink()
    got, _ = assert_same(warm, zones)
    assert not any(f.rule in ("host-conflict", "domain-duplicate") for f in got.findings)


def test_same_size_rewrite_within_the_clock_tick_is_seen(tmp_path):
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / "a.example.yaml"
    path.write_text("domain: a.example\ndisabled: [udp]\nttl: 300\n")
    warm = WarmEstate(zones, shown, rescan=None)
    stamp = os.stat(path)
    assert warm.current().files[0].description.ttl == 300
    path.write_text("domain: a.example\ndisabled: [udp]\nttl: 600\n")  # same size
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # and the same mtime
    assert warm.current().files[0].description.ttl == 600     # racy: its digest is checked


def test_other_writers_through_the_journal_and_the_directory(tmp_path):
    zones = tmp_path / "zones"
    zones.mkdir()
    journal = tmp_path / "state" / "zones.journal"
    for i in range(5):
        (zones / f"d{i}.example.yaml").write_text(f"domain: d{i}.example\ndisabled: [udp]\n")
    mine = WarmEstate(zones, shown, journal=journal, rescan=None)
    theirs = WarmEstate(zones, shown, journal=journal, rescan=None)
    mine.current(), theirs.current()
    scans = mine.stats["full_scans"]
    # another process writes and says so in the journal: no full scan here
    (zones / "d9.example.yaml").write_text("domain: d9.example\ndisabled: [udp]\n")
    theirs.current(["d9.example.yaml"])
    theirs.note_written(["d9.example.yaml"])
    assert [f.file for f in mine.current().files][-1] == "zones/d9.example.yaml"
    assert mine.stats["full_scans"] == scans
    # someone else (no journal line): the directory changed, so every file is stat'ed
    (zones / "d1.example.yaml").unlink()
    assert "zones/d1.example.yaml" not in [f.file for f in mine.current().files]
    assert mine.stats["full_scans"] == scans + 1
    assert_same(mine, zones)
    # an edit in place (no directory change, no journal): seen at the periodic rescan
    clock = [0.0]
    late = WarmEstate(zones, shown, journal=journal, rescan=10, clock=lambda: clock[0])
    late.current()
    (zones / "d2.example.yaml").write_text("domain: d2.example\ndisabled: [udp]\nttl: 60\n")
    clock[0] = 11
    late.current()                  # starts the rescan, in the background
    late.settle()
    assert late.current().find("d2.example").description.ttl == 60


def test_preview_and_put_back(tmp_path):
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "a.example.yaml").write_text("domain: a.example\ndisabled: [udp]\nhosts:\n  h.x.example: [192.0.2.1]\n")
    warm = WarmEstate(zones, shown, rescan=None)
    warm.current()
    from zonesync.load import load_text
    old = warm.snapshot("b.example.yaml")
    assert old is None
    before = warm.put("b.example.yaml", load_text(
        "domain: b.example\ndisabled: [udp]\nhosts:\n  h.x.example: [192.0.2.9]\n", "zones/b.example.yaml"))
    view = warm.current()
    assert any(f.rule == "host-conflict" for f in view.find("b.example").findings)
    assert "a.example.yaml" in before or "b.example.yaml" in before
    warm.put("b.example.yaml", old)
    assert_same(warm, zones)


def test_narrowed_select_equals_select(tmp_path):
    rng = random.Random(7)
    zones = tmp_path / "zones"
    zones.mkdir()
    domains = _names(rng)
    for d in domains:
        (zones / f"{d}.yaml").write_text(description(rng, d))
    warm = WarmEstate(zones, shown, rescan=None)
    view = warm.current()
    providers = load_providers(tmp_path / "providers", tmp_path / "state")
    for _ in range(30):
        wanted = rng.sample(domains + ["example", "nowhere.test"], rng.randint(1, 3))
        full = select(view, providers, tmp_path / "state", wanted)
        narrow = select(view.narrowed(wanted, providers), providers, tmp_path / "state", wanted)
        assert full.errors == narrow.errors
        assert [(t.zone, t.provider.name, t.domains, t.blocked) for t in full.targets] == \
               [(t.zone, t.provider.name, t.domains, t.blocked) for t in narrow.targets]
        for d in wanted:
            a, b = view.find(d), Estate(view.files).find(d)
            assert a is b


def test_time_per_change_does_not_grow_with_the_estate(tmp_path):
    from bench.compile_lint import generate
    zones = tmp_path / "zones"
    zones.mkdir()
    generate(zones, 2000)
    warm = WarmEstate(zones, shown, rescan=None)
    warm.current()
    path = zones / "c5.example.yaml"
    started = time.perf_counter()
    for i in range(10):
        path.write_text(path.read_text().replace("ttl", "ttl") + f"# {i}\n")
        warm.current([path.name])
    assert (time.perf_counter() - started) / 10 < 0.2


def test_two_services_on_one_directory_see_each_others_writes(tmp_path):
    """Two gunicorn workers: each has its own warm estate; a PUT or DELETE through one, or a
    file dropped in by hand, is what the other answers and syncs from next."""
    from zonesync.api.config import Settings
    from zonesync.api.errors import ApiError
    from zonesync.api.service import Service

    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "a.example.yaml").write_text("domain: a.example\ndisabled: [udp]\n")
    config = {"ZONESYNC_ZONES": str(zones), "ZONESYNC_PROVIDERS": str(tmp_path / "providers"),
              "ZONESYNC_STATE_DIR": str(tmp_path / "state"), "start_runner": "false"}
    one, two = Service(Settings.from_mapping(config)), Service(Settings.from_mapping(config))
    assert [f.path.name for f in two.described().files] == ["a.example.yaml"]
    body = {"disabled": ["udp"], "hosts": {"sbc.b.example": ["192.0.2.7"]}}
    one.put("b.example", body, "alice")
    assert two.described().find("b.example") is not None
    assert two.check_domains(["b.example"]) == ["b.example"]
    scans = two.warm.stats["full_scans"]
    one.put("b.example", {**body, "ttl": 60}, "alice")           # replaced: same entry
    assert two.described().find("b.example").loaded.description.ttl == 60
    assert two.warm.stats["full_scans"] == scans                  # the journal said which
    own_scans = one.warm.stats["full_scans"]
    one.delete("b.example", "alice")
    assert one.warm.stats["full_scans"] == own_scans   # its own DELETE: journal first, no scan
    assert two.described().find("b.example") is None
    with pytest.raises(ApiError):
        two.check_domains(["b.example"])
    (zones / "c.example.yaml").write_text("domain: c.example\ndisabled: [udp]\n")   # by hand
    assert one.described().find("c.example") is not None
    assert two.described().find("c.example") is not None
    for service in (one, two):
        got = service.described().view
        want = fresh(zones, service.shown)
        assert [(f.file, f.findings) for f in got.files] == [(f.file, f.findings) for f in want.files]
    # a rejected PUT leaves nothing behind, in the cache either
    with pytest.raises(ApiError):
        one.put("d.example", {"domain": "d.example", "sip": "nonsense"}, "alice")
    assert one.described().find("d.example") is None
    assert not (zones / "d.example.yaml").exists()
