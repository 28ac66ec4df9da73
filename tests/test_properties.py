"""Property tests over generated valid descriptions (hypothesis).

SPEC §4: for every transport a description publishes at its default owner, resolving
``sip:x@domain;transport=t`` (``sips:`` for tls) yields exactly that SRV set's targets in
deterministic order, each with the addresses from ``hosts`` (A before AAAA). Plus compile
invariants (SPEC C1–C4) and a zone-text round trip.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from zonesync.compile import compile_description, to_zone_text
from zonesync.dnssource import MemorySource
from zonesync.estate import check
from zonesync.load import validate_data
from zonesync.model import TRANSPORTS
from zonesync.records import keys, parse_records, rrsets
from zonesync.resolve import resolve

LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
DOMAIN = st.lists(LABEL, min_size=2, max_size=3).map(".".join)
U16 = st.integers(0, 65535)
CLIENT_TRANSPORTS = ("udp", "tcp", "tls")  # what the default rfc3263 client supports


@st.composite
def descriptions(draw):
    """A valid description dict: distinct transports at default owners, in-zone hosts."""
    domain = draw(DOMAIN)
    transports = draw(st.lists(st.sampled_from(sorted(TRANSPORTS)), min_size=1, max_size=5,
                               unique=True))
    host_names = [f"{label}.{domain}" for label in
                  draw(st.lists(LABEL, min_size=1, max_size=4, unique=True))]
    hosts = {}
    for i, host in enumerate(host_names):
        families = draw(st.sampled_from([(4,), (6,), (4, 6)]))
        hosts[host] = [f"192.0.2.{i + 1}" if f == 4 else f"2001:db8::{i + 1:x}" for f in families]
    sip = []
    for transport in transports:
        targets = draw(st.lists(
            st.fixed_dictionaries({"host": st.sampled_from(host_names), "port": st.integers(1, 65535),
                                   "priority": U16, "weight": U16}),
            min_size=1, max_size=5, unique_by=lambda t: (t["host"], t["port"])))
        entry = {"transport": transport, "targets": targets}
        if draw(st.booleans()):
            entry["order"] = draw(U16)
            entry["preference"] = draw(U16)
        sip.append(entry)
    return {"domain": domain, "ttl": draw(st.integers(0, 86400)), "naptr": draw(st.booleans()),
            "hosts": hosts, "sip": sip}


def _load(data):
    loaded = validate_data(data, "generated.yaml")
    estate = check([loaded])
    assert not estate.errors, [f.to_text() for f in estate.errors]
    return loaded.description


def _expected(data, transport):
    entry = next(e for e in data["sip"] if e["transport"] == transport)
    rows = sorted(entry["targets"], key=lambda t: (t["priority"], -t["weight"], t["host"], t["port"]))
    out = []
    for t in rows:
        addrs = data["hosts"][t["host"]]
        ordered = [a for a in addrs if ":" not in a] + [a for a in addrs if ":" in a]
        out += [(transport, t["host"], t["port"], a) for a in ordered]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions())
def test_transport_param_reaches_exactly_that_srv_set(data):
    desc = _load(data)
    source = MemorySource(compile_description(desc))
    for transport in (t for t in CLIENT_TRANSPORTS if any(e["transport"] == t for e in data["sip"])):
        scheme = "sips" if transport == "tls" else "sip"
        uris = [f"{scheme}:x@{desc.domain};transport={'tcp' if transport == 'tls' else transport}",
                f"sip:x@{desc.domain};transport={transport}"]
        for uri in uris:
            result = resolve(uri, source)
            got = [(t.transport, t.host, t.port, t.address) for t in result.targets]
            assert got == _expected(data, transport), (uri, result.steps)
            assert result.error is None


@settings(max_examples=150, deadline=None)
@given(descriptions())
def test_compile_invariants(data):
    desc = _load(data)
    records = compile_description(desc)
    for rec in records:
        assert rec.name.endswith(".") and rec.name == rec.name.lower()          # C1
        if rec.type == "SRV":
            assert rec.value.target.endswith(".")
        if rec.type == "NAPTR":
            assert rec.value.flags == "s" and rec.value.regexp == ""           # C2
            assert rec.value.replacement.endswith(".")
    for group in rrsets(records).values():
        assert len({r.ttl for r in group}) == 1                                 # C4
    naptrs = [r for r in records if r.type == "NAPTR"]
    assert len(naptrs) == (len(data["sip"]) if data["naptr"] else 0)
    srv_owners = {r.name for r in records if r.type == "SRV"}
    assert srv_owners == {f"{TRANSPORTS[e['transport']].owner}.{desc.domain}." for e in data["sip"]}


@settings(max_examples=100, deadline=None)
@given(descriptions())
def test_zone_text_round_trips(data):
    records = compile_description(_load(data))
    assert keys(parse_records(to_zone_text(records))) == keys(records)
