"""The RFC 3263 client (zonesync.resolve) against in-memory records: SPEC §4 R1–R10."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from zonesync.dnssource import Answer, MemorySource
from zonesync.records import Srv, parse_records
from zonesync.resolve import (PROFILES, Profile, Resolution, Target, UriError, order_srv,
                              parse_uri, resolve, select_naptrs, weighted_order)

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_NAMES = ("acme.example", "mysite.ru", "srvonly.example")


def source(text: str) -> "Recording":
    return Recording(MemorySource(parse_records(text)))


class Recording:
    """A MemorySource that remembers the queries and can fail some of them (R10)."""

    def __init__(self, inner, failures: dict[tuple[str, str], str] | None = None):
        self.inner, self.failures, self.queries = inner, failures or {}, []

    def query(self, name: str, rtype: str) -> Answer:
        self.queries.append((name, rtype))
        status = self.failures.get((name, rtype))
        if status:
            return Answer(status, detail="injected by the test")  # type: ignore[arg-type]
        return self.inner.query(name, rtype)

    def types(self) -> set[str]:
        return {rtype for _, rtype in self.queries}


def rows(res: Resolution) -> list[tuple]:
    return [(t.transport, t.host, t.port, t.address) for t in res.targets]


def golden_source() -> Recording:
    text = "\n".join((GOLDEN / f"{name}.records").read_text() for name in GOLDEN_NAMES)
    return source(text)


ACME = (GOLDEN / "acme.example.records").read_text()

# RFC 3263 §4.1's example: order 50 SIPS+D2T, 90 SIP+D2T, 100 SIP+D2U.
RFC3263_EXAMPLE = """
example.com. 3600 IN NAPTR 50 50 "s" "SIPS+D2T" "" _sips._tcp.example.com.
example.com. 3600 IN NAPTR 90 50 "s" "SIP+D2T" "" _sip._tcp.example.com.
example.com. 3600 IN NAPTR 100 50 "s" "SIP+D2U" "" _sip._udp.example.com.
_sips._tcp.example.com. 3600 IN SRV 0 1 5061 server1.example.com.
_sip._tcp.example.com. 3600 IN SRV 0 1 5060 server1.example.com.
_sip._udp.example.com. 3600 IN SRV 0 1 5060 server1.example.com.
server1.example.com. 3600 IN A 192.0.2.1
"""

DEAD_END = """
deadend.example. 3600 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.gone.deadend.example.
_sip._tcp.deadend.example. 3600 IN SRV 10 50 5060 pbx.deadend.example.
pbx.deadend.example. 3600 IN A 192.0.2.50
"""


# --- parse_uri ---------------------------------------------------------------------------------

def test_parse_uri_full():
    uri = parse_uri(" SIP:Alice@Example.COM.:5070;Transport=TCP;maddr=10.0.0.1;lr?subject=x ")
    assert (uri.scheme, uri.user, uri.host, uri.port) == ("sip", "Alice", "example.com", 5070)
    assert (uri.transport, uri.maddr, uri.target) == ("tcp", "10.0.0.1", "10.0.0.1")
    assert not uri.secure


def test_parse_uri_minimal_and_numeric():
    assert parse_uri("sips:example.com") == parse_uri("SIPS:EXAMPLE.COM")
    assert parse_uri("sips:example.com").user is None and parse_uri("sips:example.com").secure
    assert parse_uri("sip:[2001:DB8:0::1]:5062").host == "2001:db8::1"
    assert parse_uri("sip:bob@192.0.2.1").host == "192.0.2.1"
    assert parse_uri("sip:alex@пример.рф").host == "xn--e1afmkfd.xn--p1ai"


@pytest.mark.parametrize("text, fragment", [
    ("tel:+15551234567", "only sip: and sips:"),
    ("", "empty"),
    ("alice@example.com", "not a SIP URI"),
    ("sip:", "empty host"),
    ("sip:alice@", "empty host"),
    ("sip:alice@;transport=udp", "empty host"),
    ("sip:example.com:0", "out of range"),
    ("sip:example.com:65536", "out of range"),
    ("sip:example.com:", "not a number"),
    ("sip:example.com:50x", "not a number"),
    ("sip:example.com;transport=carrier-pigeon", "unsupported transport"),
    ("sip:example.com;transport=", "needs a value"),
    ("sip:example.com;transport=udp;transport=tcp", "twice"),
    ("sip:example.com;maddr=", "needs a value"),
    ("sip:2001:db8::1", "brackets"),
    ("sip:[2001:zz::1]", "not a valid IPv6"),
    ("sip:300.1.2.3", "not a valid IPv4"),
    ("sip:-bad-.example", "not a valid domain name"),
    ("sip:a b@example.com", "whitespace"),
    ("sip:example.com;;lr", "malformed"),
])
def test_parse_uri_rejects(text, fragment):
    with pytest.raises(UriError) as info:
        parse_uri(text)
    assert fragment in str(info.value)


def test_resolve_raises_only_for_unparseable_uri():
    with pytest.raises(UriError):
        resolve("tel:+15551234567", golden_source())
    res = resolve("sip:nobody@nowhere.example", golden_source())
    assert res.targets == () and "does not exist" in res.error


# --- R1, R2 --------------------------------------------------------------------------------------

def test_r1_sips_with_transport_udp_is_an_error_without_queries():
    src = golden_source()
    res = resolve("sips:alex@mysite.ru;transport=udp", src)
    assert res.targets == () and "transport=udp" in res.error and "UDP" in res.error
    assert src.queries == []


@pytest.mark.parametrize("uri, expected", [
    ("sip:192.0.2.5", ("udp", "192.0.2.5", 5060, "192.0.2.5")),
    ("sips:bob@192.0.2.5", ("tls", "192.0.2.5", 5061, "192.0.2.5")),
    ("sip:bob@192.0.2.5:5080;transport=tcp", ("tcp", "192.0.2.5", 5080, "192.0.2.5")),
    ("sip:[2001:db8::5]", ("udp", "2001:db8::5", 5060, "2001:db8::5")),
    ("sips:[2001:db8::5]:5071", ("tls", "2001:db8::5", 5071, "2001:db8::5")),
    ("sips:[2001:db8::5];transport=ws", ("wss", "2001:db8::5", 443, "2001:db8::5")),
    ("sip:bob@acme.example;maddr=192.0.2.99", ("udp", "192.0.2.99", 5060, "192.0.2.99")),
])
def test_r2_numeric_target_is_one_hop_without_dns(uri, expected):
    src = golden_source()
    res = resolve(uri, src)
    assert rows(res) == [expected] and res.error is None
    assert src.queries == []


# --- R3 -------------------------------------------------------------------------------------------

def test_r3_explicit_port_means_a_aaaa_only():
    src = golden_source()
    res = resolve("sip:x@sbc1.acme.example:5070", src)
    assert rows(res) == [("udp", "sbc1.acme.example", 5070, "192.0.2.10"),
                         ("udp", "sbc1.acme.example", 5070, "2001:db8::10")]
    assert src.queries == [("sbc1.acme.example.", "A"), ("sbc1.acme.example.", "AAAA")]


def test_r3_explicit_port_transport_default_and_explicit():
    assert rows(resolve("sips:x@sbc2.acme.example:5071", golden_source())) == [
        ("tls", "sbc2.acme.example", 5071, "192.0.2.11")]
    assert rows(resolve("sip:x@sbc2.acme.example:5071;transport=tls", golden_source())) == [
        ("tls", "sbc2.acme.example", 5071, "192.0.2.11")]


def test_r3_explicit_port_skips_naptr_and_srv_even_when_they_exist():
    src = golden_source()
    res = resolve("sip:alice@acme.example:5060", src)
    assert res.targets == () and src.types() == {"A", "AAAA"}
    assert res.error == ("acme.example has no A/AAAA (an explicit port means A/AAAA only, "
                         "RFC 3263 §4.2)")


# --- R4 -------------------------------------------------------------------------------------------

def test_r4_explicit_tls_on_sip_uri_uses_sips_tcp_owner():
    src = golden_source()
    res = resolve("sip:alice@acme.example;transport=tls", src)
    assert rows(res) == [("tls", "sbc1.acme.example", 5061, "192.0.2.10"),
                         ("tls", "sbc1.acme.example", 5061, "2001:db8::10"),
                         ("tls", "sbc2.acme.example", 5061, "192.0.2.11")]
    assert src.queries[0] == ("_sips._tcp.acme.example.", "SRV")
    assert "NAPTR" not in src.types()


def test_r4_sips_transport_tcp_means_tls():
    res = resolve("sips:alice@acme.example;transport=tcp", golden_source())
    assert {t.transport for t in res.targets} == {"tls"} and len(res.targets) == 3


def test_r4_no_srv_falls_back_to_a_aaaa_at_default_port():
    src = source("pbx.example. 60 IN A 192.0.2.7\npbx.example. 60 IN AAAA 2001:db8::7")
    res = resolve("sip:pbx.example;transport=tcp", src)
    assert rows(res) == [("tcp", "pbx.example", 5060, "192.0.2.7"),
                         ("tcp", "pbx.example", 5060, "2001:db8::7")]
    assert src.queries == [("_sip._tcp.pbx.example.", "SRV"), ("pbx.example.", "A"),
                           ("pbx.example.", "AAAA")]


def test_r4_no_srv_no_address_is_an_error():
    res = resolve("sip:alice@acme.example;transport=sctp", golden_source())
    assert res.targets == ()
    assert "_sip._sctp.acme.example" in res.error and "no A/AAAA" in res.error
    assert any("does not support sctp" in w for w in res.warnings)


def test_r4_secure_websocket_is_sips_transport_ws():
    src = source("_sips._ws.ws.example. 60 IN SRV 10 50 443 edge.ws.example.\n"
                 "edge.ws.example. 60 IN A 192.0.2.80")
    res = resolve("sips:ws.example;transport=ws", src)
    assert rows(res) == [("wss", "edge.ws.example", 443, "192.0.2.80")]
    assert any("WebSocket" in w for w in res.warnings)


# --- R5 -------------------------------------------------------------------------------------------

def test_r5_rfc3263_example_udp_tcp_client_lands_on_tcp(monkeypatch):
    monkeypatch.setitem(PROFILES, "udp+tcp", Profile("udp+tcp", ("udp", "tcp")))
    res = resolve("sip:user@example.com", source(RFC3263_EXAMPLE), profile="udp+tcp")
    assert rows(res) == [("tcp", "server1.example.com", 5060, "192.0.2.1")]


def test_r5_rfc3263_example_default_client_prefers_sips_at_lowest_order():
    res = resolve("sip:user@example.com", source(RFC3263_EXAMPLE))
    assert rows(res) == [("tls", "server1.example.com", 5061, "192.0.2.1")]


def test_r5_filters_flags_regexp_unknown_and_unsupported_services():
    src = source("""
        f.example. 60 IN NAPTR 1 50 "a" "SIP+D2U" "" host.f.example.
        f.example. 60 IN NAPTR 2 50 "s" "SIP+D2U" "!^.*$!sip:x@y!" .
        f.example. 60 IN NAPTR 3 50 "s" "E2U+sip" "" _sip._udp.f.example.
        f.example. 60 IN NAPTR 4 50 "s" "SIPS+D2U" "" _sips._udp.f.example.
        f.example. 60 IN NAPTR 5 50 "s" "SIP+D2S" "" _sip._sctp.f.example.
        f.example. 60 IN NAPTR 9 50 "S" "sip+d2t" "" _sip._tcp.f.example.
        _sip._tcp.f.example. 60 IN SRV 10 50 5060 host.f.example.
        _sip._udp.f.example. 60 IN SRV 10 50 5060 host.f.example.
        _sip._sctp.f.example. 60 IN SRV 10 50 5060 host.f.example.
        host.f.example. 60 IN A 192.0.2.20
    """)
    res = resolve("sip:f.example", src)
    assert rows(res) == [("tcp", "host.f.example", 5060, "192.0.2.20")]
    assert res.warnings == ()
    ignored = [s for s in res.steps if "ignored" in s]
    assert len(ignored) == 5 and any('flag "a"' in s for s in ignored)


def test_r5_keeps_only_lowest_order_with_every_preference():
    res = resolve("sip:alex@mysite.ru", golden_source())
    assert [t.host for t in res.targets] == ["sip.mysite.ru", "sip2.mysite.ru"]
    assert {t.transport for t in res.targets} == {"udp"}


def test_r5_equal_order_and_preference_use_client_transport_preference():
    text = """
        t.example. 60 IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.t.example.
        t.example. 60 IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.t.example.
        t.example. 60 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.t.example.
    """
    naptrs = [r.value for r in parse_records(text)]
    kept = select_naptrs(naptrs, secure=False, profile=PROFILES["rfc3263"])
    assert [n.service for n in kept] == ["SIP+D2U", "SIP+D2T", "SIPS+D2T"]
    assert [n.service for n in select_naptrs(naptrs, True, PROFILES["rfc3263"])] == ["SIPS+D2T"]


def test_r5_sips_uri_never_uses_a_non_sips_service():
    src = source("""
        mix.example. 60 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.mix.example.
        mix.example. 60 IN NAPTR 90 50 "s" "SIPS+D2T" "" _sips._tcp.mix.example.
        _sip._udp.mix.example. 60 IN SRV 10 50 5060 a.mix.example.
        _sips._tcp.mix.example. 60 IN SRV 10 50 5061 b.mix.example.
        a.mix.example. 60 IN A 192.0.2.30
        b.mix.example. 60 IN A 192.0.2.31
    """)
    assert rows(resolve("sips:mix.example", src)) == [("tls", "b.mix.example", 5061,
                                                       "192.0.2.31")]
    assert rows(resolve("sip:mix.example", src)) == [("udp", "a.mix.example", 5060,
                                                      "192.0.2.30")]


def test_r5_sips_uri_with_only_sip_naptrs_warns_and_never_uses_udp():
    src = source("""
        plain.example. 60 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.plain.example.
        _sip._udp.plain.example. 60 IN SRV 10 50 5060 plain.example.
        plain.example. 60 IN A 192.0.2.40
    """)
    res = resolve("sips:plain.example", src)
    assert rows(res) == [("tls", "plain.example", 5061, "192.0.2.40")]
    assert ("_sip._udp.plain.example.", "SRV") not in src.queries
    assert any("none this client can use" in w for w in res.warnings)


# --- R6, R7 ---------------------------------------------------------------------------------------

def test_r6_no_a_aaaa_fallback_on_a_replacement_name():
    src = source("""
        r.example. 60 IN NAPTR 10 50 "s" "SIP+D2U" "" sipserver.r.example.
        sipserver.r.example. 60 IN A 192.0.2.66
    """)
    res = resolve("sip:r.example", src)
    assert res.targets == ()
    assert ("sipserver.r.example.", "A") not in src.queries
    assert any("NAPTR dead end" in w for w in res.warnings)


def test_r7_dead_end_warns_and_falls_back_to_srv():
    src = source(DEAD_END)
    res = resolve("sip:x@deadend.example", src)
    assert rows(res) == [("tcp", "pbx.deadend.example", 5060, "192.0.2.50")]
    assert any(w.startswith("NAPTR dead end") for w in res.warnings)
    assert [q for q in src.queries if q[1] == "SRV"] == [
        ("_sip._udp.gone.deadend.example.", "SRV"), ("_sip._udp.deadend.example.", "SRV"),
        ("_sip._tcp.deadend.example.", "SRV"), ("_sips._tcp.deadend.example.", "SRV")]


def test_r7_sofia_does_not_fall_back_after_a_dead_end():
    src = source(DEAD_END)
    res = resolve("sip:x@deadend.example", src, profile="sofia")
    assert res.targets == () and "does not fall back" in res.error
    assert ("_sip._tcp.deadend.example.", "SRV") not in src.queries


def test_sofia_uses_only_the_best_naptr_transport():
    text = """
        s.example. 60 IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.s.example.
        s.example. 60 IN NAPTR 10 20 "s" "SIP+D2T" "" _sip._tcp.s.example.
        _sip._udp.s.example. 60 IN SRV 10 50 5060 h.s.example.
        _sip._tcp.s.example. 60 IN SRV 10 50 5060 h.s.example.
        h.s.example. 60 IN A 192.0.2.70
    """
    assert [t.transport for t in resolve("sip:s.example", source(text)).targets] == [
        "udp", "tcp"]
    assert [t.transport for t in resolve("sip:s.example", source(text), "sofia").targets] == [
        "udp"]


def test_srv_only_ignores_naptr():
    src = golden_source()
    res = resolve("sip:alice@acme.example", src, profile="srv-only")
    assert "NAPTR" not in src.types()
    assert [(t.transport, t.host.split(".")[0]) for t in res.targets] == [
        ("udp", "sbc1"), ("udp", "sbc1"), ("udp", "sbc2"),
        ("tcp", "sbc1"), ("tcp", "sbc1"), ("tcp", "sbc2"),
        ("tls", "sbc1"), ("tls", "sbc1"), ("tls", "sbc2")]


def test_r7_no_srv_at_all_means_a_aaaa_with_default_transport():
    text = "plain.example. 60 IN A 192.0.2.40"
    assert rows(resolve("sip:plain.example", source(text))) == [
        ("udp", "plain.example", 5060, "192.0.2.40")]
    assert rows(resolve("sips:plain.example", source(text))) == [
        ("tls", "plain.example", 5061, "192.0.2.40")]


# --- R8 -------------------------------------------------------------------------------------------

def test_r8_lone_dot_target_is_unavailable_without_fallback():
    src = source("""
        off.example. 60 IN NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.off.example.
        _sip._tcp.off.example. 60 IN SRV 0 0 0 .
        _sip._udp.off.example. 60 IN SRV 10 50 5060 off.example.
        off.example. 60 IN A 192.0.2.90
    """)
    res = resolve("sip:off.example", src)
    assert res.targets == () and "decidedly not available" in res.error
    assert ("_sip._udp.off.example.", "SRV") not in src.queries
    explicit = resolve("sip:off.example;transport=tcp", src)
    assert explicit.targets == () and "not available" in explicit.error
    assert src.queries[-1] == ("_sip._tcp.off.example.", "SRV")  # no A/AAAA afterwards


def test_r8_deterministic_order():
    srvs = [Srv(20, 90, 5060, "z."), Srv(10, 10, 5060, "b."), Srv(10, 60, 5062, "a."),
            Srv(10, 60, 5060, "c."), Srv(10, 60, 5060, "a."), Srv(10, 0, 5060, "a.")]
    assert order_srv(srvs) == [Srv(10, 60, 5060, "a."), Srv(10, 60, 5062, "a."),
                               Srv(10, 60, 5060, "c."), Srv(10, 10, 5060, "b."),
                               Srv(10, 0, 5060, "a."), Srv(20, 90, 5060, "z.")]
    res = resolve("sip:alice@acme.example", golden_source())
    assert res == resolve("sip:alice@acme.example", golden_source())
    assert [t.host for t in res.targets][::2] == ["sbc1.acme.example", "sbc2.acme.example"]


def test_r8_weighted_random_selection_distribution():
    tier = [Srv(10, 40, 5061, "sbc2."), Srv(10, 60, 5061, "sbc1.")]
    rng = random.Random(3263)
    first = Counter(weighted_order(tier, rng)[0].target for _ in range(2000))
    assert 0.55 <= first["sbc1."] / 2000 <= 0.65


def test_r8_weight_zero_is_picked_first_only_when_the_random_number_is_zero():
    tier = [Srv(10, 0, 5060, "zero."), Srv(10, 100, 5060, "heavy.")]
    rng = random.Random(2782)
    orders = [tuple(s.target for s in weighted_order(tier, rng)) for _ in range(2000)]
    assert all(sorted(o) == ["heavy.", "zero."] for o in orders)
    # first only when the random number in [0, 100] is 0: p = 1/101 (not 0, not 1/2)
    assert 6 <= Counter(o[0] for o in orders)["zero."] <= 60


def test_r8_rng_keeps_priorities_and_changes_order_within_a_tier():
    src = golden_source()
    seen = set()
    for seed in range(40):
        res = resolve("sip:alice@acme.example;transport=udp", src, rng=random.Random(seed))
        assert [t.host for t in res.targets][-1] == "sbc2.acme.example"  # priority 20 last
        seen.add(resolve("sip:alice@acme.example", src, rng=random.Random(seed)).targets[0].host)
    assert seen == {"sbc1.acme.example", "sbc2.acme.example"}


# --- R9 -------------------------------------------------------------------------------------------

def test_r9_cname_target_is_followed_and_reported():
    src = source("""
        _sip._udp.c.example. 60 IN SRV 10 50 5060 alias.c.example.
        real.c.example. 60 IN A 192.0.2.100
    """)
    src.inner = _with_cname(src.inner, "alias.c.example.", "real.c.example.")
    res = resolve("sip:c.example;transport=udp", src)
    assert rows(res) == [("udp", "alias.c.example", 5060, "192.0.2.100")]
    assert any("CNAME" in w and "must not be an alias" in w for w in res.warnings)


def _with_cname(inner: MemorySource, alias: str, target: str):
    class WithCname:
        def query(self, name, rtype):
            if name == alias:
                return Answer("ok", (), cname=target)
            return inner.query(name, rtype)
    return WithCname()


def test_r9_target_without_address_is_reported_and_skipped():
    src = source("""
        _sip._udp.n.example. 60 IN SRV 10 50 5060 ghost.n.example.
        _sip._udp.n.example. 60 IN SRV 20 50 5060 real.n.example.
        real.n.example. 60 IN A 192.0.2.110
    """)
    res = resolve("sip:n.example;transport=udp", src)
    assert rows(res) == [("udp", "real.n.example", 5060, "192.0.2.110")]
    assert any("ghost.n.example" in w and "does not exist" in w for w in res.warnings)
    only_ghost = source("_sip._udp.n.example. 60 IN SRV 10 50 5060 ghost.n.example.\n"
                        "n.example. 60 IN A 192.0.2.1")
    res = resolve("sip:n.example;transport=udp", only_ghost)
    assert res.targets == () and "none of the SRV targets" in res.error


def test_r9_a_before_aaaa_per_target():
    res = resolve("sip:alice@acme.example;transport=tcp", golden_source())
    assert [t.address for t in res.targets] == ["192.0.2.10", "2001:db8::10", "192.0.2.11"]


def test_r9_addresses_of_one_target_are_in_a_stable_order():
    forward = "_sip._udp.m.example. 60 IN SRV 10 50 5060 h.m.example.\n"
    addrs = ["h.m.example. 60 IN A 192.0.2.9", "h.m.example. 60 IN A 192.0.2.10",
             "h.m.example. 60 IN AAAA 2001:db8::2", "h.m.example. 60 IN AAAA 2001:db8::1"]
    one = resolve("sip:m.example;transport=udp", source(forward + "\n".join(addrs)))
    two = resolve("sip:m.example;transport=udp", source(forward + "\n".join(addrs[::-1])))
    assert [t.address for t in one.targets] == [t.address for t in two.targets] == [
        "192.0.2.9", "192.0.2.10", "2001:db8::1", "2001:db8::2"]


# --- R10 ------------------------------------------------------------------------------------------

def test_r10_naptr_servfail_is_indeterminate_not_absent():
    src = Recording(golden_source().inner, {("acme.example.", "NAPTR"): "servfail"})
    res = resolve("sip:alice@acme.example", src)
    assert res.targets == () and "indeterminate" in res.error and "SERVFAIL" in res.error
    assert src.queries == [("acme.example.", "NAPTR")]  # no SRV fallback as if absent


def test_r10_srv_timeout_on_explicit_transport_is_indeterminate():
    src = Recording(golden_source().inner, {("_sip._udp.acme.example.", "SRV"): "timeout"})
    res = resolve("sip:alice@acme.example;transport=udp", src)
    assert res.targets == () and "indeterminate" in res.error and "TIMEOUT" in res.error
    assert src.types() == {"SRV"}  # no A/AAAA fallback


def test_r10_one_indeterminate_srv_keeps_the_others_and_warns():
    src = Recording(golden_source().inner, {("_sip._udp.srvonly.example.", "SRV"): "servfail"})
    res = resolve("sip:bob@srvonly.example", src)
    assert rows(res) == [("tcp", "pbx.srvonly.example", 5070, "198.51.100.7")]
    assert any("indeterminate" in w for w in res.warnings) and res.error is None


def test_r10_all_srv_indeterminate_or_absent_does_not_fall_back_to_a():
    src = Recording(golden_source().inner, {("_sip._tcp.srvonly.example.", "SRV"): "refused",
                                            ("_sip._udp.srvonly.example.", "SRV"): "timeout"})
    res = resolve("sip:bob@srvonly.example", src)
    assert res.targets == () and "indeterminate" in res.error
    assert ("srvonly.example.", "A") not in src.queries


def test_r10_address_servfail_keeps_the_hop_without_an_address():
    src = Recording(golden_source().inner, {("pbx.srvonly.example.", "A"): "servfail"})
    res = resolve("sip:bob@srvonly.example;transport=tcp", src)
    assert rows(res) == [("tcp", "pbx.srvonly.example", 5070, None)]
    assert "indeterminate" in res.error


# --- output ---------------------------------------------------------------------------------------

def test_to_json_shape():
    res = resolve("sips:alex@mysite.ru", golden_source())
    data = res.to_json()
    assert {k: data[k] for k in ("uri", "targets", "warnings", "error")} == {
        "uri": "sips:alex@mysite.ru",
        "targets": [{"transport": "tls", "host": "sip.mysite.ru", "port": 5061,
                     "address": "203.0.113.10"}],
        "warnings": [], "error": None}
    assert isinstance(res.targets[0], Target) and res.steps


def test_resolve_accepts_a_parsed_uri():
    uri = parse_uri("sip:bob@srvonly.example")
    assert rows(resolve(uri, golden_source())) == rows(resolve(str(uri), golden_source()))


def test_unknown_profile_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown client profile"):
        resolve("sip:acme.example", golden_source(), profile="nokia")


# --- the golden examples table ---------------------------------------------------------------

def examples_table(path: Path = GOLDEN / "README.md") -> list[tuple[str, list[tuple] | str]]:
    """(uri, expected rows | "error: …") from the table; a single-label host is relative to the
    URI's domain (the table writes sbc1 for sbc1.acme.example)."""
    out = []
    for line in path.read_text().splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line)
        if not match:
            continue
        uri, cell = match.groups()
        if cell.startswith("error:"):
            out.append((uri, cell.removeprefix("error:").strip()))
            continue
        domain = parse_uri(uri).host
        expected = []
        for item in cell.split(";"):
            transport, host, port, address = item.split()
            host = host if "." in host else f"{host}.{domain}"
            expected.append((transport, host, int(port), address))
        out.append((uri, expected))
    return out


def test_examples_table_is_complete():
    assert len(examples_table()) == 6


@pytest.mark.parametrize("uri, expected", examples_table(), ids=lambda v: str(v)[:40])
def test_golden_examples(uri, expected):
    src = MemorySource([r for name in GOLDEN_NAMES
                        for r in parse_records((GOLDEN / f"{name}.records").read_text())])
    res = resolve(uri, src)
    if isinstance(expected, str):
        assert res.targets == () and res.error == expected
    else:
        assert rows(res) == expected and res.error is None and res.warnings == ()


def test_property_explicit_transport_yields_exactly_the_published_srv_set():
    """SPEC §4: for each default-owner SRV set, sip(s):x@domain;transport=t gives its targets in
    deterministic order, each with its addresses (A before AAAA)."""
    records = [r for name in GOLDEN_NAMES
               for r in parse_records((GOLDEN / f"{name}.records").read_text())]
    addresses = {}
    for rec in records:
        if rec.type in ("A", "AAAA"):
            addresses.setdefault(rec.name, {"A": [], "AAAA": []})[rec.type].append(str(rec.value))
    owners = {"_sip._udp": "udp", "_sip._tcp": "tcp", "_sips._tcp": "tls"}
    checked = 0
    for name in GOLDEN_NAMES:
        for prefix, transport in owners.items():
            srvs = [r.value for r in records if r.type == "SRV" and r.name == f"{prefix}.{name}."]
            if not srvs:
                continue
            expected = [(transport, s.target.rstrip("."), s.port, a) for s in order_srv(srvs)
                        for a in addresses[s.target]["A"] + addresses[s.target]["AAAA"]]
            scheme = "sips" if transport == "tls" else "sip"
            uri = f"{scheme}:x@{name};transport={'tcp' if transport == 'tls' else transport}"
            assert rows(resolve(uri, MemorySource(records))) == expected, uri
            checked += 1
    assert checked == 8
