"""The raw octoDNS providers against real servers on loopback (no zonesync sync code).

* PowerDNS 4.7 (Debian ``pdns-server`` + ``pdns-backend-sqlite3``) through
  ``octodns_powerdns.PowerDnsProvider`` (HTTP API).
* BIND 9 (Debian ``bind9``) through ``octodns_bind.Rfc2136Provider``: AXFR to read, RFC 2136
  UPDATE to write, both TSIG-signed.

Every answer is checked with dnspython straight at the server (authoritative answer, AA set).
Each behaviour worth knowing is pinned by a test with a ``QUIRK:`` comment. Under ``CI=true`` a
missing server binary fails (``require_binary``), it never skips.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback

import dns.exception
import dns.flags
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import pytest
import requests
from octodns.provider.plan import Plan
from octodns.record import Create, Delete, Record, Update
from octodns.record.exception import ValidationError
from octodns.zone import Zone
from octodns_bind import (AxfrSourceZoneTransferFailed, Rfc2136Provider,
                          Rfc2136ProviderUpdateFailed)
from octodns_powerdns import PowerDnsProvider

from tests.dnsservers import BindServer, PowerDnsServer, TsigKey, zone_text

# octodns-bind 1.1 still uses Rr / Record.from_rrs / Record.rrs, deprecated in octodns 1.22
# (removed in 2.0; pyproject pins octodns<2). Pinned once in test_bind_populate_empty_zone.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`(Rr|Record\.rrs|Record\.from_rrs)` is DEPRECATED:DeprecationWarning")

NS_GLUE = ("ns", {"type": "A", "ttl": 3600, "value": "127.0.0.1"})  # from zone_text()
FOREIGN = [("", {"type": "MX", "ttl": 3600,
                 "value": {"preference": 10, "exchange": "mail.elsewhere.example."}}),
           ("legacy", {"type": "A", "ttl": 3600, "value": "198.51.100.7"})]
# zones BIND serves (RFC 2136 cannot create zones); PowerDNS zones are created per test
BIND_LABELS = ("flow", "foreign", "ttl", "regexp", "regexp1", "trail", "semi", "badkey")


def sip_records(origin: str, weight: int = 50) -> list[tuple[str, dict]]:
    return [
        ("", {"type": "NAPTR", "ttl": 300, "value": {
            "order": 10, "preference": 50, "flags": "s", "service": "SIP+D2U", "regexp": "",
            "replacement": f"_sip._udp.{origin}"}}),
        ("_sip._udp", {"type": "SRV", "ttl": 300, "value": {
            "priority": 10, "weight": weight, "port": 5060, "target": f"pbx.{origin}"}}),
        ("pbx", {"type": "A", "ttl": 300, "value": "192.0.2.10"}),
        ("pbx", {"type": "AAAA", "ttl": 300, "value": "2001:db8::10"}),
        ("_zonesync.srv._sip._udp", {"type": "TXT", "ttl": 300, "value": "owner=zonesync"}),
    ]


def make_zone(origin: str, records) -> Zone:
    zone = Zone(origin, [])
    for name, data in records:
        zone.add_record(Record.new(zone, name, data))
    return zone


def answer(server, name: str, rdtype: str):
    """The answer RRset for ``name``/``rdtype``: NOERROR, authoritative (AA), present."""
    response = server.query(name, rdtype)
    assert response.rcode() == dns.rcode.NOERROR, (name, rdtype, response)
    assert response.flags & dns.flags.AA, response
    rrset = response.get_rrset(response.answer, dns.name.from_text(name), 1,
                               dns.rdatatype.from_text(rdtype))
    assert rrset is not None, (name, rdtype, response)
    return rrset


def absent(server, name: str, rdtype: str) -> int:
    """Assert an authoritative "no such data" (NXDOMAIN or NODATA); the rcode."""
    response = server.query(name, rdtype)
    assert response.flags & dns.flags.AA, response
    assert response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), response
    assert not [r for r in response.answer if r.rdtype == dns.rdatatype.from_text(rdtype)]
    return response.rcode()


def secret_free(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text, "secret leaked"


# --- servers and one adapter per server -------------------------------------------------------

@pytest.fixture(scope="module")
def pdns(tmp_path_factory):
    with PowerDnsServer(tmp_path_factory.mktemp("pdns")) as server:
        yield server


@pytest.fixture(scope="module")
def bind(tmp_path_factory):
    zones = {f"{label}.example": zone_text(f"{label}.example", []) for label in BIND_LABELS}
    with BindServer(zones, tmp_path_factory.mktemp("bind"), tsig=TsigKey()) as server:
        yield server


def pdns_provider(server: PowerDnsServer, **kwargs) -> PowerDnsProvider:
    # host/port/api_key are all it needs; enable_dynamic=False skips the GET /config probe
    # (only made when a record is dynamic anyway), mode_of_operation only matters for zones
    # the provider creates itself.
    return PowerDnsProvider("pdns", host="127.0.0.1", port=server.api_port,
                            api_key=server.api_key, enable_dynamic=False, **kwargs)


def bind_provider(server: BindServer, key: TsigKey | None = None, **kwargs) -> Rfc2136Provider:
    # host/port plus key_name/key_secret/key_algorithm: AXFR + UPDATE only, no zone files.
    key = server.tsig if key is None else key
    return Rfc2136Provider("bind", host=server.address, port=server.port,
                           **key.provider_kwargs(), **kwargs)


class PowerDnsBackend:
    name = "powerdns"

    def __init__(self, server: PowerDnsServer):
        self.server = server

    def provider(self, **kwargs):
        return pdns_provider(self.server, **kwargs)

    def new_zone(self, label: str) -> str:
        origin = f"{label}.example."
        self.server.create_zone(origin)  # Native, SOA from default-soa-content, NS ns1.<zone>
        return origin

    def baseline(self) -> list:
        return []

    def add_foreign(self, origin: str) -> None:
        self.server.patch_rrsets(origin, [
            {"name": origin, "type": "MX", "ttl": 3600, "changetype": "REPLACE",
             "records": [{"content": "10 mail.elsewhere.example.", "disabled": False}]},
            {"name": f"legacy.{origin}", "type": "A", "ttl": 3600, "changetype": "REPLACE",
             "records": [{"content": "198.51.100.7", "disabled": False}]}])


class BindBackend:
    name = "bind"

    def __init__(self, server: BindServer):
        self.server = server

    def provider(self, **kwargs):
        return bind_provider(self.server, **kwargs)

    def new_zone(self, label: str) -> str:
        assert label in BIND_LABELS, f"add {label!r} to BIND_LABELS"
        return f"{label}.example."

    def baseline(self) -> list:
        # QUIRK: zone_text() gives the zone an in-zone NS host with an A record. The desired
        # zone must carry it: a plan without it Deletes it and BIND REFUSES the whole update
        # ("post update name server sanity check failed") -> Rfc2136ProviderUpdateFailed.
        return [NS_GLUE]

    def add_foreign(self, origin: str) -> None:
        update = self.server.update(origin)
        update.add(origin, 3600, "MX", "10 mail.elsewhere.example.")
        update.add("legacy", 3600, "A", "198.51.100.7")
        self.server.send_update(update)


@pytest.fixture(params=["powerdns", pytest.param("bind", marks=pytest.mark.bind)])
def backend(request):
    if request.param == "powerdns":
        return PowerDnsBackend(request.getfixturevalue("pdns"))
    return BindBackend(request.getfixturevalue("bind"))


# --- the round trip both servers must pass -------------------------------------------------------

def test_full_cycle(backend):
    provider, server = backend.provider(), backend.server
    origin = backend.new_zone("flow")

    # populate an empty zone: QUIRK: SOA is never returned (not in SUPPORTS), the root NS is.
    existing = Zone(origin, [])
    assert provider.populate(existing) is True
    kinds = sorted((r.name, r._type) for r in existing.records)
    if backend.name == "powerdns":
        assert kinds == [("", "NS")]
    else:
        assert kinds == [("", "NS"), ("ns", "A")]

    desired = make_zone(origin, backend.baseline() + sip_records(origin))
    plan = provider.plan(desired)
    # QUIRK: the desired zone has no root NS: the existing one is ignored, never deleted
    assert sorted(type(c).__name__ + " " + c.record._type for c in plan.changes) == [
        "Create A", "Create AAAA", "Create NAPTR", "Create SRV", "Create TXT"]
    provider.apply(plan)
    assert provider.plan(desired) is None  # converged

    naptr = answer(server, origin, "NAPTR")[0]
    # QUIRK: octoDNS upper-cases NAPTR flags ("s" -> "S"); servers publish what they get
    assert (naptr.order, naptr.preference, naptr.flags, naptr.service, naptr.regexp) == (
        10, 50, b"S", b"SIP+D2U", b"")
    assert naptr.replacement.to_text() == f"_sip._udp.{origin}"
    srv = answer(server, f"_sip._udp.{origin}", "SRV")
    assert srv.ttl == 300  # caches off: the TTL as written
    assert [(r.priority, r.weight, r.port, r.target.to_text()) for r in srv] == [
        (10, 50, 5060, f"pbx.{origin}")]
    assert [r.address for r in answer(server, f"pbx.{origin}", "A")] == ["192.0.2.10"]
    assert [r.address for r in answer(server, f"pbx.{origin}", "AAAA")] == ["2001:db8::10"]
    assert [r.strings for r in answer(server, f"_zonesync.srv._sip._udp.{origin}", "TXT")] == [
        (b"owner=zonesync",)]

    # one SRV weight -> exactly one Update
    desired = make_zone(origin, backend.baseline() + sip_records(origin, weight=60))
    plan = provider.plan(desired)
    assert len(plan.changes) == 1
    change = plan.changes[0]
    assert isinstance(change, Update) and change.record._type == "SRV"
    provider.apply(plan)
    assert [r.weight for r in answer(server, f"_sip._udp.{origin}", "SRV")] == [60]
    assert provider.plan(desired) is None

    # delete everything but the baseline
    plan = provider.plan(make_zone(origin, backend.baseline()))
    assert sorted(c.record._type for c in plan.changes) == ["A", "AAAA", "NAPTR", "SRV", "TXT"]
    assert all(isinstance(c, Delete) for c in plan.changes)
    provider.apply(plan)
    assert absent(server, origin, "NAPTR") == dns.rcode.NOERROR  # apex: NODATA
    for name, rdtype in [(f"_sip._udp.{origin}", "SRV"), (f"pbx.{origin}", "A"),
                         (f"pbx.{origin}", "AAAA"), (f"_zonesync.srv._sip._udp.{origin}", "TXT")]:
        absent(server, name, rdtype)
    assert absent(server, f"pbx.{origin}", "A") == dns.rcode.NXDOMAIN
    assert len(answer(server, origin, "NS")) == 1  # root NS untouched
    assert provider.plan(make_zone(origin, backend.baseline())) is None


def test_foreign_records_survive_when_desired_carries_them(backend):
    provider, server = backend.provider(), backend.server
    origin = backend.new_zone("foreign")
    backend.add_foreign(origin)

    existing = Zone(origin, [])
    provider.populate(existing)
    assert {("", "MX"), ("legacy", "A")} <= {(r.name, r._type) for r in existing.records}

    desired = make_zone(origin, backend.baseline() + FOREIGN + sip_records(origin))
    plan = provider.plan(desired)
    assert len(plan.changes) == 5 and all(isinstance(c, Create) for c in plan.changes)
    provider.apply(plan)
    assert provider.plan(desired) is None
    assert [(r.preference, r.exchange.to_text()) for r in answer(server, origin, "MX")] == [
        (10, "mail.elsewhere.example.")]
    assert [r.address for r in answer(server, f"legacy.{origin}", "A")] == ["198.51.100.7"]

    # QUIRK: octoDNS owns the whole zone: whatever the desired zone lacks is Deleted
    plan = provider.plan(make_zone(origin, backend.baseline() + sip_records(origin)))
    assert sorted((type(c).__name__, c.record.name, c.record._type) for c in plan.changes) == [
        ("Delete", "", "MX"), ("Delete", "legacy", "A")]


def test_ttl_only_change_is_one_update(backend):
    provider, server = backend.provider(), backend.server
    origin = backend.new_zone("ttl")
    records = [("pbx", {"type": "A", "ttl": 300, "value": "192.0.2.10"})]
    provider.apply(provider.plan(make_zone(origin, backend.baseline() + records)))
    records = [("pbx", {"type": "A", "ttl": 60, "value": "192.0.2.10"})]
    plan = provider.plan(make_zone(origin, backend.baseline() + records))
    assert [type(c) for c in plan.changes] == [Update]
    provider.apply(plan)
    assert answer(server, f"pbx.{origin}", "A").ttl == 60
    # QUIRK: octoDNS 1.22 has no default TTL: a record without "ttl" fails validation
    with pytest.raises(ValidationError, match="missing ttl"):
        Record.new(Zone(origin, []), "x", {"type": "A", "value": "192.0.2.1"})


def test_naptr_regexp_backslash_must_be_doubled(backend):
    # QUIRK: octoDNS NAPTR values are presentation text inside quotes: a backslash in the
    # regexp must be written doubled ("\\1"); the wire then carries a single backslash and
    # populate returns the doubled form again, so the plan converges.
    provider, server = backend.provider(), backend.server
    origin = backend.new_zone("regexp")
    naptr = ("", {"type": "NAPTR", "ttl": 300, "value": {
        "order": 10, "preference": 50, "flags": "u", "service": "E2U+sip",
        "regexp": "!^(.*)$!sip:\\\\1@example.net!", "replacement": "."}})
    desired = make_zone(origin, backend.baseline() + [naptr])
    provider.apply(provider.plan(desired))
    assert answer(server, origin, "NAPTR")[0].regexp == b"!^(.*)$!sip:\\1@example.net!"
    assert provider.plan(desired) is None


def test_powerdns_single_backslash_servfails_and_looks_in_sync(pdns):
    # QUIRK: PowerDNS's API accepts the undoubled "\1" (204), the record then SERVFAILs
    # ("Unable to parse DNS TXT" in its log) -- and populate hands back the same text, so
    # octoDNS sees no change: a broken record that never shows up in a plan.
    provider = pdns_provider(pdns)
    origin = PowerDnsBackend(pdns).new_zone("regexp1")
    naptr = ("", {"type": "NAPTR", "ttl": 300, "value": {
        "order": 10, "preference": 50, "flags": "u", "service": "E2U+sip",
        "regexp": "!^(.*)$!sip:\\1@example.net!", "replacement": "."}})
    desired = make_zone(origin, [naptr])
    provider.apply(provider.plan(desired))
    assert pdns.query(origin, "NAPTR").rcode() == dns.rcode.SERVFAIL
    assert provider.plan(desired) is None
    assert "Unable to parse DNS TXT" in pdns.log.read_text()


@pytest.mark.bind
def test_bind_single_backslash_fails_client_side(bind):
    # QUIRK: octodns-bind turns values into dnspython rdata: the undoubled "\1" is an invalid
    # escape, apply raises dns.exception.SyntaxError before anything is sent.
    provider = bind_provider(bind)
    origin = "regexp1.example."
    naptr = ("", {"type": "NAPTR", "ttl": 300, "value": {
        "order": 10, "preference": 50, "flags": "u", "service": "E2U+sip",
        "regexp": "!^(.*)$!sip:\\1@example.net!", "replacement": "."}})
    plan = provider.plan(make_zone(origin, [NS_GLUE, naptr]))
    with pytest.raises(dns.exception.SyntaxError):
        provider.apply(plan)
    absent(bind, origin, "NAPTR")


def test_txt_semicolon_must_be_escaped(backend):
    # QUIRK: octoDNS rejects an unescaped ";" in TXT (chunked-value-rfc); written "\;" it is
    # published as a plain ";" and populate returns "\;" again (converges).
    provider, server = backend.provider(), backend.server
    origin = backend.new_zone("semi")
    with pytest.raises(ValidationError, match="unescaped ;"):
        Record.new(Zone(origin, []), "m", {"type": "TXT", "ttl": 300,
                                           "value": "owner=zonesync;id=1"})
    desired = make_zone(origin, backend.baseline() + [
        ("m", {"type": "TXT", "ttl": 300, "value": "owner=zonesync\\;id=1"})])
    provider.apply(provider.plan(desired))
    assert [r.strings for r in answer(server, f"m.{origin}", "TXT")] == [
        (b"owner=zonesync;id=1",)]
    assert provider.plan(desired) is None


@pytest.fixture
def legacy_validators():
    """octoDNS's default validator set for one test (validators are process-global); then back
    to the set zonesync runs with."""
    from octodns.record import Record as OctoRecord
    OctoRecord.enable_validators({"legacy"})
    yield
    OctoRecord.enable_validators({"strict", "best-practice"})


def test_zonesync_validators_reject_a_missing_trailing_dot():
    from octodns.record.exception import ValidationError

    import zonesync.plan  # noqa: F401 - enables strict + best-practice
    with pytest.raises(ValidationError):
        make_zone("trail.example.", [("_sip._udp", {"type": "SRV", "ttl": 300, "value": {
            "priority": 10, "weight": 50, "port": 5060, "target": "pbx.trail.example"}})])


def test_missing_trailing_dot(backend, legacy_validators):
    # QUIRK: octoDNS's default (legacy) validators accept an SRV target without trailing dot.
    # PowerDNS rejects the whole PATCH (422 "Not in expected format", nothing written);
    # octodns-bind lets dnspython make it relative to the zone: pbx.<origin>.<origin>, and the
    # plan never converges (an Update every run).
    provider, server = backend.provider(), backend.server
    origin = backend.new_zone("trail")
    srv = ("_sip._udp", {"type": "SRV", "ttl": 300, "value": {
        "priority": 10, "weight": 50, "port": 5060, "target": f"pbx.{origin}".rstrip(".")}})
    desired = make_zone(origin, backend.baseline() + [srv])
    plan = provider.plan(desired)
    if backend.name == "powerdns":
        with pytest.raises(requests.HTTPError) as info:
            provider.apply(plan)
        assert info.value.response.status_code == 422
        assert "Not in expected format" in info.value.response.text
        absent(server, f"_sip._udp.{origin}", "SRV")
    else:
        provider.apply(plan)
        target = answer(server, f"_sip._udp.{origin}", "SRV")[0].target.to_text()
        assert target == f"pbx.{origin}{origin}"
        again = provider.plan(desired)
        assert again is not None and [type(c) for c in again.changes] == [Update]


# --- PowerDNS specifics -----------------------------------------------------------------------

def test_powerdns_creates_missing_zone(pdns):
    provider = pdns_provider(pdns)
    origin = "created.example."
    # a zone PowerDNS does not know: populate says so, plan is all Creates
    assert provider.populate(Zone(origin, [])) is False
    provider.apply(provider.plan(make_zone(origin, sip_records(origin))))
    # QUIRK: the PATCH 404s, then the provider POSTs the zone: kind "Master"
    # (mode_of_operation default "master"), soa_edit_api stored as given ("default", lower
    # case), no NS rrset at all (nameservers=[]), SOA from default-soa-content with a
    # DEFAULT-edited serial (YYYYMMDD01), not 0.
    zone = pdns.zone(origin)
    assert (zone["kind"], zone["soa_edit_api"]) == ("Master", "default")
    types = sorted(r["type"] for r in zone["rrsets"] if r["name"] == origin)
    assert types == ["NAPTR", "SOA"]
    soa = answer(pdns, origin, "SOA")[0]
    assert soa.mname.to_text() == f"ns1.{origin}" and soa.serial > 2020010100
    absent(pdns, origin, "NS")
    # each later API change bumps the serial (soa_edit_api DEFAULT)
    provider.apply(provider.plan(make_zone(origin, sip_records(origin, weight=60))))
    assert answer(pdns, origin, "SOA")[0].serial == soa.serial + 1
    # static records never probe /config for dynamic (LUA) support
    assert "/servers/localhost/config" not in pdns.log.read_text()

    native = pdns_provider(pdns, mode_of_operation="native", soa_edit_api="epoch")
    origin = "created-native.example."
    native.apply(native.plan(make_zone(origin, sip_records(origin))))
    zone = pdns.zone(origin)
    assert (zone["kind"], zone["soa_edit_api"]) == ("Native", "epoch")


def test_powerdns_disabled_records(pdns):
    provider = pdns_provider(pdns)
    origin = PowerDnsBackend(pdns).new_zone("disabled")
    pdns.patch_rrsets(origin, [{
        "name": f"pbx.{origin}", "type": "A", "ttl": 300, "changetype": "REPLACE",
        "records": [{"content": "192.0.2.10", "disabled": True}]}])
    # QUIRK: the API lists a disabled record, DNS hides it ...
    assert absent(pdns, f"pbx.{origin}", "A") == dns.rcode.NXDOMAIN
    # ... and populate returns it like any other record (the "disabled" flag is dropped) ...
    existing = Zone(origin, [])
    provider.populate(existing)
    assert ("pbx", "A") in {(r.name, r._type) for r in existing.records}
    # ... so a desired zone holding it unchanged plans nothing and it stays dark ...
    record = ("pbx", {"type": "A", "ttl": 300, "value": "192.0.2.10"})
    assert provider.plan(make_zone(origin, [record])) is None
    absent(pdns, f"pbx.{origin}", "A")
    # ... while any change to the rrset REPLACEs it with disabled=false: it comes back.
    record = ("pbx", {"type": "A", "ttl": 60, "value": "192.0.2.10"})
    provider.apply(provider.plan(make_zone(origin, [record])))
    assert answer(pdns, f"pbx.{origin}", "A").ttl == 60


def test_powerdns_wrong_api_key(pdns, caplog):
    caplog.set_level(logging.DEBUG)
    origin = PowerDnsBackend(pdns).new_zone("badapikey")
    wrong = "not-the-key-" + "x" * 12
    provider = PowerDnsProvider("pdns", host="127.0.0.1", port=pdns.api_port, api_key=wrong)
    # QUIRK: populate turns 401 into a bare Exception; apply lets requests' HTTPError through
    with pytest.raises(Exception, match=r"^PowerDNS unauthorized host=127\.0\.0\.1$") as bad:
        provider.populate(Zone(origin, []))
    assert type(bad.value) is Exception
    plan = Plan(Zone(origin, []), make_zone(origin, sip_records(origin)),
                [Create(r) for r in make_zone(origin, sip_records(origin)).records], True)
    with pytest.raises(requests.HTTPError, match="401 Client Error") as info:
        provider.apply(plan)
    texts = [str(bad.value), repr(bad.value), str(info.value), repr(info.value),
             "".join(traceback.format_exception(info.value)), caplog.text, pdns.log.read_text(),
             repr(provider)]
    secret_free(wrong, *texts)
    secret_free(pdns.api_key, *texts)


def test_powerdns_server_gone_mid_apply(tmp_path):
    with PowerDnsServer(tmp_path / "pdns") as server:
        provider = pdns_provider(server)
        origin = "midapply.example."
        plan = provider.plan(make_zone(origin, sip_records(origin)))
        real_post = provider._post

        def post_after_stop(*args, **kwargs):  # PATCH got its 404; die before the POST
            server.stop()
            return real_post(*args, **kwargs)

        provider._post = post_after_stop
        # QUIRK: requests' ConnectionError comes straight through (not a ProviderException)
        with pytest.raises(requests.ConnectionError, match="Connection refused"):
            provider.apply(plan)
        server.start()  # same database
        with pytest.raises(requests.HTTPError) as info:
            server.zone(origin)
        assert info.value.response.status_code == 404

        # QUIRK: a frozen server gives ReadTimeout after `timeout` (default 5 s), but the PATCH
        # is already in its socket: it lands once the server runs again. A timeout means
        # "unknown outcome", never "not applied".
        server.create_zone(origin)
        slow = pdns_provider(server, timeout=1)
        plan = slow.plan(make_zone(origin, sip_records(origin)))
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(requests.exceptions.ReadTimeout):
                slow.apply(plan)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 5
        while server.query(f"pbx.{origin}", "A").rcode() != dns.rcode.NOERROR:
            assert time.monotonic() < deadline, "the timed-out PATCH never landed"
            time.sleep(0.1)


# --- BIND specifics ---------------------------------------------------------------------------

@pytest.mark.bind
def test_bind_populate_empty_zone(bind):
    provider = bind_provider(bind)
    with pytest.warns(DeprecationWarning, match="from_rrs"):
        provider.populate(Zone("flow.example.", []))
    # QUIRK: zone_exists() is always True: an unknown zone only shows up as a failed AXFR
    with pytest.raises(AxfrSourceZoneTransferFailed, match="NOTAUTH|REFUSED"):
        provider.populate(Zone("unknown.example.", []))


@pytest.mark.bind
@pytest.mark.parametrize("algorithm", ["hmac-sha256", "hmac-sha512"])
def test_bind_tsig_algorithms(tmp_path, algorithm):
    key = TsigKey(name="zonesync", algorithm=algorithm)
    zones = {"alg.example": zone_text("alg.example", [])}
    with BindServer(zones, tmp_path / "bind", tsig=key) as server:
        provider = bind_provider(server)
        origin = "alg.example."
        provider.apply(provider.plan(make_zone(origin, [NS_GLUE] + sip_records(origin))))
        assert provider.plan(make_zone(origin, [NS_GLUE] + sip_records(origin))) is None
        assert "TSIG zonesync" in server.log.read_text()


@pytest.mark.bind
def test_bind_needs_axfr_and_update_not_files(tmp_path):
    # QUIRK: Rfc2136Provider takes no directory: it reads with AXFR and writes with UPDATE only.
    # Without transfer rights even plan() fails, whatever the update rights.
    zones = {"noxfr.example": zone_text("noxfr.example", [])}
    with BindServer(zones, tmp_path / "bind", tsig=TsigKey(), allow_transfer=False) as server:
        with pytest.raises(AxfrSourceZoneTransferFailed, match="REFUSED"):
            bind_provider(server).plan(make_zone("noxfr.example.", [NS_GLUE]))


@pytest.mark.bind
def test_bind_tsig_errors_are_clear_and_secret_free(bind, caplog):
    caplog.set_level(logging.DEBUG)
    origin = "badkey.example."
    plan = Plan(Zone(origin, []), make_zone(origin, [NS_GLUE] + sip_records(origin)),
                [Create(r) for r in make_zone(origin, sip_records(origin)).records], True)
    wrong = TsigKey(name=bind.tsig.name)  # right name, another random secret
    texts = []

    # QUIRK: AXFR errors are wrapped (AxfrSourceZoneTransferFailed); UPDATE TSIG errors are
    # dnspython's own exceptions, unwrapped; a REFUSED update is Rfc2136ProviderUpdateFailed.
    with pytest.raises(AxfrSourceZoneTransferFailed,
                       match="The peer didn't like the signature we sent") as info:
        bind_provider(bind, key=wrong).populate(Zone(origin, []))
    texts += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
    with pytest.raises(dns.tsig.PeerBadSignature,
                       match="The peer didn't like the signature we sent") as info:
        bind_provider(bind, key=wrong).apply(plan)
    texts += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]

    unknown = TsigKey(name="nobody", secret=bind.tsig.secret)
    with pytest.raises(AxfrSourceZoneTransferFailed, match="The peer didn't know the key we used"):
        bind_provider(bind, key=unknown).populate(Zone(origin, []))
    with pytest.raises(dns.tsig.PeerBadKey):
        bind_provider(bind, key=unknown).apply(plan)

    unsigned = Rfc2136Provider("bind", host=bind.address, port=bind.port)
    with pytest.raises(AxfrSourceZoneTransferFailed, match="Zone transfer error: REFUSED"):
        unsigned.populate(Zone(origin, []))
    with pytest.raises(Rfc2136ProviderUpdateFailed, match="^Unable to perform update: REFUSED$"):
        unsigned.apply(plan)

    absent(bind, f"pbx.{origin}", "A")  # nothing got through
    texts += [caplog.text, bind.log.read_text(), repr(bind_provider(bind, key=wrong)),
              repr(wrong)]
    assert "BADSIG" in bind.log.read_text() and "BADKEY" in bind.log.read_text()
    secret_free(wrong.secret, *texts)
    secret_free(bind.tsig.secret, *texts)


@pytest.mark.bind
def test_bind_server_gone_mid_apply(tmp_path, monkeypatch):
    zones = {"midapply.example": zone_text("midapply.example", [])}
    with BindServer(zones, tmp_path / "bind", tsig=TsigKey()) as server:
        origin = "midapply.example."
        # update_batch_size=1: one UPDATE message per change; each is atomic on its own
        provider = bind_provider(server, update_batch_size=1)
        plan = provider.plan(make_zone(origin, [NS_GLUE] + sip_records(origin)))
        assert len(plan.changes) == 5
        real_tcp, sent = dns.query.tcp, []

        def tcp_then_stop(*args, **kwargs):
            if sent:
                server.stop()
            sent.append(args[0])
            return real_tcp(*args, **kwargs)

        monkeypatch.setattr(dns.query, "tcp", tcp_then_stop)
        # QUIRK: a dead server is a plain ConnectionRefusedError (OSError), not wrapped; the
        # batches sent before it stay applied (no rollback across batches).
        with pytest.raises(ConnectionRefusedError):
            provider.apply(plan)
        monkeypatch.undo()
        server.start()  # same zone file + journal
        existing = Zone(origin, [])
        provider.populate(existing)
        first = plan.changes[0].record
        assert (first.name, first._type) in {(r.name, r._type) for r in existing.records}
        assert len(existing.records) == 2 + 1  # NS, glue, and only the first change

        # QUIRK: a frozen server gives dns.exception.Timeout after `timeout` (default 15 s)
        # yet the UPDATE lands once it runs again: a timeout means "unknown outcome".
        slow = bind_provider(server, timeout=1)
        plan = slow.plan(make_zone(origin, [NS_GLUE] + sip_records(origin)))
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(dns.exception.Timeout):
                slow.apply(plan)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 5
        while server.query(f"pbx.{origin}", "A").rcode() != dns.rcode.NOERROR:
            assert time.monotonic() < deadline, "the timed-out UPDATE never landed"
            time.sleep(0.1)
