"""LiveSource against a real BIND on loopback; resolve() over it equals resolve() over memory."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.query
import pytest

from zonesync.dnssource import LiveSource, MemorySource, parse_nameserver, system_nameservers
from zonesync.records import keys, parse_records
from zonesync.resolve import resolve

from tests.dnsservers import (EXTRA_ZONES, GOLDEN, BindServer, all_records, free_port,
                              golden_records, golden_zones, zone_text)
from tests.test_resolve import examples_table

pytestmark = pytest.mark.bind

BIG_SRV = "".join(f"_sip._udp.big.example. 300 IN SRV 10 {i} 5060 host{i:02d}.big.example.\n"
                  for i in range(60))
CNAMES = """
$ORIGIN cname.example.
@ 300 IN SOA ns hostmaster 1 3600 600 86400 300
@ 300 IN NS ns
ns 300 IN A 127.0.0.1
alias 300 IN CNAME real
real 300 IN A 192.0.2.120
dangling 300 IN CNAME nowhere
_sip._udp 300 IN SRV 10 50 5060 alias
"""


@pytest.fixture(scope="module")
def bind(tmp_path_factory):
    zones = golden_zones()
    zones["big.example"] = zone_text("big.example", parse_records(BIG_SRV))
    zones["cname.example"] = CNAMES
    with BindServer(zones, tmp_path_factory.mktemp("bind")) as server:
        yield server


@pytest.fixture
def live(bind):
    return LiveSource([bind.nameserver], timeout=2.0, retries=1)


def test_ok_returns_the_rrset(live):
    answer = live.query("acme.example.", "NAPTR")
    assert answer.status == "ok" and answer.cname is None
    expected = {r for r in keys(golden_records("acme.example")) if r[2] == "NAPTR"}
    assert keys(answer.records) == expected and len(expected) == 3


def test_nodata_and_nxdomain(live):
    assert live.query("acme.example.", "A").status == "nodata"
    assert live.query("_sips._tcp.acme.example.", "A").status == "nodata"
    assert live.query("_udp.srvonly.example.", "SRV").status == "nodata"  # empty non-terminal
    assert live.query("nope.acme.example.", "A").status == "nxdomain"


def test_out_of_zone_is_refused_and_indeterminate(live):
    answer = live.query("example.org.", "A")
    assert answer.status == "refused" and answer.indeterminate and "REFUSED" in answer.detail


def test_tcp_fallback_on_a_large_answer(bind, live):
    request = dns.message.make_query("_sip._udp.big.example.", "SRV", use_edns=0, payload=1232)
    host, port = parse_nameserver(bind.nameserver)
    assert dns.query.udp(request, host, port=port, timeout=2).flags & dns.flags.TC
    answer = live.query("_sip._udp.big.example.", "SRV")
    assert answer.status == "ok"
    assert keys(answer.records) == keys(parse_records(BIG_SRV))


def test_cname_is_reported_and_followed_in_the_same_answer(live):
    answer = live.query("alias.cname.example.", "A")
    assert (answer.status, answer.cname) == ("ok", "real.cname.example.")
    assert [str(r.value) for r in answer.records] == ["192.0.2.120"]
    dangling = live.query("dangling.cname.example.", "A")
    assert (dangling.cname, dangling.records) == ("nowhere.cname.example.", ())


def test_resolve_reports_a_cname_srv_target_over_live_dns(live):
    res = resolve("sip:cname.example;transport=udp", live)
    assert [(t.host, t.address) for t in res.targets] == [("alias.cname.example", "192.0.2.120")]
    assert any("CNAME" in w for w in res.warnings)


def test_timeout_against_a_silent_port():
    port = free_port()
    start = time.monotonic()
    answer = LiveSource([f"127.0.0.1:{port}"], timeout=0.3, retries=1).query("a.example.", "A")
    elapsed = time.monotonic() - start
    assert answer.status == "timeout" and answer.indeterminate
    assert 0.55 <= elapsed < 5  # two attempts of 0.3 s


def test_a_dead_server_is_skipped(bind):
    dead = f"127.0.0.1:{free_port()}"
    answer = LiveSource([dead, bind.nameserver], timeout=0.3, retries=0).query(
        "sip.mysite.ru.", "A")
    assert answer.status == "ok" and [str(r.value) for r in answer.records] == ["203.0.113.10"]


LIVE_URIS = [uri for uri, _ in examples_table()] + [
    "sip:x@deadend.example", "sip:x@aflag.example", "sips:alex@mysite.ru;transport=tcp",
    "sip:alice@acme.example;transport=tls", "sip:x@sbc1.acme.example:5070",
    "sip:x@nonexistent.acme.example", "sips:bob@srvonly.example"]


@pytest.mark.parametrize("uri", LIVE_URIS)
@pytest.mark.parametrize("profile", ["rfc3263", "srv-only", "sofia"])
def test_resolve_over_live_equals_resolve_over_memory(live, uri, profile):
    memory = MemorySource(all_records())
    over_memory = resolve(uri, memory, profile).to_json()
    over_live = resolve(uri, live, profile).to_json()
    over_memory.pop("steps"), over_live.pop("steps")
    assert over_live == over_memory
    assert over_live["targets"] or over_live["error"]


def test_examples_table_over_live_dns(live):
    for uri, expected in examples_table():
        res = resolve(uri, live)
        got = [(t.transport, t.host, t.port, t.address) for t in res.targets]
        assert (res.error if isinstance(expected, str) else got) == expected, uri


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1", ("127.0.0.1", 53)),
    (" 127.0.0.1:5353 ", ("127.0.0.1", 5353)),
    ("[::1]:5353", ("::1", 5353)),
    ("[::1]", ("::1", 53)),
    ("::1", ("::1", 53)),
    ("2001:DB8::53", ("2001:db8::53", 53)),
])
def test_parse_nameserver(text, expected):
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"), ("ns1.example.com", "not an IP address"), ("127.0.0.1:0", "port"),
    ("127.0.0.1:99999", "port"), ("127.0.0.1:dns", "port"), ("[::1", "expected [IPv6]"),
    ("[::1]5353", "expected [IPv6]"),
])
def test_parse_nameserver_rejects(text, fragment):
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[")):
        parse_nameserver(text)


def test_system_nameservers(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# c\nsearch example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    assert system_nameservers(str(conf)) == ["192.0.2.53", "[2001:db8::53]"]
    assert system_nameservers(str(tmp_path / "missing")) == ["127.0.0.1"]
    assert LiveSource().servers == [parse_nameserver(s) for s in system_nameservers()]


def test_zone_text_rejects_records_outside_the_zone():
    with pytest.raises(ValueError, match="outside the zone"):
        zone_text("acme.example", golden_records("mysite.ru"))
    assert set(EXTRA_ZONES) and GOLDEN.is_dir()


def test_missing_binary_fails_under_ci_and_skips_elsewhere(monkeypatch):
    from tests.dnsservers import require_binary
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y no-such-pkg"):
        require_binary("no-such-binary-zonesync", "no-such-pkg")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="no-such-pkg"):
        require_binary("no-such-binary-zonesync", "no-such-pkg")
