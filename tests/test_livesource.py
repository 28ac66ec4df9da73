"""LiveSource against a real BIND on loopback; resolve() over it equals resolve() over memory."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.query
import pytest

import socket
import threading

import dns.rcode
import dns.rrset

from zonesync import wire
from zonesync.dnssource import (Answer, BatchSource, Expected, LiveSource, MemorySource,
                                parse_nameserver, system_nameservers)
from zonesync.records import Record, keys, parse_records
from zonesync.resolve import resolve
from zonesync.verify import group_rrsets, verify_zone

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
# Names and rdata in capitals: servers send them as written, zonesync compares lower-cased.
CASES = """
$ORIGIN case.example.
@ 300 IN SOA ns hostmaster 1 3600 600 86400 300
@ 300 IN NS ns
ns 300 IN A 127.0.0.1
@ 300 IN NAPTR 10 50 "S" "sip+d2u" "" _SIP._UDP.CASE.EXAMPLE.
_SIP._UDP 300 IN SRV 10 50 5060 SIP.Case.Example.
SIP 300 IN A 192.0.2.130
"""
CASE_RECORDS = parse_records("""
case.example. 300 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.case.example.
_sip._udp.case.example. 300 IN SRV 10 50 5060 sip.case.example.
sip.case.example. 300 IN A 192.0.2.130
""")


@pytest.fixture(scope="module")
def bind(tmp_path_factory):
    zones = golden_zones()
    zones["big.example"] = zone_text("big.example", parse_records(BIG_SRV))
    zones["cname.example"] = CNAMES
    zones["case.example"] = CASES
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


# --- BatchSource: many questions pipelined on one socket, the wire fast path ---------------------

BATCH_QUESTIONS = [
    ("acme.example.", "NAPTR"), ("_sips._tcp.acme.example.", "SRV"),
    ("sbc1.acme.example.", "AAAA"), ("sip.mysite.ru.", "A"),
    ("acme.example.", "A"),                      # NODATA
    ("_udp.srvonly.example.", "SRV"),            # NODATA at an empty non-terminal
    ("nope.acme.example.", "A"),                 # NXDOMAIN
    ("example.org.", "A"),                       # REFUSED: not authoritative
    ("alias.cname.example.", "A"),               # CNAME followed in the answer
    ("dangling.cname.example.", "A"),            # CNAME to nothing
    ("_sip._udp.big.example.", "SRV"),           # truncated over UDP: TCP
]


def shape(answer):
    if isinstance(answer, Expected):
        answer = answer.answer()
    return (answer.status, answer.cname, sorted(r.key() for r in answer.records), answer.detail)


def expectations(records, ttl=None):
    return {key: Expected.of(group, ttl if ttl is not None else group[0].ttl)
            for key, group in group_rrsets(records).items()}


def test_batch_source_answers_as_live_source_does(bind):
    batch = BatchSource(bind.nameserver, timeout=2)
    single = LiveSource([bind.nameserver], timeout=2, retries=0)
    got = batch.query_many(BATCH_QUESTIONS)
    assert list(got) == BATCH_QUESTIONS
    for key in BATCH_QUESTIONS:
        assert shape(got[key]) == shape(single.query(*key)), key
    assert got[("example.org.", "A")].status == "refused"
    assert got[("alias.cname.example.", "A")].cname == "real.cname.example."
    assert len(got[("_sip._udp.big.example.", "SRV")].records) == 60
    assert batch.stats["tcp"] == 1 and batch.stats["timeout"] == 0
    assert batch.stats["fast"] == 3  # NODATA, NODATA, NXDOMAIN; the rest parsed fully
    assert batch.query("NOPE.Acme.Example.", "a").status == "nxdomain"  # any case asks lower


def test_batch_source_fast_path_returns_the_matched_expectation(bind):
    records = golden_records("acme.example") + golden_records("mysite.ru")
    expected = expectations(records)
    batch = BatchSource(bind.nameserver)
    got = batch.query_many(list(expected), expected)
    assert all(got[key] is expected[key] for key in expected)
    assert batch.stats["fast"] == len(expected) and batch.stats["full"] == 0
    assert keys(got[("acme.example.", "NAPTR")].answer().records) == \
        {r.key() for r in records if r.type == "NAPTR" and r.name == "acme.example."}
    # an expectation the server does not meet exactly is never trusted: full parse
    wrong_ttl = expectations(records, ttl=60)
    rdata = {("sip.mysite.ru.", "A"): Expected.of(
        [Record("sip.mysite.ru.", 3600, "A", parse_records(
            "x. 1 IN A 203.0.113.99")[0].value)], 3600)}
    again = batch.query_many(list(expected), {**wrong_ttl, **rdata})
    assert not any(isinstance(a, Expected) for a in again.values())
    for key in expected:
        assert shape(again[key]) == shape(got[key])


def test_batch_source_truncated_answer_is_asked_over_tcp(bind):
    records = parse_records(BIG_SRV)
    expected = expectations(records)
    batch = BatchSource(bind.nameserver)
    answer = batch.query_many(list(expected), expected)[("_sip._udp.big.example.", "SRV")]
    assert batch.stats["tcp"] == 1
    assert answer.status == "ok" and keys(answer.records) == keys(records)


def test_names_in_capitals_are_compared_case_insensitively(bind):
    batch = BatchSource(bind.nameserver)
    expected = expectations(CASE_RECORDS)
    got = batch.query_many(list(expected), expected)
    for key in expected:  # the bytes differ (BIND keeps the zone's capitals): full parse
        assert isinstance(got[key], Answer) and keys(got[key].records) == \
            {r.key() for r in CASE_RECORDS if (r.name, r.type) == key}
    assert batch.stats["full"] == 3
    result = verify_zone("case.example", CASE_RECORDS, [], ["case.example"], [bind.nameserver])
    assert result.ok, result.to_text()
    assert result.checks[0].live == ('10 50 "S" "sip+d2u" "" _sip._udp.case.example.',)


def test_question_echo_is_matched_case_insensitively():
    section = wire.question("sip.case.example.", "A")
    reply = dns.message.make_response(dns.message.make_query("SIP.Case.EXAMPLE.", "A"))
    data = reply.to_wire()
    assert wire.question_matches(data, section)
    other = dns.message.make_response(dns.message.make_query("sip.case.example.", "AAAA"))
    assert not wire.question_matches(other.to_wire(), section)


class NoisyServer:
    """A UDP server that, for each query, first sends a reply with the wrong id, one with the
    right id for another question, a runt datagram, then the answer and a duplicate of it;
    with ``drop_first`` it ignores the first copy of each query (the client must resend); with
    ``silent`` names it never answers those."""

    def __init__(self, drop_first=False, silent=(), rcode=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.drop_first, self.silent, self.rcode = drop_first, set(silent), rcode
        self.seen: set = set()
        self.queries = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    def serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                continue
            self.queries += 1
            query = dns.message.from_wire(data)
            name = query.question[0].name.to_text()
            key = (query.id, name, query.question[0].rdtype)
            if name in self.silent or (self.drop_first and key not in self.seen):
                self.seen.add(key)
                continue
            reply = dns.message.make_response(query)
            reply.flags |= dns.flags.AA
            if self.rcode is not None:
                reply.set_rcode(self.rcode)
            else:
                reply.answer.append(dns.rrset.from_text(name, 300, "IN", "A", "192.0.2.7"))
            wrong_id = dns.message.make_response(query)
            wrong_id.id = (query.id + 1) & 0xFFFF
            wrong_id.answer.append(dns.rrset.from_text(name, 300, "IN", "A", "192.0.2.66"))
            other = dns.message.make_response(dns.message.make_query("other.example.", "A"))
            other.id = query.id
            other.answer.append(dns.rrset.from_text("other.example.", 300, "IN", "A",
                                                    "192.0.2.67"))
            for packet in (wrong_id.to_wire(), other.to_wire(), b"\x00\x01\x02",
                           reply.to_wire(), reply.to_wire()):
                self.sock.sendto(packet, peer)


def test_foreign_ids_other_questions_runts_and_duplicates_are_ignored():
    names = [f"h{i}.noise.example." for i in range(300)]
    expected = {(n, "A"): Expected.of(parse_records(f"{n} 300 IN A 192.0.2.7"), 300)
                for n in names}
    with NoisyServer() as server:
        batch = BatchSource(f"127.0.0.1:{server.port}", timeout=2, window=50)
        got = batch.query_many([(n, "A") for n in names], expected)
    assert all(got[key] is expected[key] for key in expected)
    assert batch.stats["stray"] >= 3 * len(names) and batch.stats["timeout"] == 0


def test_a_lost_query_is_sent_again_and_a_silent_one_times_out():
    names = [f"h{i}.noise.example." for i in range(20)]
    with NoisyServer(drop_first=True, silent={"mute.noise.example."}) as server:
        batch = BatchSource(f"127.0.0.1:{server.port}", timeout=1.0)
        start = time.monotonic()
        got = batch.query_many([(n, "A") for n in names + ["mute.noise.example."]])
        elapsed = time.monotonic() - start
    assert all(got[(n, "A")].status == "ok" for n in names)
    mute = got[("mute.noise.example.", "A")]
    assert mute.status == "timeout" and mute.indeterminate and "in 1s" in mute.detail
    assert batch.stats["resent"] >= len(names) and 0.9 <= elapsed < 3


@pytest.mark.parametrize("rcode, status", [(dns.rcode.SERVFAIL, "servfail"),
                                           (dns.rcode.REFUSED, "refused"),
                                           (dns.rcode.NOTIMP, "servfail")])
def test_error_rcodes_are_indeterminate(rcode, status):
    with NoisyServer(rcode=rcode) as server:
        batch = BatchSource(f"127.0.0.1:{server.port}", timeout=1.0)
        answer = batch.query("x.noise.example.", "A")
    assert answer.status == status and answer.indeterminate


def test_a_silent_server_costs_one_timeout_for_many_questions():
    port = free_port()
    batch = BatchSource(f"127.0.0.1:{port}", timeout=0.3, window=20)
    start = time.monotonic()
    got = batch.query_many([(f"h{i}.silent.example.", "A") for i in range(500)])
    elapsed = time.monotonic() - start
    assert {a.status for a in got.values()} == {"timeout"} and len(got) == 500
    assert elapsed < 1.5  # not 500 / 20 windows of 0.3 s
    soa = batch.zone_query("silent.example.", "SOA")
    assert soa.status == "timeout" and soa.indeterminate
