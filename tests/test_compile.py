"""Compile (SPEC §2): golden files, the defaults of §1, `disabled`, zones shared by descriptions,
and the zone text that BIND's named-checkzone accepts.

Expected records are written out from SPEC (§1's transport table and defaults, C2/C3's record
shapes), never produced by zonesync and copied back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.dnsservers import require_binary
from tests.helpers import ROOT, cli
from zonesync import estate
from zonesync.compile import compile_description, compile_zone, to_zone_text
from zonesync.records import keys, parse_record, parse_records, rrsets

GOLDEN = ROOT / "tests" / "golden"
NAMES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))

RU = "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"     # пример.рф
RU_ACE = "xn--e1afmkfd.xn--p1ai"




def golden(name: str) -> set[tuple]:
    return keys(parse_records((GOLDEN / f"{name}.records").read_text()))


def load_one(directory: Path, name: str, text: str):
    (directory / name).write_text(text, encoding="utf-8")
    result = estate.load_estate([directory])
    assert not result.errors, [f.to_text() for f in result.errors]
    return result


def expected(text: str) -> set[tuple]:
    return keys(parse_records(text))


# --- golden files -----------------------------------------------------------------------------

def test_golden_files_exist():
    assert NAMES == ["acme.example", "mysite.ru", "srvonly.example"]
    for name in NAMES:
        assert (GOLDEN / f"{name}.records").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_golden_compile(name: str):
    result = estate.load_estate([GOLDEN / f"{name}.yaml"])
    assert not result.errors
    (loaded,) = result.files
    assert keys(compile_description(loaded.description)) == golden(name)


@pytest.mark.parametrize("name", NAMES)
def test_golden_cli_zone_format(name: str):
    run = cli("--zones", str(GOLDEN), "compile", name)
    assert run.returncode == 0, run.stderr
    assert keys(parse_records(run.stdout)) == golden(name)
    assert len(run.stdout.splitlines()) == len(golden(name))     # no duplicates, no extras


@pytest.mark.parametrize("name", NAMES)
def test_golden_cli_by_file_path(name: str):
    run = cli("--zones", str(GOLDEN), "compile", str(GOLDEN / f"{name}.yaml"))
    assert run.returncode == 0, run.stderr
    assert keys(parse_records(run.stdout)) == golden(name)


@pytest.mark.parametrize("name", NAMES)
def test_golden_cli_json(name: str):
    run = cli("--zones", str(GOLDEN), "compile", "--format", "json", name)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert isinstance(data, list)
    for item in data:
        assert set(item) == {"name", "ttl", "type", "rdata", "value"}
        assert isinstance(item["ttl"], int) and isinstance(item["value"], dict)
        assert item["name"].endswith(".") and item["type"] in ("NAPTR", "SRV", "A", "AAAA")
    parsed = {parse_record(f"{i['name']} {i['ttl']} IN {i['type']} {i['rdata']}").key() for i in data}
    assert parsed == golden(name)
    for item in data:      # the structured value says the same as the rdata text
        rec = parse_record(f"{item['name']} {item['ttl']} IN {item['type']} {item['rdata']}")
        if item["type"] == "SRV":
            assert item["value"] == {"priority": rec.value.priority, "weight": rec.value.weight,
                                     "port": rec.value.port, "target": rec.value.target}
        elif item["type"] == "NAPTR":
            assert (item["value"]["order"], item["value"]["service"], item["value"]["replacement"]) \
                == (rec.value.order, rec.value.service, rec.value.replacement)
        else:
            assert item["value"] == {"address": rec.value}


def test_mysite_has_the_articles_four_naptr_records():
    """SPEC C6: exactly the four NAPTR records of the source article."""
    naptrs = {k for k in golden("mysite.ru") if k[2] == "NAPTR"}
    assert naptrs == expected(
        'mysite.ru. 3600 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.mysite.ru.\n'
        'mysite.ru. 3600 IN NAPTR 10 51 "s" "SIP+D2U" "" _sip._udp.second.mysite.ru.\n'
        'mysite.ru. 3600 IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.mysite.ru.\n'
        'mysite.ru. 3600 IN NAPTR 20 50 "s" "SIPS+D2T" "" _sips._tcp.mysite.ru.\n')


@pytest.mark.parametrize("name", NAMES)
def test_names_are_lower_case_and_absolute(name: str):
    """C1 and C4 on the output itself: absolute lower-case names, one TTL per RRset."""
    (loaded,) = estate.load_estate([GOLDEN / f"{name}.yaml"]).files
    records = compile_description(loaded.description)
    for rec in records:
        assert rec.name.endswith(".") and rec.name == rec.name.lower()
        target = getattr(rec.value, "target", None) or getattr(rec.value, "replacement", None)
        if target is not None:
            assert target.endswith(".") and target == target.lower()
    for group in rrsets(records).values():
        assert len({r.ttl for r in group}) == 1


# --- errors ------------------------------------------------------------------------------------

def test_compile_refuses_a_description_with_errors(tmp_path: Path):
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "x.example.yaml").write_text(
        "domain: x.example\nsip:\n  - transport: udp\n    srv: _sips._udp\n"
        "    targets: [{host: sip.x.example, port: 70000}]\n")
    for fmt in ("zone", "json"):
        run = cli("--zones", str(zones), "compile", "--format", fmt, "x.example", cwd=tmp_path)
        assert run.returncode == 1
        assert run.stdout == ""
        assert "Traceback" not in run.stderr
        assert "x.example.yaml:5 sip[0].targets[0].port: error [number-out-of-range]" in run.stderr
    (zones / "x.example.yaml").write_text(
        "domain: x.example\nsip:\n  - transport: udp\n    srv: _sips._udp\n"
        "    targets: [{host: sip.x.example}]\n")
    run = cli("--zones", str(zones), "compile", "x.example", cwd=tmp_path)
    assert run.returncode == 1 and run.stdout == ""
    assert "x.example.yaml:4 sip[0].srv: error [sips-over-udp]" in run.stderr


def test_compile_of_an_unknown_domain(tmp_path: Path):
    (tmp_path / "zones").mkdir()
    run = cli("--zones", "zones", "compile", "nowhere.example", cwd=tmp_path)
    assert run.returncode != 0 and "nowhere.example" in run.stderr
    assert "Traceback" not in run.stderr


# --- defaults (SPEC §1) ----------------------------------------------------------------------

ALL_TRANSPORTS = """\
domain: d.example
hosts:
  sip.d.example: [192.0.2.1, "2001:db8::1"]
sip:
  - {transport: udp, targets: [{host: sip.d.example}]}
  - {transport: tcp, targets: [{host: sip.d.example}]}
  - {transport: sctp, targets: [{host: sip.d.example}]}
  - {transport: tls, targets: [{host: sip.d.example}]}
  - {transport: tls-sctp, targets: [{host: sip.d.example}]}
  - {transport: ws, targets: [{host: sip.d.example}]}
  - {transport: wss, targets: [{host: sip.d.example}]}
"""

# SPEC §1: order 10 x position, preference 50, the transport table's service and owner, port
# by transport (udp/tcp/sctp 5060, tls/tls-sctp 5061, ws 80, wss 443), priority 10, weight 50,
# ttl 3600.
ALL_TRANSPORTS_RECORDS = """\
d.example. 3600 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.d.example.
d.example. 3600 IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.d.example.
d.example. 3600 IN NAPTR 30 50 "s" "SIP+D2S" "" _sip._sctp.d.example.
d.example. 3600 IN NAPTR 40 50 "s" "SIPS+D2T" "" _sips._tcp.d.example.
d.example. 3600 IN NAPTR 50 50 "s" "SIPS+D2S" "" _sips._sctp.d.example.
d.example. 3600 IN NAPTR 60 50 "s" "SIP+D2W" "" _sip._ws.d.example.
d.example. 3600 IN NAPTR 70 50 "s" "SIPS+D2W" "" _sips._ws.d.example.
_sip._udp.d.example. 3600 IN SRV 10 50 5060 sip.d.example.
_sip._tcp.d.example. 3600 IN SRV 10 50 5060 sip.d.example.
_sip._sctp.d.example. 3600 IN SRV 10 50 5060 sip.d.example.
_sips._tcp.d.example. 3600 IN SRV 10 50 5061 sip.d.example.
_sips._sctp.d.example. 3600 IN SRV 10 50 5061 sip.d.example.
_sip._ws.d.example. 3600 IN SRV 10 50 80 sip.d.example.
_sips._ws.d.example. 3600 IN SRV 10 50 443 sip.d.example.
sip.d.example. 3600 IN A 192.0.2.1
sip.d.example. 3600 IN AAAA 2001:db8::1
"""


def test_defaults(tmp_path: Path):
    result = load_one(tmp_path, "d.example.yaml", ALL_TRANSPORTS)
    desc = result.files[0].description
    assert keys(compile_description(desc)) == expected(ALL_TRANSPORTS_RECORDS)


def test_explicit_values_override_defaults(tmp_path: Path):
    result = load_one(tmp_path, "d.example.yaml", """\
domain: d.example
ttl: 120
sip:
  - transport: tcp
    order: 7
    preference: 3
    srv: _sip._tcp.alt
    targets: [{host: sip.d.example, port: 5080, priority: 1, weight: 0}]
""")
    assert keys(compile_description(result.files[0].description)) == expected("""\
d.example. 120 IN NAPTR 7 3 "s" "SIP+D2T" "" _sip._tcp.alt.d.example.
_sip._tcp.alt.d.example. 120 IN SRV 1 0 5080 sip.d.example.
""")


def test_naptr_false_publishes_srv_only(tmp_path: Path):
    result = load_one(tmp_path, "d.example.yaml", "naptr: false\n" + ALL_TRANSPORTS)
    got = keys(compile_description(result.files[0].description))
    assert got == {k for k in expected(ALL_TRANSPORTS_RECORDS) if k[2] != "NAPTR"}


def test_disabled_transport(tmp_path: Path):
    result = load_one(tmp_path, "d.example.yaml", """\
domain: d.example
ttl: 600
hosts:
  sip.d.example: [192.0.2.1]
sip:
  - {transport: tls, targets: [{host: sip.d.example}]}
  - {transport: udp, targets: [{host: sip.d.example}]}
disabled: [tcp]
""")
    assert keys(compile_description(result.files[0].description)) == expected("""\
d.example. 600 IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.d.example.
d.example. 600 IN NAPTR 20 50 "s" "SIP+D2U" "" _sip._udp.d.example.
_sips._tcp.d.example. 600 IN SRV 10 50 5061 sip.d.example.
_sip._udp.d.example. 600 IN SRV 10 50 5060 sip.d.example.
_sip._tcp.d.example. 600 IN SRV 0 0 0 .
sip.d.example. 600 IN A 192.0.2.1
""")


def test_only_disabled(tmp_path: Path):
    result = load_one(tmp_path, "d.example.yaml", "domain: d.example\ndisabled: [tcp, tls, tcp]\n")
    assert keys(compile_description(result.files[0].description)) == expected("""\
_sip._tcp.d.example. 3600 IN SRV 0 0 0 .
_sips._tcp.d.example. 3600 IN SRV 0 0 0 .
""")


# --- zones shared by descriptions (SPEC O1) ---------------------------------------------------

VOICE = """\
domain: voice.corp.example
zone: corp.example
hosts:
  sbc.corp.example: [192.0.2.20]
sip:
  - {transport: tls, targets: [{host: sbc.corp.example}]}
  - {transport: tcp, targets: [{host: sbc.corp.example}]}
  - {transport: udp, targets: [{host: sbc.corp.example}]}
"""
FAX = """\
domain: fax.corp.example
zone: corp.example
hosts:
  sbc.corp.example: [192.0.2.20]
  fax.corp.example: [192.0.2.30]
sip:
  - {transport: tls, targets: [{host: fax.corp.example}]}
  - {transport: tcp, targets: [{host: fax.corp.example}]}
  - {transport: udp, targets: [{host: fax.corp.example}]}
"""
CORP_RECORDS = """\
voice.corp.example. 3600 IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.voice.corp.example.
voice.corp.example. 3600 IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.voice.corp.example.
voice.corp.example. 3600 IN NAPTR 30 50 "s" "SIP+D2U" "" _sip._udp.voice.corp.example.
_sips._tcp.voice.corp.example. 3600 IN SRV 10 50 5061 sbc.corp.example.
_sip._tcp.voice.corp.example. 3600 IN SRV 10 50 5060 sbc.corp.example.
_sip._udp.voice.corp.example. 3600 IN SRV 10 50 5060 sbc.corp.example.
fax.corp.example. 3600 IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.fax.corp.example.
fax.corp.example. 3600 IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.fax.corp.example.
fax.corp.example. 3600 IN NAPTR 30 50 "s" "SIP+D2U" "" _sip._udp.fax.corp.example.
_sips._tcp.fax.corp.example. 3600 IN SRV 10 50 5061 fax.corp.example.
_sip._tcp.fax.corp.example. 3600 IN SRV 10 50 5060 fax.corp.example.
_sip._udp.fax.corp.example. 3600 IN SRV 10 50 5060 fax.corp.example.
sbc.corp.example. 3600 IN A 192.0.2.20
fax.corp.example. 3600 IN A 192.0.2.30
"""


def test_two_descriptions_one_zone(tmp_path: Path):
    (tmp_path / "voice.corp.example.yaml").write_text(VOICE)
    (tmp_path / "fax.corp.example.yaml").write_text(FAX)
    result = estate.load_estate([tmp_path])
    assert result.findings == []
    zones = result.zone_records()
    assert set(zones) == {"corp.example"}
    assert keys(zones["corp.example"]) == expected(CORP_RECORDS)
    assert keys(compile_zone(result.descriptions())) == expected(CORP_RECORDS)
    run = cli("--zones", ".", "compile", "voice.corp.example", "fax.corp.example", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert keys(parse_records(run.stdout)) == expected(CORP_RECORDS)


def test_descriptions_in_different_zones_stay_apart(tmp_path: Path):
    (tmp_path / "voice.corp.example.yaml").write_text(VOICE.replace("zone: corp.example\n", "")
                                                      .replace("sbc.corp.example", "sbc.voice.corp.example"))
    (tmp_path / "fax.corp.example.yaml").write_text(FAX)
    result = estate.load_estate([tmp_path])
    assert result.findings == []
    assert set(result.zone_records()) == {"corp.example", "voice.corp.example"}
    assert not any(r.name.endswith("voice.corp.example.") for r in result.zone_records()["corp.example"])


def test_a_description_with_errors_contributes_nothing_to_its_zone(tmp_path: Path):
    (tmp_path / "voice.corp.example.yaml").write_text(VOICE)
    (tmp_path / "fax.corp.example.yaml").write_text(FAX.replace("transport: udp", "transport: quic"))
    result = estate.load_estate([tmp_path])
    assert {k for k in expected(CORP_RECORDS) if k[0].startswith(("voice", "_sip", "sbc"))
            and "fax" not in k[0]} == keys(result.zone_records()["corp.example"])


# --- named-checkzone ---------------------------------------------------------------------------

@pytest.fixture
def checkzone():
    """named-checkzone's path. Called in the test body (not at setup) so that in CI a missing
    tool is a test FAILURE, not a setup error or a skip."""
    return need_checkzone


def need_checkzone() -> str:
    return require_binary("named-checkzone", "bind9-utils")


def check_zone(find_tool, tmp_path: Path, zone: str, records_text: str) -> str:
    """records + an SOA and NS (with the server's address) → named-checkzone's verdict."""
    tool = find_tool()
    head = (f"{zone}. 3600 IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 3600\n"
            f"{zone}. 3600 IN NS ns1.{zone}.\n"
            f"ns1.{zone}. 3600 IN A 192.0.2.53\n")
    path = tmp_path / f"{zone}.zone"
    path.write_text(head + records_text)
    run = subprocess.run([tool, "-i", "full", zone, str(path)], capture_output=True, text=True,
                         timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "OK" in output.split()
    return output


@pytest.mark.parametrize("name", NAMES)
def test_named_checkzone_accepts_golden(name: str, checkzone, tmp_path: Path):
    run = cli("--zones", str(GOLDEN), "compile", name)
    assert run.returncode == 0, run.stderr
    output = check_zone(checkzone, tmp_path, name, run.stdout)
    assert "has no address records" not in output       # every in-zone target has hosts


def test_named_checkzone_idn_and_disabled(checkzone, tmp_path: Path):
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / f"{RU}.yaml").write_text(f"""\
domain: {RU.upper()}.
ttl: 300
hosts:
  sip.{RU}: [192.0.2.1, "2001:db8::1"]
  \u0437\u0430\u043f\u0430\u0441.{RU}: [192.0.2.2]
sip:
  - transport: tls
    targets: [{{host: sip.{RU}, weight: 60}}, {{host: \u0437\u0430\u043f\u0430\u0441.{RU}, weight: 40}}]
  - transport: tcp
    targets: [{{host: sip.{RU}}}]
  - transport: udp
    targets: [{{host: sip.{RU}}}]
disabled: [sctp, tls-sctp]
""", encoding="utf-8")
    run = cli("--zones", str(zones), "compile", RU, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.isascii()
    ace_backup = "\u0437\u0430\u043f\u0430\u0441".encode("idna").decode()  # stdlib IDNA 2003
    assert keys(parse_records(run.stdout)) == expected(f"""\
{RU_ACE}. 300 IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.{RU_ACE}.
{RU_ACE}. 300 IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.{RU_ACE}.
{RU_ACE}. 300 IN NAPTR 30 50 "s" "SIP+D2U" "" _sip._udp.{RU_ACE}.
_sips._tcp.{RU_ACE}. 300 IN SRV 10 60 5061 sip.{RU_ACE}.
_sips._tcp.{RU_ACE}. 300 IN SRV 10 40 5061 {ace_backup}.{RU_ACE}.
_sip._tcp.{RU_ACE}. 300 IN SRV 10 50 5060 sip.{RU_ACE}.
_sip._udp.{RU_ACE}. 300 IN SRV 10 50 5060 sip.{RU_ACE}.
_sip._sctp.{RU_ACE}. 300 IN SRV 0 0 0 .
_sips._sctp.{RU_ACE}. 300 IN SRV 0 0 0 .
sip.{RU_ACE}. 300 IN A 192.0.2.1
sip.{RU_ACE}. 300 IN AAAA 2001:db8::1
{ace_backup}.{RU_ACE}. 300 IN A 192.0.2.2
""")
    output = check_zone(checkzone, tmp_path, RU_ACE, run.stdout)
    assert "has no address records" not in output


def test_named_checkzone_shared_zone(checkzone, tmp_path: Path):
    (tmp_path / "voice.corp.example.yaml").write_text(VOICE)
    (tmp_path / "fax.corp.example.yaml").write_text(FAX)
    records = estate.load_estate([tmp_path]).zone_records()["corp.example"]
    check_zone(checkzone, tmp_path, "corp.example", to_zone_text(records))


def test_named_checkzone_really_checks(checkzone, tmp_path: Path):
    """The harness itself can fail: a CNAME beside other data is refused."""
    with pytest.raises(AssertionError):
        check_zone(checkzone, tmp_path, "x.example",
                   "x.example. 3600 IN CNAME y.example.\n")


def test_compile_refuses_when_a_neighbour_in_the_zone_has_errors(tmp_path: Path):
    """A cross-file error (one host, two addresses) lands on one file, but it makes the whole
    zone's records unsure: compiling either description is refused, naming the conflict."""
    (tmp_path / "voice.corp.example.yaml").write_text(VOICE)
    (tmp_path / "fax.corp.example.yaml").write_text(FAX.replace("sbc.corp.example: [192.0.2.20]",
                                                                "sbc.corp.example: [192.0.2.99]"))
    for domain in ("voice.corp.example", "fax.corp.example"):
        run = cli("--zones", ".", "compile", domain, cwd=tmp_path)
        assert run.returncode == 1 and run.stdout == "", (domain, run.stdout)
        assert "[host-conflict]" in run.stderr and "Traceback" not in run.stderr
