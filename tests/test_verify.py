"""Verification after apply (SPEC §5): the state logic over fake sources, then real BIND servers."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import dns.query
import dns.rcode
import dns.update
import pytest

import sqlite3

from zonesync.dnssource import (Answer, BatchSource, LiveSource, MemorySource, OverlaySource,
                                ZoneAnswer)
from zonesync.records import Record, parse_records
from zonesync.resolve import resolve
from zonesync.verify import (UNDELEGATED_WARNING, ZoneSpec, check_rrset, delegation_check,
                             group_rrsets, highest_serial, mark_pending, serial_lt,
                             verify_zone, verify_zones)

from tests.dnsservers import (GOLDEN_ZONES, BindServer, PowerDnsServer, free_port,
                              golden_records, zone_text)

ZONE = "z.example."
RECORDS = parse_records("""
z.example. 3600 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.z.example.
_sip._udp.z.example. 3600 IN SRV 10 50 5060 sip.z.example.
sip.z.example. 3600 IN A 192.0.2.1
""")
NAPTR, SRV, A = RECORDS
SRV_KEY = ("_sip._udp.z.example.", "SRV")


def rec(line: str) -> Record:
    return parse_records(line)[0]


class FakeServer:
    """An authoritative server in memory: records, a SOA serial, scripted failures. ``script``
    (a list of (serial, records)) changes the zone at each SOA query, i.e. at each attempt."""

    def __init__(self, records=RECORDS, serial=1, fail=None, soa=None, ns=("ns.z.example.",),
                 script=None, delay=0.0):
        self.records, self.serial = list(records), serial
        self.fail = dict(fail or {})
        self.soa, self.ns, self.script, self.delay = soa, tuple(ns), list(script or []), delay
        self.calls: Counter = Counter()
        self.per_attempt: list[Counter] = [Counter()]
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0

    def query(self, name, rtype):
        with self.lock:
            self.calls[(name, rtype)] += 1
            self.per_attempt[-1][(name, rtype)] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            if (name, rtype) in self.fail:
                return Answer(self.fail[(name, rtype)], detail="fake failure")
            return MemorySource(self.records).query(name, rtype)
        finally:
            with self.lock:
                self.in_flight -= 1

    def zone_query(self, zone, rtype):
        self.calls[(zone, "zone " + rtype)] += 1
        if rtype == "SOA":
            self.per_attempt.append(Counter())
            if self.script:
                self.serial, self.records = self.script.pop(0)
        if self.soa is not None:
            return ZoneAnswer(self.soa, detail="fake SOA failure")
        if rtype == "SOA":
            return ZoneAnswer("ok", serial=self.serial, authoritative=True)
        return ZoneAnswer("ok", ns=self.ns, authoritative=True)


class FakeClock:
    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def run(servers: dict[str, FakeServer], desired=RECORDS, absent=(), domains=("z.example",),
        **kwargs):
    clock = FakeClock()
    result = verify_zone(ZONE, desired, absent, domains, list(servers),
                         source_factory=servers.__getitem__, sleep=clock.sleep, clock=clock,
                         **kwargs)
    return result, clock


def states(result, server=None) -> dict[tuple[str, str], str]:
    return {(c.name, c.type): c.state for c in result.checks
            if server is None or c.server == server}


def replaced(old: Record, new_line: str) -> list[Record]:
    return [r for r in RECORDS if r != old] + [rec(new_line)]


# --- one RRset ------------------------------------------------------------------------------

def test_all_ok_one_attempt_routes_agree():
    result, clock = run({"a": FakeServer()})
    assert result.ok and not result.drifted and result.attempts == 1 and clock.sleeps == []
    assert set(states(result).values()) == {"ok"} and len(result.checks) == 3
    assert [r.uri for r in result.routes] == ["sip:z.example", "sips:z.example"]
    sip = result.routes[0]
    assert sip.agree and [(t.transport, t.host, t.port, t.address) for t in sip.live.targets] \
        == [("udp", "sip.z.example", 5060, "192.0.2.1")]
    assert result.serials == {"a": 1}


def test_missing():
    result, _ = run({"a": FakeServer([NAPTR, A])})
    assert states(result)[SRV_KEY] == "missing" and not result.ok
    check = result.drifted[0]
    assert (check.expected, check.live) == (("10 50 5060 sip.z.example.",), ())
    assert (check.expected_ttl, check.live_ttl) == (3600, None)
    assert "NXDOMAIN" in check.detail
    assert not result.routes[0].agree  # NAPTR dead end live, the SRV in the compiled view


def test_different_rdata():
    live = replaced(SRV, "_sip._udp.z.example. 3600 IN SRV 10 50 5070 sip.z.example.")
    result, _ = run({"a": FakeServer(live)})
    check = next(c for c in result.checks if (c.name, c.type) == SRV_KEY)
    assert check.state == "different"
    assert check.live == ("10 50 5070 sip.z.example.",)
    assert "not served: 10 50 5060" in check.detail and "not expected: 10 50 5070" in check.detail
    assert [c.state for c in result.drifted] == ["different"]


def test_different_ttl_only():
    live = replaced(SRV, "_sip._udp.z.example. 300 IN SRV 10 50 5060 sip.z.example.")
    check = next(c for c in run({"a": FakeServer(live)})[0].checks if c.type == "SRV")
    assert (check.state, check.expected_ttl, check.live_ttl) == ("different", 3600, 300)
    assert "TTL 300 served, 3600 expected" in check.detail


def test_ttl_rounding_applies_to_the_expected_ttl():
    desired = [Record(r.name, 60, r.type, r.value) for r in RECORDS]  # provider minimum: 300
    live = [Record(r.name, 300, r.type, r.value) for r in RECORDS]
    without, _ = run({"a": FakeServer(live)}, desired=desired)
    assert set(states(without).values()) == {"different"}
    rounded, _ = run({"a": FakeServer(live)}, desired=desired,
                     ttl_rounding=lambda ttl: max(ttl, 300))
    assert rounded.ok and {c.expected_ttl for c in rounded.checks} == {300}


def test_naptr_flags_compare_case_insensitively():
    live = replaced(NAPTR, 'z.example. 3600 IN NAPTR 10 50 "S" "sip+d2u" "" _sip._udp.z.example.')
    assert run({"a": FakeServer(live)})[0].ok


def test_extra_and_absent_ok():
    gone = rec("_sip._tcp.z.example. 3600 IN SRV 10 50 5060 sip.z.example.")
    absent = [("_sip._tcp.z.example.", "SRV"), ("_sips._tcp.z.example.", "SRV")]
    result, _ = run({"a": FakeServer(RECORDS + [gone])}, absent=absent)
    got = states(result)
    assert got[("_sip._tcp.z.example.", "SRV")] == "extra"
    assert got[("_sips._tcp.z.example.", "SRV")] == "ok"
    extra = result.drifted[0]
    assert extra.expected == () and extra.live == ("10 50 5060 sip.z.example.",)
    clean, _ = run({"a": FakeServer()}, absent=absent)
    assert clean.ok


def test_a_cname_at_an_owned_name_is_different():
    answer = Answer("ok", (), cname="elsewhere.example.")
    check = check_rrset("s", *SRV_KEY, [SRV], answer)
    assert check.state == "different" and "CNAME" in check.detail


@pytest.mark.parametrize("status", ["servfail", "timeout", "refused"])
def test_failures_are_indeterminate_never_missing(status):
    result, _ = run({"a": FakeServer(fail={SRV_KEY: status})})
    assert states(result)[SRV_KEY] == "indeterminate" and not result.drifted and not result.ok
    assert "indeterminate, not absent" in result.checks[1].detail
    assert check_rrset("s", *SRV_KEY, None, Answer(status)).state == "indeterminate"


def test_a_server_not_answering_the_soa_is_indeterminate_without_asking_each_rrset():
    dead = FakeServer(soa="timeout")
    result, _ = run({"good": FakeServer(), "dead": dead})
    assert set(states(result, "good").values()) == {"ok"}
    assert set(states(result, "dead").values()) == {"indeterminate"}
    assert not result.drifted
    assert [k for k in dead.calls if not k[1].startswith("zone")] == []
    assert [r.agree for r in result.routes if r.server == "dead"] == [False, False]
    assert "did not answer the SOA" in result.routes[-1].live.error
    assert any("dead: the SOA query" in w for w in result.warnings)


# --- pending (SPEC V1) ----------------------------------------------------------------------

def test_serial_arithmetic():
    assert serial_lt(1, 2) and not serial_lt(2, 1) and not serial_lt(2, 2)
    assert serial_lt(2**32 - 1, 0) and not serial_lt(0, 2**32 - 1)  # RFC 1982 wrap
    assert highest_serial([3, None, 7, 5]) == 7 and highest_serial([None]) is None
    assert highest_serial([2**32 - 2, 1]) == 1


def test_a_server_behind_the_highest_serial_is_pending_not_drift():
    behind = FakeServer([NAPTR, A], serial=4)
    result, _ = run({"new": FakeServer(serial=5), "old": behind})
    assert states(result, "old")[SRV_KEY] == "pending"
    assert states(result, "old")[("z.example.", "NAPTR")] == "ok"
    assert not result.drifted and not result.ok and len(result.pending) == 1
    assert "missing while serial 4 is behind 5" in result.pending[0].detail
    assert any("old: SOA serial 4 is behind 5" in w for w in result.warnings)
    old_sip = next(r for r in result.routes if (r.server, r.uri) == ("old", "sip:z.example"))
    assert not old_sip.agree and "server pending: serial 4 behind 5" in old_sip.detail
    same, _ = run({"new": FakeServer(serial=5), "old": FakeServer([NAPTR, A], serial=5)})
    assert states(same, "old")[SRV_KEY] == "missing"  # same serial: real drift


def test_expected_serial_decides_pending():
    result, _ = run({"a": FakeServer([NAPTR, A], serial=7)}, expected_serial=8)
    assert states(result)[SRV_KEY] == "pending"
    caught_up, _ = run({"a": FakeServer([NAPTR, A], serial=8)}, expected_serial=8)
    assert states(caught_up)[SRV_KEY] == "missing"
    ahead, _ = run({"a": FakeServer(serial=9)}, expected_serial=8)
    assert ahead.ok and any("ahead of the expected 8" in w for w in ahead.warnings)


def test_mark_pending_leaves_ok_and_indeterminate_alone():
    ok = check_rrset("s", *SRV_KEY, [SRV], Answer("ok", (SRV,)))
    failed = check_rrset("s", *SRV_KEY, [SRV], Answer("servfail"))
    assert mark_pending(ok, 1, 2).state == "ok"
    assert mark_pending(failed, 1, 2).state == "indeterminate"
    missing = check_rrset("s", *SRV_KEY, [SRV], Answer("nxdomain"))
    assert mark_pending(missing, 1, 2).state == "pending"
    assert mark_pending(missing, None, 2).state == "missing"


def test_a_source_without_soa_support_is_compared_and_warned_about():
    result = verify_zone(ZONE, RECORDS, (), (), ["m"],
                         source_factory=lambda s: MemorySource([NAPTR, A]))
    assert states(result)[SRV_KEY] == "missing" and result.serials == {"m": None}
    assert any("cannot ask the SOA serial" in w for w in result.warnings)


# --- retries ----------------------------------------------------------------------------------

def test_retries_until_ok_rechecking_only_what_was_not_ok():
    server = FakeServer(script=[(1, [NAPTR, A]), (1, [NAPTR, A]), (2, RECORDS)])
    result, clock = run({"a": server}, domains=(), wait=30, expected_serial=2)
    assert result.ok and result.attempts == 3
    assert clock.sleeps == [0.1, 0.2]
    assert result.elapsed == pytest.approx(0.3)
    assert server.calls[SRV_KEY] == 3
    assert server.calls[("z.example.", "NAPTR")] == 1  # ok at once: never asked again
    assert server.calls[("sip.z.example.", "A")] == 1


def test_gives_up_when_the_budget_is_spent_with_capped_back_off():
    result, clock = run({"a": FakeServer([NAPTR, A])}, domains=(), wait=10)
    assert not result.ok and states(result)[SRV_KEY] == "missing"
    assert clock.sleeps[:7] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert max(clock.sleeps) == 2.0 and sum(clock.sleeps) == pytest.approx(10)
    assert result.attempts == len(clock.sleeps) + 1


def test_wait_zero_is_one_attempt():
    result, clock = run({"a": FakeServer([NAPTR, A])}, wait=0)
    assert result.attempts == 1 and clock.sleeps == [] and not result.ok


def test_each_rrset_asked_once_per_server_per_attempt_concurrently():
    server = FakeServer(delay=0.02, script=[(1, [NAPTR, A]), (1, [NAPTR, A])])
    result, _ = run({"a": server}, wait=0.1, absent=[("_sip._tcp.z.example.", "SRV")])
    assert result.attempts == 2
    for attempt in server.per_attempt:
        assert all(n == 1 for n in attempt.values()), attempt
    assert server.per_attempt[1][("z.example.", "NAPTR")] == 1  # routes asked, checks shared
    assert server.max_in_flight >= 2


# --- routes and the overlay (SPEC V2, V3) -------------------------------------------------------

def test_overlay_source_semantics():
    live = MemorySource(parse_records("""
z.example. 3600 IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.z.example.
_sip._tcp.z.example. 3600 IN SRV 10 50 5060 sip.z.example.
sip.z.example. 3600 IN A 192.0.2.99
sip.z.example. 3600 IN AAAA 2001:db8::99
pbx.z.example. 3600 IN A 192.0.2.7
old.z.example. 3600 IN A 192.0.2.8
"""))
    absent = [("_sip._tcp.z.example.", "SRV"), ("old.z.example.", "A"),
              ("gone.z.example.", "A"), ("z.example.", "TXT")]
    overlay = OverlaySource([NAPTR, SRV, A], absent, live)
    assert overlay.query("z.example.", "NAPTR").records == (NAPTR,)       # desired wins
    assert overlay.query("sip.z.example.", "A").records == (A,)
    assert overlay.query("sip.z.example.", "AAAA").records[0].value == "2001:db8::99"  # live
    assert overlay.query("pbx.z.example.", "A").records[0].value == "192.0.2.7"  # customer's
    assert overlay.query("_sip._tcp.z.example.", "SRV").status == "nodata"  # deleted, live
    assert overlay.query("old.z.example.", "A").status == "nodata"   # name still exists live
    assert overlay.query("gone.z.example.", "A").status == "nxdomain"
    assert overlay.query("z.example.", "TXT").status == "nodata"
    assert overlay.query("_udp.z.example.", "SRV").status == "nodata"  # ENT of a desired name
    assert overlay.query("nope.z.example.", "A").status == "nxdomain"
    failing = OverlaySource([SRV], (), FakeServer(fail={("x.z.example.", "A"): "servfail"}))
    assert failing.query("x.z.example.", "A").status == "servfail"


def test_customer_owned_target_address_does_not_make_routes_disagree():
    customer_a = rec("sip.z.example. 3600 IN A 192.0.2.1")
    result, _ = run({"a": FakeServer()}, desired=[NAPTR, SRV])  # zonesync does not own the A
    assert result.ok and result.routes[0].live.targets[0].address == "192.0.2.1"
    compiled_alone = resolve("sip:z.example", MemorySource([NAPTR, SRV]))
    assert compiled_alone.error  # without the fallthrough the plans would differ
    assert customer_a in RECORDS


def test_route_disagreement_names_the_first_difference():
    live = replaced(A, "sip.z.example. 3600 IN A 192.0.2.2")
    result, _ = run({"a": FakeServer(live)})
    route = result.routes[0]
    assert not route.agree and "row 1: live udp sip.z.example 5060 192.0.2.2" in route.detail


# --- delegation (SPEC V4) ---------------------------------------------------------------------

def test_delegation_not_checked_without_parent_servers():
    result, _ = run({"a": FakeServer()})
    assert result.delegation.state == "not-checked"
    assert UNDELEGATED_WARNING in result.warnings
    assert result.ok  # a warning, not a failure


def test_delegation_states():
    ns = ("ns1.z.example.", "ns2.z.example.")
    ok = ZoneAnswer("ok", ns=ns)
    assert delegation_check(ZONE, {"p": ok}, ns).state == "ok"
    assert delegation_check(ZONE, {"p": ok}, ["NS1.z.example", "ns2.z.example."]).state == "ok"
    wrong = delegation_check(ZONE, {"p": ok}, ["ns1.z.example."])
    assert wrong.state == "mismatch" and "not expected ns2.z.example." in wrong.detail
    assert delegation_check(ZONE, {"p": ZoneAnswer("nxdomain")}, ns).state == "not-delegated"
    assert delegation_check(ZONE, {"p": ZoneAnswer("nodata")}, ns).state == "not-delegated"
    assert delegation_check(ZONE, {"p": ZoneAnswer("timeout")}, ns).state == "indeterminate"
    split = delegation_check(ZONE, {"p": ok, "q": ZoneAnswer("nxdomain")}, ns)
    assert split.state == "mismatch" and "q does not delegate" in split.detail
    half = delegation_check(ZONE, {"p": ok, "q": ZoneAnswer("timeout")}, ns)
    assert half.state == "ok" and "unanswered" in half.detail


def test_delegation_through_verify_zone_with_fake_parents():
    servers = {"a": FakeServer(ns=("ns.z.example.",)),
               "parent": FakeServer(ns=("ns.z.example.",)),
               "other": FakeServer(ns=("ns.elsewhere.example.",))}
    clock = FakeClock()

    def verify(parents, expected_ns=()):
        return verify_zone(ZONE, RECORDS, (), (), ["a"], parent_servers=parents,
                           expected_ns=expected_ns, source_factory=servers.__getitem__,
                           sleep=clock.sleep, clock=clock)

    derived = verify(["parent"])
    assert derived.delegation.state == "ok" and "apex NS set served by a" in \
        derived.delegation.detail
    assert verify(["parent"], ["ns.z.example"]).delegation.state == "ok"
    mismatch = verify(["other"])
    assert mismatch.delegation.state == "mismatch"
    assert any(w.startswith("delegation mismatch") for w in mismatch.warnings)


# --- the report ---------------------------------------------------------------------------------

def test_json_and_text_report():
    live = replaced(SRV, "_sip._udp.z.example. 3600 IN SRV 10 50 5070 sip.z.example.")
    result, _ = run({"a": FakeServer(), "b": FakeServer(live)})
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {"zone", "ok", "servers", "attempts", "elapsed", "serials", "summary",
                         "checks", "routes", "delegation", "warnings"}
    assert data["ok"] is False and data["servers"] == ["a", "b"]
    assert data["summary"]["a"]["ok"] == 3 and data["summary"]["b"]["different"] == 1
    check = next(c for c in data["checks"] if c["state"] != "ok")
    assert check == {"server": "b", "name": "_sip._udp.z.example.", "type": "SRV",
                     "state": "different", "expected": ["10 50 5060 sip.z.example."],
                     "live": ["10 50 5070 sip.z.example."], "expected_ttl": 3600,
                     "live_ttl": 3600, "detail": check["detail"]}
    route = data["routes"][0]
    assert set(route) == {"uri", "server", "agree", "detail", "live", "compiled"}
    assert route["live"]["targets"][0] == {"transport": "udp", "host": "sip.z.example",
                                           "port": 5060, "address": "192.0.2.1"}
    assert data["delegation"]["state"] == "not-checked"
    text = result.to_text()
    assert text.startswith("zone z.example.: NOT OK after 1 attempt")
    assert "  b  serial 1: 2 ok, 1 different" in text
    assert "expected: TTL 3600  10 50 5060 sip.z.example." in text
    assert "live:     TTL 3600  10 50 5070 sip.z.example." in text
    assert "udp   sip.z.example 5070 192.0.2.1" in text  # what a caller reaches on b
    assert "sip:z.example @ b: DIFFERS" in text


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="outside the zone"):
        run({"a": FakeServer()}, desired=RECORDS + [rec("x.other.example. 60 IN A 192.0.2.1")])
    with pytest.raises(ValueError, match="at least one server"):
        verify_zone(ZONE, RECORDS, (), (), [])
    both, _ = run({"a": FakeServer()}, absent=[SRV_KEY])
    assert both.ok and any("both desired and absent" in w for w in both.warnings)


# --- real servers: BIND on loopback -------------------------------------------------------------

def acme_drifted() -> list[Record]:
    """acme.example with the sbc1 SIPS weight changed (the order flips), sbc2's A removed and
    a deleted SCTP SRV still there."""
    out = []
    for r in golden_records("acme.example"):
        if r.name == "sbc2.acme.example." and r.type == "A":
            continue
        if r.name == "_sips._tcp.acme.example." and r.value.target == "sbc1.acme.example.":
            r = Record(r.name, r.ttl, r.type, r.value._replace(weight=30))
        out.append(r)
    return out + [rec("_sip._sctp.acme.example. 3600 IN SRV 10 50 5060 sbc1.acme.example.")]


SCTP = ("_sip._sctp.acme.example.", "SRV")
DRIFT = {("_sips._tcp.acme.example.", "SRV"): "different",
         ("sbc2.acme.example.", "A"): "missing", SCTP: "extra"}

PARENT = """\
$ORIGIN example.
example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300
example. 3600 IN NS ns.example.
ns.example. 3600 IN A 127.0.0.1
acme.example. 3600 IN NS ns.acme.example.
ns.acme.example. 3600 IN A 127.0.0.1
"""


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    zones = {name: zone_text(name, golden_records(name), serial=2) for name in GOLDEN_ZONES}
    with BindServer(zones, tmp_path_factory.mktemp("good")) as server:
        yield server


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    zones = {"acme.example": zone_text("acme.example", acme_drifted(), serial=2)}
    with BindServer(zones, tmp_path_factory.mktemp("drifted")) as server:
        yield server


@pytest.fixture(scope="module")
def behind(tmp_path_factory):
    zones = {"acme.example": zone_text("acme.example", acme_drifted(), serial=1)}
    with BindServer(zones, tmp_path_factory.mktemp("behind")) as server:
        yield server


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    with BindServer({"example": PARENT}, tmp_path_factory.mktemp("parent")) as server:
        yield server


def verify_acme(servers, **kwargs):
    return verify_zone("acme.example", golden_records("acme.example"), [SCTP],
                       ["acme.example"], servers, **kwargs)


def rows(res):
    return [(t.transport, t.host, t.port, t.address) for t in res.targets]


@pytest.mark.bind
@pytest.mark.parametrize("name", GOLDEN_ZONES)
def test_golden_zones_verify_ok_on_bind(good, name):
    result = verify_zone(name, golden_records(name), [], [name], [good.nameserver])
    assert result.ok, result.to_text()
    assert len(result.checks) == len({(r.name, r.type) for r in golden_records(name)})
    assert result.serials == {good.nameserver: 2} and result.attempts == 1
    assert [r.uri for r in result.routes] == [f"sip:{name}", f"sips:{name}"]
    assert all(r.agree for r in result.routes)
    sip = result.routes[0].live
    expected = {
        "mysite.ru": [("udp", "sip.mysite.ru", 5060, "203.0.113.10"),
                      ("udp", "sip2.mysite.ru", 5060, "203.0.113.11")],
        "acme.example": [("tls", "sbc1.acme.example", 5061, "192.0.2.10"),
                         ("tls", "sbc1.acme.example", 5061, "2001:db8::10"),
                         ("tls", "sbc2.acme.example", 5061, "192.0.2.11")],
        "srvonly.example": [("udp", "pbx.srvonly.example", 5070, "198.51.100.7"),
                            ("tcp", "pbx.srvonly.example", 5070, "198.51.100.7")],
    }[name]
    assert rows(sip) == expected
    assert "sip:" + name in result.to_text()


@pytest.mark.bind
def test_live_source_zone_queries(good, parent):
    live = LiveSource([good.nameserver], timeout=2, retries=0)
    soa = live.zone_query("acme.example.", "SOA")
    assert (soa.status, soa.serial, soa.authoritative) == ("ok", 2, True)
    assert live.zone_query("acme.example.", "NS").ns == ("ns.acme.example.",)
    assert live.zone_query("example.org.", "SOA").status == "refused"
    up = LiveSource([parent.nameserver], timeout=2, retries=0)
    referral = up.zone_query("acme.example.", "NS")
    assert (referral.status, referral.ns, referral.authoritative) == \
        ("ok", ("ns.acme.example.",), False)
    not_auth = up.zone_query("acme.example.", "SOA")
    assert not_auth.status == "refused" and "referral" in not_auth.detail
    assert up.zone_query("srvonly.example.", "NS").status == "nxdomain"


@pytest.mark.bind
def test_drift_on_one_server_only(good, drifted):
    result = verify_acme([good.nameserver, drifted.nameserver])
    assert set(states(result, good.nameserver).values()) == {"ok"}
    bad = {k: v for k, v in states(result, drifted.nameserver).items() if v != "ok"}
    assert bad == DRIFT
    assert {(c.server, c.name, c.type) for c in result.drifted} == \
        {(drifted.nameserver, *k) for k in DRIFT}
    different = next(c for c in result.checks if c.state == "different")
    assert different.live == ("10 30 5061 sbc1.acme.example.", "10 40 5061 sbc2.acme.example.")
    assert different.expected == ("10 40 5061 sbc2.acme.example.",
                                  "10 60 5061 sbc1.acme.example.")
    assert not result.pending and not result.ok
    agree = {(r.server, r.uri): r.agree for r in result.routes}
    assert agree == {(good.nameserver, "sip:acme.example"): True,
                     (good.nameserver, "sips:acme.example"): True,
                     (drifted.nameserver, "sip:acme.example"): False,
                     (drifted.nameserver, "sips:acme.example"): False}
    live = next(r for r in result.routes if r.server == drifted.nameserver).live
    assert rows(live) == [("tls", "sbc1.acme.example", 5061, "192.0.2.10"),  # sbc2 (weight
                          ("tls", "sbc1.acme.example", 5061, "2001:db8::10")]  # 40) lost its A
    assert "different" in result.to_text() and "extra" in result.to_text()


@pytest.mark.bind
def test_a_server_with_an_older_serial_is_pending(good, behind):
    result = verify_acme([good.nameserver, behind.nameserver])
    bad = {k: v for k, v in states(result, behind.nameserver).items() if v != "ok"}
    assert bad == dict.fromkeys(DRIFT, "pending")
    assert not result.drifted and not result.ok
    assert result.serials == {good.nameserver: 2, behind.nameserver: 1}
    assert any("serial 1 is behind 2" in w for w in result.warnings)
    alone = verify_acme([behind.nameserver])  # nothing newer to compare with: drift
    assert {k: v for k, v in states(alone).items() if v != "ok"} == DRIFT
    told = verify_acme([behind.nameserver], expected_serial=2)
    assert {k: v for k, v in states(told).items() if v != "ok"} == dict.fromkeys(DRIFT, "pending")


@pytest.mark.bind
def test_a_dead_server_is_indeterminate(good):
    dead = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    result = verify_acme([good.nameserver, dead], timeout=0.3)
    assert time.monotonic() - start < 3
    assert set(states(result, good.nameserver).values()) == {"ok"}
    assert set(states(result, dead).values()) == {"indeterminate"}
    assert not result.drifted and not result.ok
    assert all(not r.agree for r in result.routes if r.server == dead)
    assert result.to_json()["summary"][dead]["indeterminate"] == len(states(result, dead))


@pytest.mark.bind
def test_delegation_from_a_parent_bind(good, parent):
    ok = verify_acme([good.nameserver], parent_servers=[parent.nameserver],
                     expected_ns=["ns.acme.example"])
    assert ok.ok and ok.delegation.state == "ok"
    assert ok.delegation.parent_ns == ("ns.acme.example.",)
    assert UNDELEGATED_WARNING not in ok.warnings
    derived = verify_acme([good.nameserver], parent_servers=[parent.nameserver])
    assert derived.delegation.state == "ok" and "apex NS" in derived.delegation.detail
    wrong = verify_acme([good.nameserver], parent_servers=[parent.nameserver],
                        expected_ns=["ns1.provider.example"])
    assert wrong.delegation.state == "mismatch"
    undelegated = verify_zone("srvonly.example", golden_records("srvonly.example"), [],
                              ["srvonly.example"], [good.nameserver],
                              parent_servers=[parent.nameserver])
    assert undelegated.delegation.state == "not-delegated"
    assert undelegated.ok  # a warning, not a failure
    assert any(w.startswith("delegation not-delegated") for w in undelegated.warnings)
    elsewhere = verify_zone("mysite.ru", golden_records("mysite.ru"), [], [],
                            [good.nameserver], parent_servers=[parent.nameserver])
    assert elsewhere.delegation.state == "indeterminate"  # example. cannot speak for ru.


@pytest.mark.bind
def test_waits_for_a_real_propagation(tmp_path):
    partial = [r for r in golden_records("acme.example")
               if not (r.name == "sbc2.acme.example." and r.type == "A")]
    zones = {"acme.example": zone_text("acme.example", partial, serial=1)}
    with BindServer(zones, tmp_path, zone_options="allow-update { 127.0.0.1; };") as server:
        def apply_later():
            time.sleep(0.4)
            update = dns.update.UpdateMessage("acme.example.")
            update.add("sbc2", 3600, "A", "192.0.2.11")
            response = dns.query.tcp(update, server.address, port=server.port, timeout=5)
            assert response.rcode() == dns.rcode.NOERROR

        first = verify_acme([server.nameserver], expected_serial=2)
        assert states(first)[("sbc2.acme.example.", "A")] == "pending"
        updater = threading.Thread(target=apply_later)
        updater.start()
        try:
            result = verify_acme([server.nameserver], expected_serial=2, wait=15)
        finally:
            updater.join()
        assert result.ok, result.to_text()
        assert result.attempts >= 2 and result.serials == {server.nameserver: 2}


# --- many zones in one call (verify_zones) ------------------------------------------------------

Y_ZONE = "y.example."
Y_RECORDS = parse_records("""
y.example. 3600 IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.y.example.
_sip._tcp.y.example. 3600 IN SRV 10 50 5060 pbx.y.example.
pbx.y.example. 3600 IN A 192.0.2.9
""")


def comparable(result) -> dict:
    """The JSON less what differs from call to call: the time taken, and the resolution
    steps, which show each RRset in the order the server listed it (BIND rotates it)."""
    data = result.to_json()
    data.pop("elapsed")
    for route in data["routes"]:
        route["live"].pop("steps"), route["compiled"].pop("steps")
    return data


def test_verify_zones_gives_each_zone_what_verify_zone_gives():
    def servers():
        return {"a": FakeServer(RECORDS + Y_RECORDS),
                "b": FakeServer([NAPTR, A] + Y_RECORDS, serial=2)}

    specs = [ZoneSpec(ZONE, RECORDS, [("_sip._tcp.z.example.", "SRV")], ["z.example"]),
             ZoneSpec(Y_ZONE, Y_RECORDS, (), ["y.example"], servers=["b"])]
    fakes = servers()
    batch = verify_zones(specs, ["a", "b"], source_factory=fakes.__getitem__)
    alone = []
    for spec in specs:
        fakes = servers()
        alone.append(verify_zone(spec.zone, spec.desired, spec.absent, spec.domains,
                                 list(spec.servers or ["a", "b"]),
                                 source_factory=fakes.__getitem__))
    assert [comparable(r) for r in batch] == [comparable(r) for r in alone]
    assert [r.zone for r in batch] == [ZONE, Y_ZONE]
    assert batch[1].servers == ("b",) and batch[1].ok
    assert states(batch[0], "b")[SRV_KEY] == "missing"


def test_verify_zones_retries_each_zone_within_its_own_budget():
    server = FakeServer(RECORDS + Y_RECORDS)
    broken = FakeServer([NAPTR, A] + Y_RECORDS)  # z.example's SRV never appears
    fakes = {"a": server, "b": broken}
    clock = FakeClock()
    results = verify_zones([ZoneSpec(ZONE, RECORDS, (), (), servers=["b"], wait=1.0),
                            ZoneSpec(Y_ZONE, Y_RECORDS, (), (), servers=["a"], wait=5.0)],
                           source_factory=fakes.__getitem__, sleep=clock.sleep, clock=clock)
    z, y = results
    assert y.ok and y.attempts == 1 and z.attempts > 1 and not z.ok
    assert sum(clock.sleeps) == pytest.approx(1.0)  # z's budget; y never waited
    assert server.calls[("_sip._tcp.y.example.", "SRV")] == 1


def test_verify_zones_needs_servers_and_accepts_nothing():
    assert verify_zones([], ["a"]) == []
    with pytest.raises(ValueError, match="at least one server"):
        verify_zones([ZoneSpec(ZONE, RECORDS)])


@pytest.mark.bind
def test_verify_zones_on_bind_equals_verify_zone(good, drifted):
    servers = [good.nameserver, drifted.nameserver]
    specs = [ZoneSpec("acme.example", golden_records("acme.example"), [SCTP], ["acme.example"]),
             ZoneSpec("mysite.ru", golden_records("mysite.ru"), (), ["mysite.ru"],
                      servers=[good.nameserver]),
             ZoneSpec("srvonly.example", golden_records("srvonly.example"), (),
                      ["srvonly.example"], servers=[good.nameserver])]
    batch = verify_zones(specs, servers)
    alone = [verify_zone(spec.zone, spec.desired, spec.absent, spec.domains,
                         list(spec.servers or servers)) for spec in specs]
    assert [comparable(r) for r in batch] == [comparable(r) for r in alone]
    assert [r.ok for r in batch] == [False, True, True]


@pytest.mark.bind
def test_each_question_is_asked_once_per_attempt_routes_included(good):
    sources = {}

    def factory(server):
        sources[server] = BatchSource(server)
        return sources[server]

    result = verify_zone("acme.example", golden_records("acme.example"), [], ["acme.example"],
                         [good.nameserver], source_factory=factory)
    assert result.ok
    stats = sources[good.nameserver].stats
    rrsets = len(group_rrsets(golden_records("acme.example")))
    # the SOA, every owned RRset, and the SRV targets' A and AAAA (sbc2 has no AAAA)
    assert stats["sent"] == 1 + rrsets + 1 and stats["resent"] == 0
    assert stats["fast"] == stats["sent"] and stats["full"] == 0  # no dnspython parse at all


# --- real servers: PowerDNS on loopback (the fast path against a second implementation) --------

def _content(rec: Record) -> str:
    return rec.value.to_text()


@pytest.fixture(scope="module")
def pdns(tmp_path_factory):
    with PowerDnsServer(tmp_path_factory.mktemp("pdns")) as server:
        for name in GOLDEN_ZONES:
            server.create_zone(name)
            server.patch_rrsets(name, [
                {"name": key[0], "type": key[1], "ttl": group[0].ttl, "changetype": "REPLACE",
                 "records": [{"content": _content(r), "disabled": False} for r in group]}
                for key, group in group_rrsets(golden_records(name)).items()])
        # a row PowerDNS cannot parse: it answers SERVFAIL for that name and type
        db = sqlite3.connect(server.database)
        try:
            (zone_id,), = db.execute("SELECT id FROM domains WHERE name = 'acme.example'")
            db.execute("INSERT INTO records (domain_id, name, type, content, ttl, prio, disabled,"
                       " auth) VALUES (?, 'broken.acme.example', 'SRV', 'not an srv', 300, 0,"
                       " 0, 1)", (zone_id,))
            db.commit()
        finally:
            db.close()
        yield server


def test_golden_zones_verify_ok_on_powerdns_in_one_call(pdns):
    specs = [ZoneSpec(name, golden_records(name), (), [name]) for name in GOLDEN_ZONES]
    sources = {}

    def factory(server):
        sources[server] = BatchSource(server)
        return sources[server]

    results = verify_zones(specs, [pdns.nameserver], source_factory=factory)
    for result in results:
        assert result.ok, result.to_text()
        assert all(r.agree for r in result.routes) and len(result.routes) == 2
    stats = sources[pdns.nameserver].stats
    assert stats["timeout"] == stats["resent"] == 0
    assert stats["fast"] > stats["full"]  # the common answers never reach dnspython
    alone = [verify_zone(s.zone, s.desired, (), s.domains, [pdns.nameserver]) for s in specs]
    assert [comparable(r) for r in results] == [comparable(r) for r in alone]


def test_powerdns_drift_nodata_nxdomain_and_servfail(pdns):
    desired = [r for r in golden_records("acme.example")
               if not (r.name in ("sbc1.acme.example.", "sbc2.acme.example.") and r.type == "A")]
    desired += parse_records("""
sbc2.acme.example. 3600 IN A 192.0.2.99
sbc2.acme.example. 3600 IN AAAA 2001:db8::11
gone.acme.example. 3600 IN A 192.0.2.1
broken.acme.example. 300 IN SRV 10 50 5060 sbc1.acme.example.
""")
    absent = [("_sip._sctp.acme.example.", "SRV"), ("sbc1.acme.example.", "A")]
    result = verify_zone("acme.example", desired, absent, [], [pdns.nameserver])
    got = {k: v for k, v in states(result).items() if v != "ok"}
    assert got == {("sbc2.acme.example.", "A"): "different",
                   ("sbc2.acme.example.", "AAAA"): "missing",     # NODATA
                   ("gone.acme.example.", "A"): "missing",        # NXDOMAIN
                   ("broken.acme.example.", "SRV"): "indeterminate",  # SERVFAIL
                   ("sbc1.acme.example.", "A"): "extra"}
    detail = {(c.name, c.type): c.detail for c in result.checks}
    assert "NODATA" in detail[("sbc2.acme.example.", "AAAA")]
    assert "NXDOMAIN" in detail[("gone.acme.example.", "A")]
    assert "SERVFAIL" in detail[("broken.acme.example.", "SRV")]
    assert not result.ok and len(result.drifted) == 4
    refused = BatchSource(pdns.nameserver).query("elsewhere.example.", "A")
    assert refused.status == "refused" and refused.indeterminate


def test_the_compiled_routes_are_resolved_once_for_servers_that_answer_alike(monkeypatch):
    import zonesync.verify as V

    calls = Counter()
    real = V.resolve

    def counting(uri, source, *args, **kwargs):  # resolutions that ran to the end
        result = real(uri, source, *args, **kwargs)
        calls["compiled" if isinstance(source, V._CompiledView) else "live"] += 1
        return result

    monkeypatch.setattr(V, "resolve", counting)
    customer = rec("pbx.z.example. 3600 IN A 192.0.2.50")
    alike, _ = run({"a": FakeServer(RECORDS + [customer]), "b": FakeServer(RECORDS + [customer])},
                   absent=[("_sips._tcp.z.example.", "SRV")])  # what sips: asks: no round 2
    assert alike.ok and calls == {"compiled": 2, "live": 4}  # b reuses a's compiled routes
    assert [r.compiled for r in alike.routes[:2]] == [r.compiled for r in alike.routes[2:]]
    calls.clear()
    # b answers a question the compiled view passes through differently (sip's AAAA): b's
    # compiled sip: route is resolved again, and says what b's own data gives
    aaaa = rec("sip.z.example. 3600 IN AAAA 2001:db8::1")
    differ, _ = run({"a": FakeServer(RECORDS), "b": FakeServer(RECORDS + [aaaa])},
                    absent=[("_sips._tcp.z.example.", "SRV")])
    assert calls == {"compiled": 3, "live": 4} and differ.ok  # sips: never asks that AAAA
    assert [t.address for t in differ.routes[2].compiled.targets] == ["192.0.2.1",
                                                                       "2001:db8::1"]
