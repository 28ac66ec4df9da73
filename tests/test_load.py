"""Bad input gets a clear, located error, changes nothing, and never a traceback.

Each case is checked twice: through ``estate.load_estate`` (the finding's rule, field path and
line) and through the command line, ``zonesync validate FILE`` as a subprocess (exit code, no
"Traceback", the ``file:line path`` location in the output, the documented ``--json`` shape).
Lines are marked in the YAML with ``#<`` (or ``#<name`` when a file has several findings).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import CLEAN, cli
from zonesync import estate
from zonesync.compile import compile_description



JSON_FILE_KEYS = {"file", "domain", "valid", "findings"}
JSON_FINDING_KEYS = {"rule", "severity", "file", "line", "path", "message", "fix", "rfc", "record"}


def entry(target: str, *, transport: str = "udp", extra: str = "") -> str:
    """A description with one `sip` entry whose target mapping is ``target`` (flow YAML)."""
    return (f"domain: x.example\nsip:\n  - transport: {transport}\n{extra}"
            f"    targets:\n      - {target}\n")


def line_with(content, marker: str = "#<") -> int:
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    for number, line in enumerate(content.splitlines(), 1):
        if line.rstrip().endswith(marker):
            return number
    raise AssertionError(f"no {marker!r} in the case")




def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes (a sparse file by its size only)."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or not path.is_file():
            out[str(path)] = b"<link or dir>"
        elif path.stat().st_size > 1024 * 1024:
            out[str(path)] = f"<{path.stat().st_size} bytes>".encode()
        else:
            out[str(path)] = path.read_bytes()
    return out


# --- the cases ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    rule: str
    path: str = ""
    line: int | str | None = "#<"   # str: the line ending in this marker; None: no line at all


@dataclass(frozen=True)
class Case:
    id: str
    content: object                  # str, bytes, or a callable(path) that creates the file
    expect: tuple[Expect, ...]
    name: str = "x.example.yaml"
    fix_contains: str = ""           # e.g. the "did you mean" hint

    def line(self, exp: Expect) -> int | None:
        if isinstance(exp.line, str):
            return line_with(self.content, exp.line)
        return exp.line


def _sparse(size):
    def make(path: Path):
        with open(path, "wb") as fh:
            fh.truncate(size)
    return make


def _dangling(path: Path):
    path.symlink_to(path.parent / "nowhere" / path.name)


LABEL_64 = "a" * 64
# 63+63+63+53 characters and four dots: 249; with ".example" 253 (the most allowed) or 254.
NAME_253 = ".".join(["a" * 63] * 3 + ["b" * 53]) + ".example"
NAME_254 = ".".join(["a" * 63] * 3 + ["b" * 54]) + ".example"
assert (len(NAME_253), len(NAME_254)) == (253, 254)

BOMB = ("domain: x.example\nlaughs: #<\n  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(f"  - &{k} [{', '.join([f'*{p}'] * 10)}]\n"
                  for p, k in zip("abcdefgh", "bcdefghi"))
        + CLEAN.replace("domain: x.example\n", ""))

CASES = [
    Case("yaml-syntax", "domain: x.example\nsip:\n  - transport: udp\n"
                        "   targets: [{host: sip.x.example}] #<\n", (Expect("yaml-syntax"),)),
    Case("unclosed-flow", "domain: x.example\nsip:\n  - transport: udp\n"
                          "    targets: [{host: sip.x.example} #<\n", (Expect("yaml-syntax"),)),
    Case("tab-indent", "domain: x.example\nsip:\n\t- transport: udp #<\n", (Expect("yaml-syntax"),)),
    Case("list-not-mapping", "- domain: x.example #<\n- sip: []\n", (Expect("schema-type"),)),
    Case("hosts-list-not-mapping", CLEAN.replace("hosts:\n  sip.x.example: [192.0.2.1]\n",
                                                 "hosts: #<\n  - sip.x.example\n"),
         (Expect("schema-type", "hosts"),)),
    Case("target-not-mapping", entry("sip.x.example #<"), (Expect("schema-type", "sip[0].targets[0]"),)),
    Case("sip-mapping-not-list", "domain: x.example\nsip: #<\n  transport: udp\n",
         (Expect("schema-type", "sip"),)),
    Case("typo-tragets", "domain: x.example\nsip:\n  - transport: udp #<m\n"
                         "    tragets: [{host: sip.x.example}] #<\n",
         (Expect("schema-unknown-key", "sip[0].tragets"), Expect("schema-missing", "sip[0].targets", line="#<m")),
         fix_contains="did you mean `targets`"),
    Case("unknown-top-key", "domain: x.example\nnaptrs: false #<\n" + CLEAN.replace("domain: x.example\n", ""),
         (Expect("schema-unknown-key", "naptrs"),), fix_contains="did you mean `naptr`"),
    Case("numeric-key", "domain: x.example\n5060: udp #<\n" + CLEAN.replace("domain: x.example\n", ""),
         (Expect("schema-unknown-key", "5060"),)),
    Case("missing-domain", "sip: #<\n  - transport: udp\n    targets: [{host: sip.x.example}]\n",
         (Expect("schema-missing", "domain"),)),
    Case("bad_name", "domain: bad_name.example #<\nsip:\n  - transport: udp\n"
                     "    targets: [{host: sip.bad-name.example}]\n",
         (Expect("name-invalid", "domain"),), name="bad_name.example.yaml"),
    Case("label-64", entry(f"{{host: {LABEL_64}.x.example}} #<"),
         (Expect("name-invalid", "sip[0].targets[0].host"),)),
    Case("name-254", entry(f"{{host: {NAME_254}}} #<"),
         (Expect("name-invalid", "sip[0].targets[0].host"),)),
    Case("empty-label", entry("{host: sip..x.example} #<"),
         (Expect("name-invalid", "sip[0].targets[0].host"),)),
    Case("single-label", entry("{host: sbc1} #<"),
         (Expect("host-single-label", "sip[0].targets[0].host"),)),
    *[Case(f"{fld}={value}", entry(f"{{host: sip.x.example, {fld}: {value}}} #<"),
           (Expect("number-out-of-range", f"sip[0].targets[0].{fld}"),))
      for fld in ("port", "priority", "weight") for value in (-1, 65536, 70000)],
    Case("order=70000", entry("{host: sip.x.example}", extra="    order: 70000 #<\n"),
         (Expect("number-out-of-range", "sip[0].order"),)),
    Case("preference=-1", entry("{host: sip.x.example}", extra="    preference: -1 #<\n"),
         (Expect("number-out-of-range", "sip[0].preference"),)),
    *[Case(f"port={value}", entry(f"{{host: sip.x.example, port: {value}}} #<"),
           (Expect("schema-type", "sip[0].targets[0].port"),))
      for value in ('"5060"', "5060.5", "5060.0", "true")],
    *[Case(f"yaml11-int={value}", entry(f"{{host: sip.x.example, port: {value}}} #<"),
           (Expect("schema-type", "sip[0].targets[0].port"),))
      for value in ("05060", "1:30")],
    Case("ipv4-target", entry("{host: 192.0.2.10} #<"),
         (Expect("srv-target-is-address", "sip[0].targets[0].host"),)),
    Case("ipv4-target-dot", entry("{host: 192.0.2.10.} #<"),
         (Expect("srv-target-is-address", "sip[0].targets[0].host"),)),
    Case("ipv6-target", entry("{host: '[2001:db8::10]'} #<"),
         (Expect("srv-target-is-address", "sip[0].targets[0].host"),)),
    Case("host-outside-zone", CLEAN.replace("hosts:\n", "hosts:\n  sip.example.net: [192.0.2.2] #<\n"),
         (Expect("host-outside-zone", "hosts['sip.example.net']"),)),
    Case("bad-address", CLEAN.replace("[192.0.2.1]", "[192.0.2.1, 2001:db8::zz] #<"),
         (Expect("address-invalid", "hosts['sip.x.example'][1]"),)),
    Case("same-owner-different-targets",
         CLEAN + "  - transport: udp\n    order: 40\n    targets: [{host: sip2.x.example}] #<\n",
         (Expect("srv-owner-conflict", "sip[3].targets"),)),
    Case("sips-over-udp", CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sips._udp #<\n"),
         (Expect("sips-over-udp", "sip[2].srv"),)),
    Case("unknown-transport", CLEAN.replace("- transport: udp\n", "- transport: UDP6 #<\n"),
         (Expect("transport-unknown", "sip[2].transport"),)),
    Case("not-utf8", "domain: x.example\n".encode() + "# r\u00e9seau #<\n".encode("latin-1")
         + CLEAN.replace("domain: x.example\n", "").encode(), (Expect("file-not-utf8"),)),
    Case("utf16", "\ufeff".encode("utf-16-le") + CLEAN.encode("utf-16-le"),
         (Expect("file-not-utf8", line=1),)),
    Case("nul-byte", "domain: x.example\n# \x00 #<\n", (Expect("yaml-syntax"),)),
    Case("50MB-sparse", _sparse(50 * 1024 * 1024), (Expect("file-too-large", line=None),)),
    Case("duplicate-key", "domain: x.example\n" + CLEAN.replace("domain: x.example", "domain: y.example #<"),
         (Expect("yaml-duplicate-key", "domain"),)),
    Case("hosts-same-after-normalising",
         CLEAN.replace("hosts:\n", "hosts:\n  SIP.X.EXAMPLE.: [192.0.2.9] #<\n")
         .replace("  sip.x.example: [192.0.2.1]\n", ""),
         ()),  # a single host, written oddly: fine (see test below for the real duplicate)
    Case("empty-file", "", (Expect("file-empty", line=1),)),
    Case("only-comments", "# to do #<\n", (Expect("file-empty"),)),
    Case("null-document", "~ #<\n", (Expect("file-empty"),)),
    Case("alias-bomb", BOMB, (Expect("file-too-large", "laughs"),)),
    Case("self-alias", "domain: x.example\nloop: &l [*l] #<\n", (Expect("file-too-large", "loop"),)),
    Case("deep-nesting", "domain: x.example\nsip: " + "[" * 3000 + "]" * 3000 + " #<\n",
         (Expect("file-too-large"),)),
    Case("two-documents", CLEAN + "--- #<\n" + CLEAN, (Expect("yaml-syntax"),)),
    Case("dangling-symlink", _dangling, (Expect("file-unreadable", line=None),)),
]


def _write(case: Case, directory: Path) -> Path:
    path = directory / case.name
    if callable(case.content):
        case.content(path)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_load_estate(case: Case, tmp_path: Path):
    path = _write(case, tmp_path)
    loaded = estate.load_estate([path])
    assert len(loaded.files) == 1
    findings = loaded.files[0].findings
    errors = [f for f in findings if f.is_error]
    assert {(f.rule, f.path) for f in errors} == {(e.rule, e.path) for e in case.expect}, \
        [f.to_text() for f in findings]
    for exp in case.expect:
        (finding,) = [f for f in errors if (f.rule, f.path) == (exp.rule, exp.path)]
        assert Path(os.path.abspath(finding.file)) == path
        assert finding.line == case.line(exp)
        assert finding.message and finding.fix
    if case.fix_contains:
        assert any(case.fix_contains in f.fix for f in findings)
    if case.expect:
        assert not loaded.valid()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_cli_validate(case: Case, tmp_path: Path):
    _write(case, tmp_path)
    before = snapshot(tmp_path)
    text = cli("validate", case.name, cwd=tmp_path)
    as_json = cli("validate", "--json", case.name, cwd=tmp_path)
    assert snapshot(tmp_path) == before, "validate changed the directory"
    for run in (text, as_json):
        assert "Traceback" not in run.stdout + run.stderr
        assert "internal error" not in run.stdout + run.stderr
        assert run.returncode == (1 if case.expect else 0), run.stdout + run.stderr
    out = text.stdout + text.stderr
    for exp in case.expect:
        where = case.name
        line = case.line(exp)
        if line:
            where += f":{line}"
        if exp.path:
            where += f" {exp.path}"
        assert f"{where}: error [{exp.rule}]" in out, out
    if case.fix_contains:
        assert case.fix_contains in out
    report = json.loads(as_json.stdout)
    _check_json_shape(report)
    assert report["ok"] is not bool(case.expect)
    assert report["errors"] == len(case.expect)
    (entry_,) = report["files"]
    assert entry_["file"] == case.name
    assert entry_["valid"] is not bool(case.expect)
    got = {(f["rule"], f["path"] or "") for f in entry_["findings"] if f["severity"] == "error"}
    assert got == {(e.rule, e.path) for e in case.expect}


def _check_json_shape(report: dict) -> None:
    """The documented shape: {ok, errors, warnings, files: [{file, domain, valid, findings}]}."""
    assert set(report) == {"ok", "errors", "warnings", "files"}
    assert isinstance(report["ok"], bool)
    assert isinstance(report["errors"], int) and isinstance(report["warnings"], int)
    counted = {"error": 0, "warning": 0}
    for entry_ in report["files"]:
        assert set(entry_) == JSON_FILE_KEYS
        assert isinstance(entry_["file"], str) and isinstance(entry_["valid"], bool)
        assert entry_["domain"] is None or isinstance(entry_["domain"], str)
        for finding in entry_["findings"]:
            assert set(finding) == JSON_FINDING_KEYS
            assert finding["severity"] in counted
            counted[finding["severity"]] += 1
            assert finding["file"] == entry_["file"]
            assert finding["line"] is None or (isinstance(finding["line"], int) and finding["line"] >= 1)
            for key in ("path", "fix", "rfc", "record"):
                assert finding[key] is None or isinstance(finding[key], str)
            assert isinstance(finding["message"], str) and finding["message"]
    assert (counted["error"], counted["warning"]) == (report["errors"], report["warnings"])


# --- specific promises ----------------------------------------------------------------------

def test_254_is_refused_253_is_not(tmp_path: Path):
    for name, bad in ((NAME_253, False), (NAME_254, True)):
        path = tmp_path / "x.example.yaml"
        path.write_text(entry(f"{{host: {name}}}"))
        rules = {f.rule for f in estate.load_estate([path]).errors}
        assert ("name-invalid" in rules) is bad, name


def test_large_file_is_refused_without_reading_it(tmp_path: Path, monkeypatch):
    path = tmp_path / "x.example.yaml"
    _sparse(50 * 1024 * 1024)(path)

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read")
    monkeypatch.setattr(Path, "read_bytes", no_read)
    monkeypatch.setattr(Path, "read_text", no_read)
    started = time.monotonic()
    (finding,) = estate.load_estate([path]).findings
    assert finding.rule == "file-too-large"
    assert time.monotonic() - started < 1.0


def test_cli_refuses_large_file_quickly(tmp_path: Path):
    _sparse(50 * 1024 * 1024)(tmp_path / "x.example.yaml")
    started = time.monotonic()
    run = cli("validate", "x.example.yaml", cwd=tmp_path)
    assert run.returncode == 1 and "file-too-large" in run.stdout
    assert time.monotonic() - started < 10


def test_alias_bomb_is_refused_quickly(tmp_path: Path):
    path = tmp_path / "x.example.yaml"
    path.write_text(BOMB)
    started = time.monotonic()
    assert [f.rule for f in estate.load_estate([path]).findings] == ["file-too-large"]
    assert time.monotonic() - started < 5


def test_python_tag_is_refused_and_never_run(tmp_path: Path):
    proof = tmp_path / "pwned"
    path = tmp_path / "x.example.yaml"
    path.write_text(f"domain: !!python/object/apply:os.system ['touch {proof}'] #<\n"
                    + CLEAN.replace("domain: x.example\n", ""))
    (finding,) = estate.load_estate([path]).findings
    assert finding.is_error and finding.line == 1
    run = cli("validate", path.name, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    assert f"{path.name}:1: error [{finding.rule}]" in run.stdout
    assert not proof.exists()


def test_hosts_that_normalise_to_one_name(tmp_path: Path):
    """`SIP.x.example` and `sip.x.example.` are one host: two keys would silently lose one."""
    text = CLEAN.replace("  sip.x.example: [192.0.2.1]\n",
                         "  SIP.x.example: [192.0.2.1]\n  sip.x.example.: [192.0.2.2] #<\n")
    path = tmp_path / "x.example.yaml"
    path.write_text(text)
    (finding,) = estate.load_estate([path]).findings
    assert (finding.rule, finding.path, finding.line) == (
        "yaml-duplicate-key", "hosts['sip.x.example.']", line_with(text))


def test_idn_is_converted_to_punycode(tmp_path: Path):
    text = ("domain: \u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444\n"
            "hosts:\n  sip.\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444: [192.0.2.1]\n"
            "sip:\n  - transport: tls\n    targets: [{host: SIP.\u041f\u0420\u0418\u041c\u0415\u0420.\u0440\u0444}]\n"
            "  - transport: tcp\n    targets: [{host: sip.\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444}]\n"
            "  - transport: udp\n    targets: [{host: sip.\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444}]\n")
    name = "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444.yaml"
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = estate.load_estate([tmp_path])
    assert result.findings == []
    desc = result.files[0].description
    assert desc.domain == "xn--e1afmkfd.xn--p1ai"
    assert set(desc.hosts) == {"sip.xn--e1afmkfd.xn--p1ai"}
    assert {t.host for e in desc.entries() for t in e.targets} == {"sip.xn--e1afmkfd.xn--p1ai"}
    assert all(r.name.isascii() and r.name == r.name.lower() for r in compile_description(desc))
    run = cli("validate", name, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    run = cli("--zones", ".", "compile", "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert 'xn--e1afmkfd.xn--p1ai. 3600 IN NAPTR 10 50 "s" "SIPS+D2T" "" ' \
           "_sips._tcp.xn--e1afmkfd.xn--p1ai." in run.stdout


def test_trailing_dot_and_upper_case_are_normalised(tmp_path: Path):
    text = CLEAN.replace("domain: x.example", "domain: X.EXAMPLE.") \
                .replace("  sip.x.example: [", "  Sip.X.Example.: [")
    (tmp_path / "x.example.yaml").write_text(text)
    result = estate.load_estate([tmp_path])
    assert result.findings == []
    desc = result.files[0].description
    assert desc.domain == "x.example" and set(desc.hosts) == {"sip.x.example"}
    run = cli("validate", "--strict", "x.example.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    run = cli("--zones", ".", "compile", "X.Example.", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "sip.x.example. 3600 IN A 192.0.2.1" in run.stdout.splitlines()


def test_all_errors_of_a_file_at_once(tmp_path: Path):
    text = ("domain: x.example\nsip:\n"
            "  - transport: udp\n    targets:\n      - {host: sip.x.example, port: 70000} #<a\n"
            "  - transport: quic #<b\n    targets:\n      - {host: sbc1} #<c\n")
    (tmp_path / "x.example.yaml").write_text(text)
    findings = estate.load_estate([tmp_path]).findings
    assert sorted((f.rule, f.path, f.line) for f in findings) == sorted([
        ("number-out-of-range", "sip[0].targets[0].port", line_with(text, "#<a")),
        ("transport-unknown", "sip[1].transport", line_with(text, "#<b")),
        ("host-single-label", "sip[1].targets[0].host", line_with(text, "#<c")),
    ])
    run = cli("validate", "x.example.yaml", cwd=tmp_path)
    assert run.returncode == 1 and "3 error(s)" in run.stdout
    for rule, path, marker in (("number-out-of-range", "sip[0].targets[0].port", "#<a"),
                               ("transport-unknown", "sip[1].transport", "#<b"),
                               ("host-single-label", "sip[1].targets[0].host", "#<c")):
        assert f"x.example.yaml:{line_with(text, marker)} {path}: error [{rule}]" in run.stdout


def test_a_broken_file_does_not_stop_the_others(tmp_path: Path):
    (tmp_path / "x.example.yaml").write_text(CLEAN)
    (tmp_path / "broken.example.yaml").write_text("domain: broken.example\nsip: [\n")
    (tmp_path / "dangling.example.yaml").symlink_to(tmp_path / "gone.yaml")
    result = estate.load_estate([tmp_path])
    by_name = {Path(f.file).name: f for f in result.files}
    assert set(by_name) == {"x.example.yaml", "broken.example.yaml", "dangling.example.yaml"}
    assert [f.rule for f in by_name["broken.example.yaml"].findings] == ["yaml-syntax"]
    assert [f.rule for f in by_name["dangling.example.yaml"].findings] == ["file-unreadable"]
    assert by_name["x.example.yaml"].findings == []
    assert [f.description.domain for f in result.valid()] == ["x.example"]
    assert set(result.zone_records()) == {"x.example"}
    run = cli("validate", ".", cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    assert "broken.example.yaml:" in run.stdout and "dangling.example.yaml:" in run.stdout
    run = cli("--zones", ".", "compile", "x.example", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "_sips._tcp.x.example. 3600 IN SRV 10 50 5061 sip.x.example." in run.stdout


def test_two_files_for_one_domain(tmp_path: Path):
    (tmp_path / "x.example.yaml").write_text(CLEAN)
    (tmp_path / "y.example.yaml").write_text(CLEAN.replace("domain: x.example", "domain: x.example #<"))
    result = estate.load_estate([tmp_path])
    (dup,) = [f for f in result.findings if f.rule == "domain-duplicate"]
    assert (Path(dup.file).name, dup.path, dup.line) == ("y.example.yaml", "domain", 1)
    assert "x.example.yaml" in dup.message
    run = cli("validate", ".", cwd=tmp_path)
    assert run.returncode == 1
    assert "y.example.yaml:1 domain: error [domain-duplicate]" in run.stdout


WARN_ONLY = CLEAN.replace("  - transport: tls\n    targets: [{host: sip.x.example}]\n", "")


def test_exit_codes_for_warnings(tmp_path: Path):
    (tmp_path / "x.example.yaml").write_text(WARN_ONLY)
    run = cli("validate", "x.example.yaml", cwd=tmp_path)
    assert run.returncode == 0 and "x.example.yaml:4 sip: warning [naptr-missing-service]" in run.stdout
    run = cli("validate", "--strict", "x.example.yaml", cwd=tmp_path)
    assert run.returncode == 1
    report = json.loads(cli("validate", "--json", "--strict", "x.example.yaml", cwd=tmp_path).stdout)
    _check_json_shape(report)
    assert (report["ok"], report["errors"], report["warnings"]) == (False, 0, 1)
    assert report["files"][0]["valid"] is True


def test_exit_code_clean_and_strict(tmp_path: Path):
    (tmp_path / "x.example.yaml").write_text(CLEAN)
    for args in ((), ("--strict",)):
        run = cli("validate", *args, "x.example.yaml", cwd=tmp_path)
        assert run.returncode == 0, run.stdout
    report = json.loads(cli("validate", "--json", "x.example.yaml", cwd=tmp_path).stdout)
    _check_json_shape(report)
    assert report == {"ok": True, "errors": 0, "warnings": 0, "files": [
        {"file": "x.example.yaml", "domain": "x.example", "valid": True, "findings": []}]}


def test_json_finding_fields(tmp_path: Path):
    """Every documented field of a finding is filled in where it applies."""
    text = CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sips._udp #<\n")
    (tmp_path / "x.example.yaml").write_text(text)
    report = json.loads(cli("validate", "--json", "x.example.yaml", cwd=tmp_path).stdout)
    _check_json_shape(report)
    (finding,) = [f for f in report["files"][0]["findings"] if f["rule"] == "sips-over-udp"]
    assert finding == {
        "rule": "sips-over-udp", "severity": "error", "file": "x.example.yaml",
        "line": line_with(text), "path": "sip[2].srv", "message": finding["message"],
        "fix": finding["fix"], "rfc": "RFC 5630 §3.1.4",
        "record": 'x.example. 3600 IN NAPTR 30 50 "s" "SIP+D2U" "" _sips._udp.x.example.'}
    assert finding["message"] and finding["fix"]
