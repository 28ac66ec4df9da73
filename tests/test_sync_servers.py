"""The whole loop against real servers on loopback: PowerDNS (HTTP API) and BIND (RFC 2136 +
TSIG, AXFR), each configured the way a user would, in providers/<name>.yaml with its secret
in the environment. Live state is read back straight from the server with DNS queries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dnsservers import BindServer, PowerDnsServer, TsigKey, tsig_config, zone_text
from tests.helpers import ROOT

ZONESYNC = Path(sys.executable).parent / "zonesync"
FOREIGN_TEXT = """\
mysite.ru. 3600 IN MX 10 mail.mysite.ru.
mail.mysite.ru. 3600 IN A 203.0.113.25
_xmpp-client._tcp.mysite.ru. 3600 IN SRV 5 0 5222 xmpp.mysite.ru.
xmpp.mysite.ru. 3600 IN A 203.0.113.26
"""
class Raw:
    """A record of any type, as zone_text() and the PowerDNS API need it."""

    def __init__(self, line: str):
        self.name, ttl, _in, self.type, rdata = line.split(None, 4)
        self.ttl, self.rdata = int(ttl), rdata
        self.value = type("Value", (), {"to_text": lambda _self, r=rdata: r,
                                        "key": lambda _self, r=rdata: r})()

    def to_text(self) -> str:
        return f"{self.name} {self.ttl} IN {self.type} {self.rdata}"


FOREIGN = [Raw(line) for line in FOREIGN_TEXT.splitlines()]
ZONES = ("mysite.ru", "acme.example", "srvonly.example")


class Backend:
    """A running server plus the providers/ file and environment that point zonesync at it."""

    def __init__(self, kind: str, server, provider_yaml: str, env: dict[str, str]):
        self.kind, self.server, self.provider_yaml, self.env = kind, server, provider_yaml, env

    def rrset(self, name: str, rtype: str) -> set[str]:
        reply = self.server.query(name, rtype)
        return {f"{rr.ttl} {r.to_text()}" for rr in reply.answer for r in rr
                if rr.rdtype == __import__("dns.rdatatype").rdatatype.from_text(rtype)}


def _pdns(tmp: Path):
    server = PowerDnsServer(tmp / "pdns").start()
    for zone in ZONES:
        server.create_zone(zone, nameservers=[f"ns1.{zone}"])
    server.patch_rrsets("mysite.ru", [
        {"name": name, "type": rtype, "ttl": 3600, "changetype": "REPLACE",
         "records": [{"content": r.value.to_text(), "disabled": False}
                     for r in FOREIGN if (r.name, r.type) == (name, rtype)]}
        for name, rtype in sorted({(r.name, r.type) for r in FOREIGN})])
    yaml = (f"class: octodns_powerdns.PowerDnsProvider\ndefault: true\n"
            f"settings:\n  host: 127.0.0.1\n  port: {server.api_port}\n"
            f"  api_key: env/ZS_TEST_PDNS_API_KEY\n  enable_dynamic: false\n"
            f"verify:\n  nameservers: ['{server.nameserver}']\n  wait: 5\n")
    return Backend("pdns", server, yaml, {"ZS_TEST_PDNS_API_KEY": server.api_key})


def _bind(tmp: Path):
    key = TsigKey()
    top, zone_options = tsig_config(key)
    zones = {z: zone_text(z, FOREIGN if z == "mysite.ru" else []) for z in ZONES}
    server = BindServer(zones, tmp / "bind", tsig=key).start()
    yaml = (f"class: octodns_bind.Rfc2136Provider\ndefault: true\n"
            f"settings:\n  host: {server.address}\n  port: {server.port}\n"
            f"  key_name: {key.name}\n  key_secret: env/ZS_TEST_TSIG_SECRET\n"
            f"  key_algorithm: {key.algorithm}\n"
            f"verify:\n  nameservers: ['{server.nameserver}']\n  wait: 5\n")
    return Backend("bind", server, yaml, {"ZS_TEST_TSIG_SECRET": key.secret})


@pytest.fixture(params=["pdns", "bind"])
def backend(request, tmp_path):
    made = (_pdns if request.param == "pdns" else _bind)(tmp_path)
    try:
        yield made
    finally:
        made.server.stop()


@pytest.fixture
def home(tmp_path, backend) -> Path:
    home = tmp_path / "home"
    shutil.copytree(ROOT / "zones", home / "zones")
    (home / "providers").mkdir()
    (home / "providers" / f"{backend.kind}.yaml").write_text(backend.provider_yaml)
    return home


def zs(home: Path, backend: Backend, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONESYNC_")}
    env.update(backend.env)
    run = subprocess.run([str(ZONESYNC), *args], cwd=home, env=env, capture_output=True,
                         text=True, timeout=180)
    for secret in backend.env.values():       # secrets never reach output
        assert secret not in run.stdout + run.stderr
    return run


def foreign_now(backend: Backend) -> dict:
    return {(r.name, r.type): backend.rrset(r.name, r.type) for r in FOREIGN}


def test_whole_loop(backend, home):
    foreign = foreign_now(backend)
    assert all(foreign.values())
    run = zs(home, backend, "sync")
    assert run.returncode == 0, run.stdout + run.stderr
    assert backend.rrset("_sips._tcp.acme.example.", "SRV") == {
        "3600 10 60 5061 sbc1.acme.example.", "3600 10 40 5061 sbc2.acme.example."}
    assert zs(home, backend, "plan", "--exit-code").returncode == 0          # re-plan is empty

    desc = home / "zones" / "acme.example.yaml"
    desc.write_text(desc.read_text().replace("weight: 60", "weight: 70"))
    plan = json.loads(zs(home, backend, "plan", "--format", "json").stdout)
    acme = next(z for z in plan["zones"] if z["zone"] == "acme.example.")
    assert acme["counts"] == {"create": 0, "update": 1, "delete": 0, "adopt": 0, "conflict": 0}
    assert zs(home, backend, "sync").returncode == 0
    assert "3600 10 70 5061 sbc1.acme.example." in backend.rrset("_sips._tcp.acme.example.", "SRV")

    run = zs(home, backend, "resolve", "--json", "--nameserver", backend.server.nameserver,
             "sip:alex@mysite.ru")
    assert [t["host"] for t in json.loads(run.stdout)["targets"]] == ["sip.mysite.ru", "sip2.mysite.ru"]

    (home / "zones" / "mysite.ru.yaml").unlink()                               # removal
    run = zs(home, backend, "sync")                # most of the zone: octoDNS's threshold
    assert run.returncode == 1 and "--force" in run.stdout
    assert len(backend.rrset("mysite.ru.", "NAPTR")) == 4
    run = zs(home, backend, "sync", "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    assert backend.rrset("mysite.ru.", "NAPTR") == set()
    assert backend.rrset("_sip._udp.mysite.ru.", "SRV") == set()
    assert foreign_now(backend) == foreign                                     # SPEC V5


def test_unmarked_naptr_is_reported_as_adopt_and_left_alone(backend, home):
    existing = '10 50 "S" "SIP+D2T" "" _sip._tcp.srvonly.example.'
    if backend.kind == "pdns":
        backend.server.patch_rrsets("srvonly.example", [{
            "name": "srvonly.example.", "type": "NAPTR", "ttl": 600, "changetype": "REPLACE",
            "records": [{"content": existing, "disabled": False}]}])
    else:
        update = backend.server.update("srvonly.example.")
        update.add("srvonly.example.", 600, "NAPTR", existing)
        backend.server.send_update(update)
    desc = home / "zones" / "srvonly.example.yaml"
    desc.write_text(desc.read_text().replace("naptr: false\n", ""))
    plan = json.loads(zs(home, backend, "plan", "--format", "json").stdout)
    srvonly = next(z for z in plan["zones"] if z["zone"] == "srvonly.example.")
    assert srvonly["counts"]["adopt"] == 1
    run = zs(home, backend, "apply", "--no-verify")
    assert run.returncode == 0 and "not adopted" in run.stdout
    assert backend.rrset("srvonly.example.", "NAPTR") == {f"600 {existing}"}


def test_verify_catches_drift_behind_our_back(backend, home):
    assert zs(home, backend, "sync").returncode == 0
    if backend.kind == "pdns":
        # PowerDNS hides a disabled record from DNS while its API still lists it: only a
        # verification over DNS sees that callers get nothing.
        backend.server.patch_rrsets("acme.example", [{
            "name": "_sip._udp.acme.example.", "type": "SRV", "ttl": 3600, "changetype": "REPLACE",
            "records": [{"content": "10 50 5060 sbc1.acme.example.", "disabled": True},
                        {"content": "20 50 5060 sbc2.acme.example.", "disabled": True}]}])
        expected_state = "missing"
    else:
        update = backend.server.update("acme.example.")
        update.replace("_sip._udp.acme.example.", 3600, "SRV", "10 1 5060 sbc1.acme.example.")
        backend.server.send_update(update)
        expected_state = "different"
    run = zs(home, backend, "verify", "acme.example", "--wait", "0", "--format", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads(run.stdout)
    checks = report["zones"][0]["verification"]["checks"]
    bad = [c for c in checks if c["state"] != "ok"]
    assert [(c["name"], c["type"], c["state"]) for c in bad] == [
        ("_sip._udp.acme.example.", "SRV", expected_state)]


def test_server_down_mid_run_then_converges(backend, home):
    backend.server.stop()
    run = zs(home, backend, "sync", "--no-verify")
    assert run.returncode == 1
    assert backend.kind in run.stdout and "acme.example." in run.stdout
    backend.server.start()
    run = zs(home, backend, "sync")
    assert run.returncode == 0, run.stdout + run.stderr
    assert zs(home, backend, "plan", "--exit-code").returncode == 0


def test_verify_servers_come_from_the_zones_ns_records_when_not_configured(tmp_path):
    """Without verify.nameservers the zone's NS set (and its addresses) names the servers."""
    import dns.resolver

    from zonesync.sync import discover_nameservers

    zones = {"mysite.ru": zone_text("mysite.ru", [], ns_address="192.0.2.53")}
    with BindServer(zones, tmp_path / "bind") as server:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = [server.address], server.port
        assert discover_nameservers("mysite.ru", resolver) == (["192.0.2.53:53"], None)
        servers, problem = discover_nameservers("nowhere.example", resolver)
        assert servers == [] and "NS records could not be read" in problem


def test_a_missing_zone_is_created_only_with_create_zones(tmp_path):
    home = tmp_path / "home"
    (home / "zones").mkdir(parents=True)
    shutil.copy(ROOT / "zones" / "srvonly.example.yaml", home / "zones")
    (home / "providers").mkdir()
    with PowerDnsServer(tmp_path / "pdns") as server:
        backend = Backend("pdns", server, "", {"ZS_TEST_PDNS_API_KEY": server.api_key})
        base = (f"class: octodns_powerdns.PowerDnsProvider\ndefault: true\n"
                f"settings:\n  host: 127.0.0.1\n  port: {server.api_port}\n"
                f"  api_key: env/ZS_TEST_PDNS_API_KEY\n  enable_dynamic: false\n"
                f"  mode_of_operation: native\n"
                f"verify:\n  nameservers: ['{server.nameserver}']\n")
        (home / "providers" / "pdns.yaml").write_text(base)
        run = zs(home, backend, "sync")
        assert run.returncode == 1
        assert "does not exist on provider pdns" in run.stdout and "create_zones: true" in run.stdout
        assert server.api("GET", "zones") == []
        (home / "providers" / "pdns.yaml").write_text(base + "create_zones: true\n")
        run = zs(home, backend, "sync")
        assert run.returncode == 0, run.stdout + run.stderr
        assert backend.rrset("_sip._udp.srvonly.example.", "SRV") == {"300 10 50 5070 pbx.srvonly.example."}
