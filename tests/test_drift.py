"""Drift on the embedded default: live zone files edited behind zonesync's back."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest

from tests.dnsservers import free_port
from tests.helpers import CLEAN, ROOT, cli
from zonesync import drift as D
from zonesync.dnsserve import RELOAD_INTERVAL, DnsServer
from zonesync.drift import check_drift
from zonesync.plan import Plan, ZonePlan
from zonesync.sync import Workspace, run

SIPS = ("_sips._tcp.acme.example.", "SRV")
SBC2_A = ("sbc2.acme.example.", "A")


@pytest.fixture
def home(tmp_path: Path):
    """zones/ and providers/ as shipped, synced once into tmp/state, then answered by the
    embedded responder (as `zonesync dns-serve` would) on a port of this test's own."""
    shutil.copytree(ROOT / "zones", tmp_path / "zones")
    shutil.copytree(ROOT / "providers", tmp_path / "providers")
    local = tmp_path / "providers" / "local.yaml"
    shipped = local.read_text()
    assert "127.0.0.1:5353" in shipped
    # Not a `dns-serve` someone left running on 5353: verify serves the files in-process.
    local.write_text(shipped.replace("127.0.0.1:5353", f"127.0.0.1:{free_port()}"))
    world = workspace(tmp_path)
    result = run(world, world.select(), wait=0)
    assert result.ok, result.to_json()
    with DnsServer(tmp_path / "state" / "zones", "127.0.0.1", 0) as server:
        local.write_text(shipped.replace("127.0.0.1:5353", server.endpoint))
        tmp_path.joinpath(".port").write_text(server.endpoint)
        yield tmp_path


def workspace(home: Path) -> Workspace:
    return Workspace(home / "zones", home / "providers", str(home / "state"))


def zone_file(home: Path, zone: str) -> Path:
    return home / "state" / "zones" / f"{zone}.zone"


def snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*"))
            if p.is_file() and p.name != ".port"}


def edit_behind_the_back(home: Path) -> None:
    """A weight changed and an owned A record deleted in the live zone file."""
    path = zone_file(home, "acme.example")
    text = path.read_text()
    assert "\tSRV\t10 40 5061 sbc2.acme.example." in text
    text = text.replace("\tSRV\t10 40 5061 sbc2.acme.example.", "\tSRV\t10 41 5061 sbc2.acme.example.")
    lines = [l for l in text.splitlines(keepends=True) if not l.startswith("sbc2.acme.example.\t3600\tIN\tA\t")]
    assert len(lines) == len(text.splitlines()) - 1
    path.write_text("".join(lines))
    time.sleep(RELOAD_INTERVAL + 0.2)        # the responder looks at its files twice a second


def by_domain(reports) -> dict[str, D.DriftReport]:
    return {r.domain: r for r in reports}


def keys(report, source=None) -> set[tuple[str, str]]:
    return {(c["name"], c["type"]) for c in report.checks if source in (None, c["source"])}


def test_clean_after_sync(home):
    before = snapshot(home)
    reports = check_drift(workspace(home))
    assert [(r.domain, r.zone, r.provider, r.state, r.drifted, r.checks, r.error) for r in reports] == [
        ("acme.example", "acme.example.", "local", "clean", 0, [], None),
        ("mysite.ru", "mysite.ru.", "local", "clean", 0, [], None),
        ("srvonly.example", "srvonly.example.", "local", "clean", 0, [], None)]
    assert all(r.checked_at > 0 for r in reports)
    assert json.loads(json.dumps([r.to_json() for r in reports]))[0]["state"] == "clean"
    assert snapshot(home) == before


def test_edits_behind_zonesyncs_back_are_drift(home):
    edit_behind_the_back(home)
    before = snapshot(home)
    reports = by_domain(check_drift(workspace(home)))
    acme = reports["acme.example"]
    assert (acme.state, acme.drifted, acme.error) == ("drift", 2, None)
    assert keys(acme, "provider") == keys(acme, "dns") == {SIPS, SBC2_A}   # both views agree
    checks = {(c["source"], c["name"], c["type"]): c for c in acme.checks}
    srv = checks[("dns", *SIPS)]
    assert srv["state"] == "different"
    assert srv["expected"] == ["10 40 5061 sbc2.acme.example.", "10 60 5061 sbc1.acme.example."]
    assert srv["live"] == ["10 41 5061 sbc2.acme.example.", "10 60 5061 sbc1.acme.example."]
    assert checks[("provider", *SIPS)]["action"] == "update"
    a = checks[("dns", *SBC2_A)]
    assert (a["state"], a["expected"], a["live"]) == ("missing", ["192.0.2.11"], [])
    assert (checks[("provider", *SBC2_A)]["state"], checks[("provider", *SBC2_A)]["action"]) == \
        ("missing", "create")
    assert reports["mysite.ru"].state == reports["srvonly.example"].state == "clean"
    assert snapshot(home) == before                                 # drift never writes
    only = check_drift(workspace(home), ["acme.example"])
    assert [(r.domain, r.state) for r in only] == [("acme.example", "drift")]
    assert snapshot(home) == before


def test_owned_records_zones_no_longer_describe_are_extra(home):
    desc = home / "zones" / "srvonly.example.yaml"
    desc.write_text(desc.read_text().replace(
        "  - transport: udp\n    targets:\n      - {host: pbx.srvonly.example, port: 5070}\n", ""))
    report = by_domain(check_drift(workspace(home)))["srvonly.example"]
    assert (report.state, report.drifted) == ("drift", 1)
    udp = [c for c in report.checks if c["name"] == "_sip._udp.srvonly.example."]
    assert {(c["source"], c["state"]) for c in udp} == {("provider", "extra"), ("dns", "extra")}
    # its ownership marker goes with it: counted once, as the RRset it marks
    assert any(c["marker"] for c in report.checks if c["source"] == "provider")


def test_each_description_in_a_shared_zone_gets_its_own_report(home):
    for f in (home / "zones").glob("*.yaml"):
        f.unlink()
    for name in ("voice", "fax"):
        (home / "zones" / f"{name}.corp.example.yaml").write_text(
            CLEAN.replace("x.example", f"{name}.corp.example")
                 .replace("hosts:", "zone: corp.example\nhosts:", 1))
    world = workspace(home)
    assert run(world, world.select(), wait=0, verify=False, force=True).ok
    path = zone_file(home, "corp.example")
    path.write_text(path.read_text().replace("sip.fax.corp.example.\t3600\tIN\tA\t192.0.2.1",
                                             "sip.fax.corp.example.\t3600\tIN\tA\t192.0.2.99"))
    time.sleep(RELOAD_INTERVAL + 0.2)
    reports = check_drift(workspace(home))
    assert {r.domain: (r.zone, r.state, r.drifted) for r in reports} == {
        "fax.corp.example": ("corp.example.", "drift", 1),
        "voice.corp.example": ("corp.example.", "clean", 0)}
    fax = by_domain(reports)["fax.corp.example"]
    assert {(c["name"], c["type"]) for c in fax.checks} == {("sip.fax.corp.example.", "A")}
    assert [r.domain for r in check_drift(workspace(home), ["voice.corp.example"])] == \
        ["voice.corp.example"]


def test_pending_is_not_drift_and_indeterminate_is_an_error(home, monkeypatch):
    edit_behind_the_back(home)
    real = D.verify_target

    def as_state(state):
        def fake(target, **kw):
            out = real(target, **kw)
            checks = [dataclasses.replace(c, state=state) if c.state != "ok" else c
                      for c in out.result.checks]
            out.result = dataclasses.replace(out.result, checks=checks)
            return out
        return fake

    # The provider already holds what zones/ says; a server is behind: pending, not drift.
    monkeypatch.setattr(D, "plan_all", lambda selection, owner: Plan(
        [ZonePlan(t.zone + ".", t.provider.name) for t in selection.targets], owner))
    monkeypatch.setattr(D, "verify_target", as_state("pending"))
    acme = by_domain(check_drift(workspace(home)))["acme.example"]
    assert (acme.state, acme.drifted, len(acme.checks)) == ("pending", 0, 2)
    monkeypatch.setattr(D, "verify_target", as_state("indeterminate"))
    acme = by_domain(check_drift(workspace(home)))["acme.example"]
    assert acme.state == "error" and "indeterminate" in acme.error


def test_unknown_domain_is_an_error_report(home):
    reports = check_drift(workspace(home), ["nowhere.example"])
    assert [(r.state, "nowhere.example" in r.error) for r in reports] == [("error", True)]


# --- the command, for cron and CI ----------------------------------------------------------------

def zs(home: Path, *args: str):
    return cli("--state", "state", *args, cwd=home)


def test_cli_exit_codes(home):
    before = snapshot(home)
    clean = zs(home, "drift", "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    data = json.loads(clean.stdout)
    assert (data["ok"], data["state"], data["drifted"]) == (True, "clean", 0)
    assert [r["state"] for r in data["reports"]] == ["clean"] * 3
    text = zs(home, "drift")
    assert text.returncode == 0 and "acme.example on local: clean" in text.stdout

    edit_behind_the_back(home)
    before = snapshot(home)
    drifted = zs(home, "drift", "--json")
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    data = json.loads(drifted.stdout)
    assert (data["ok"], data["state"], data["drifted"]) == (False, "drift", 2)
    acme = next(r for r in data["reports"] if r["domain"] == "acme.example")
    assert {(c["name"], c["type"]) for c in acme["checks"]} == {SIPS, SBC2_A}
    text = zs(home, "drift")
    assert text.returncode == 2
    assert "acme.example on local: DRIFT — 2 RRsets" in text.stdout
    assert "expected: TTL 3600  10 40 5061 sbc2.acme.example. | 10 60 5061 sbc1.acme.example." in text.stdout
    assert "live:     TTL 3600  10 41 5061 sbc2.acme.example. | 10 60 5061 sbc1.acme.example." in text.stdout
    assert "missing       sbc2.acme.example. A" in text.stdout
    assert zs(home, "drift", "mysite.ru").returncode == 0            # only that zone
    assert snapshot(home) == before

    dead = home / "dead-providers"
    dead.mkdir()
    (dead / "pdns.yaml").write_text(
        "class: octodns_powerdns.PowerDnsProvider\ndefault: true\nsettings:\n  host: 127.0.0.1\n"
        "  port: 9\n  api_key: x\n  timeout: 1\n"
        # DNS itself answers (the embedded responder): the provider's API being down is an
        # error all the same.
        f"verify:\n  nameservers: [{(home / '.port').read_text()}]\n")
    before = snapshot(home)
    error = zs(home, "--providers", str(dead), "drift", "--json")
    assert error.returncode == 1, error.stdout + error.stderr
    data = json.loads(error.stdout)
    assert data["state"] == "error"
    assert all(r["state"] == "error" and "pdns" in r["error"] for r in data["reports"])
    assert zs(home, "--providers", str(dead), "drift").returncode == 1
    assert snapshot(home) == before


def test_cli_problems_exit_1(home):
    (home / "providers" / "broken.yaml").write_text("class: nope\nsetings: {}\n")
    run = zs(home, "drift", "--json")
    assert run.returncode == 1
    assert json.loads(run.stdout)["state"] == "error"
    (home / "providers" / "broken.yaml").unlink()
    empty = home / "empty"
    empty.mkdir()
    run = zs(home, "--zones", str(empty), "--state", str(home / "other-state"), "drift")
    assert run.returncode == 1 and "nothing to check" in run.stderr
