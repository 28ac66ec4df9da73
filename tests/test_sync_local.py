"""The main job on the embedded default, through the real CLI: plan → apply → verify.

Each test works in its own directory laid out as a user's (zones/, providers/, .zonesync/),
and checks the zone file the local provider wrote — the live DNS of this provider.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import CLEAN, ROOT, cli
from zonesync.records import parse_record

FOREIGN = [  # a customer's own records in the same zone: never touched (SPEC V5)
    "mysite.ru. 3600 IN MX 10 mail.mysite.ru.",
    "mail.mysite.ru. 3600 IN A 203.0.113.25",
    "www.mysite.ru. 300 IN A 203.0.113.80",
    '_xmpp-client._tcp.mysite.ru. 3600 IN SRV 5 0 5222 xmpp.mysite.ru.',
    'mysite.ru. 3600 IN TXT "v=spf1 mx -all"',
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "zones", tmp_path / "zones")
    shutil.copytree(ROOT / "providers", tmp_path / "providers")
    return tmp_path


def zs(home: Path, *args: str):
    return cli(*args, cwd=home)


def zone_file(home: Path, zone: str) -> Path:
    return home / ".zonesync" / "zones" / f"{zone}.zone"


def rrsets(home: Path, zone: str) -> dict[tuple[str, str], set[str]]:
    """The zone file as {(name, type): {"ttl rdata", ...}} (comments and layout ignored)."""
    out: dict[tuple[str, str], set[str]] = {}
    for line in zone_file(home, zone).read_text().splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        name, ttl, _in, rtype, rdata = line.split(None, 4)
        out.setdefault((name.lower(), rtype), set()).add(f"{ttl} {' '.join(rdata.split())}")
    return out


def add_by_hand(home: Path, zone: str, lines: list[str]) -> None:
    path = zone_file(home, zone)
    path.write_text(path.read_text() + "".join(line + "\n" for line in lines))


def foreign_sets(lines=FOREIGN) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for line in lines:
        name, ttl, _in, rtype, rdata = line.split(None, 4)
        out.setdefault((name, rtype), set()).add(f"{ttl} {rdata}")
    return out


def plan_json(home: Path, *args: str) -> dict:
    run = zs(home, "plan", "--format", "json", *args)
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


def counts(plan: dict, zone: str) -> dict:
    return next(z["counts"] for z in plan["zones"] if z["zone"] == zone)


def test_first_sync_creates_everything_and_verifies(home):
    run = zs(home, "sync")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "served in-process" in run.stdout          # no dns-serve running: said plainly
    for zone in ("mysite.ru", "acme.example", "srvonly.example"):
        golden = {parse_record(l).key() for l in (ROOT / "tests" / "golden" / f"{zone}.records")
                  .read_text().splitlines() if l.strip()}
        live = {parse_record(f"{n} {v.split(' ', 1)[0]} IN {t} {v.split(' ', 1)[1]}").key()
                for (n, t), vals in rrsets(home, zone).items() if t in ("NAPTR", "SRV", "A", "AAAA")
                for v in vals}
        assert live == golden, zone
    again = zs(home, "plan", "--exit-code")
    assert again.returncode == 0, again.stdout       # re-plan is empty
    assert "no changes" in again.stdout


def test_resolve_against_the_served_files(home):
    assert zs(home, "sync", "--no-verify").returncode == 0
    from zonesync.dnsserve import DnsServer
    with DnsServer(home / ".zonesync" / "zones", "127.0.0.1", 0) as server:
        run = zs(home, "resolve", "--json", "--nameserver", f"127.0.0.1:{server.port}",
                 "sip:alex@mysite.ru")
    result = json.loads(run.stdout)
    assert [(t["transport"], t["host"], t["port"], t["address"]) for t in result["targets"]] == [
        ("udp", "sip.mysite.ru", 5060, "203.0.113.10"), ("udp", "sip2.mysite.ru", 5060, "203.0.113.11")]


def test_foreign_records_survive_everything(home):
    assert zs(home, "sync", "--no-verify").returncode == 0
    add_by_hand(home, "mysite.ru", FOREIGN)
    before = rrsets(home, "mysite.ru")
    assert zs(home, "plan", "--exit-code").returncode == 0     # foreign records: no changes
    desc = home / "zones" / "mysite.ru.yaml"
    desc.write_text(desc.read_text().replace("{host: sip2.mysite.ru}", "{host: sip2.mysite.ru, weight: 7}"))
    plan = plan_json(home)
    assert counts(plan, "mysite.ru.") == {"create": 0, "update": 1, "delete": 0, "adopt": 0, "conflict": 0}
    assert zs(home, "sync").returncode == 0
    after = rrsets(home, "mysite.ru")
    for key, values in foreign_sets().items():
        assert after[key] == values == before[key], key
    assert after[("_sip._udp.second.mysite.ru.", "SRV")] == {"3600 10 7 5060 sip2.mysite.ru."}
    desc.unlink()                                               # the description is removed
    run = zs(home, "sync")                  # most of the zone goes: octoDNS's threshold holds it
    assert run.returncode == 1 and "--force" in run.stdout
    assert rrsets(home, "mysite.ru") == after
    run = zs(home, "sync", "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    left = rrsets(home, "mysite.ru")
    owned_types = {"NAPTR", "SRV"}
    assert {k for k in left if k[1] in owned_types} == {("_xmpp-client._tcp.mysite.ru.", "SRV")}
    assert not any(k[0].startswith("_zonesync.") for k in left)
    for key, values in foreign_sets().items():
        assert left[key] == values, key
    assert ("sip.mysite.ru.", "A") not in left                  # owned hosts went too


def test_unmarked_existing_record_is_adopted_only_when_asked(home):
    (home / "zones" / "acme.example.yaml").unlink()
    (home / "zones" / "srvonly.example.yaml").unlink()
    assert zs(home, "sync", "--no-verify").returncode == 0
    # Someone else's NAPTR at the apex, without a marker: zonesync must not take it silently.
    path = zone_file(home, "mysite.ru")
    text = "\n".join(l for l in path.read_text().splitlines()
                     if not l.startswith(("mysite.ru.\t3600\tIN\tNAPTR", "_zonesync.naptr.")))
    path.write_text(text + '\nmysite.ru. 600 IN NAPTR 5 5 "S" "SIP+D2U" "" _sip._udp.mysite.ru.\n')
    plan = plan_json(home)
    assert counts(plan, "mysite.ru.")["adopt"] == 1
    run = zs(home, "apply", "--no-verify")
    assert run.returncode == 0 and "not adopted" in run.stdout
    assert rrsets(home, "mysite.ru")[("mysite.ru.", "NAPTR")] == {'600 5 5 "S" "SIP+D2U" "" _sip._udp.mysite.ru.'}
    saved = home / "adopt-plan.json"
    assert zs(home, "plan", "--adopt", "--out", str(saved)).returncode == 0
    run = zs(home, "apply", "--plan", str(saved))          # the reviewed plan's --adopt holds
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(rrsets(home, "mysite.ru")[("mysite.ru.", "NAPTR")]) == 4
    assert ("_zonesync.naptr.mysite.ru.", "TXT") in rrsets(home, "mysite.ru")


def test_another_installations_records_are_never_taken(home):
    assert zs(home, "sync", "--no-verify").returncode == 0
    other = dict(__import__("os").environ, ZONESYNC_OWNER="other-team")
    run = __import__("subprocess").run([str(Path(__import__("sys").executable).parent / "zonesync"),
                                        "plan", "--format", "json", "--adopt"], cwd=home, env=other,
                                       capture_output=True, text=True)
    plan = json.loads(run.stdout)
    assert counts(plan, "mysite.ru.")["conflict"] == 7 and counts(plan, "mysite.ru.")["create"] == 0


def test_two_descriptions_in_one_zone_stay_independent(home):
    for f in (home / "zones").glob("*.yaml"):
        f.unlink()
    voice = CLEAN.replace("x.example", "voice.corp.example").replace("hosts:\n  sip.voice", "zone: corp.example\nhosts:\n  sip.voice")
    fax = CLEAN.replace("x.example", "fax.corp.example").replace("hosts:\n  sip.fax", "zone: corp.example\nhosts:\n  sip.fax")
    (home / "zones" / "voice.corp.example.yaml").write_text(voice)
    (home / "zones" / "fax.corp.example.yaml").write_text(fax)
    assert zs(home, "sync").returncode == 0
    fax_before = {k: v for k, v in rrsets(home, "corp.example").items() if "fax" in k[0]}
    assert fax_before
    (home / "zones" / "voice.corp.example.yaml").write_text(voice.replace("  - transport: udp\n    targets: [{host: sip.voice.corp.example}]\n", ""))
    run = zs(home, "apply", "voice.corp.example")
    assert run.returncode == 0, run.stdout + run.stderr
    after = rrsets(home, "corp.example")
    assert {k: v for k, v in after.items() if "fax" in k[0]} == fax_before
    assert ("_sip._udp.voice.corp.example.", "SRV") not in after


def test_saved_plan_applies_exactly_and_refuses_when_stale(home):
    out = home / "plan.json"
    assert zs(home, "plan", "--out", str(out), "--format", "markdown").returncode == 0
    run = zs(home, "apply", "--plan", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert zs(home, "plan", "--out", str(out)).returncode == 0      # nothing to do now
    desc = home / "zones" / "acme.example.yaml"
    desc.write_text(desc.read_text().replace("weight: 60", "weight: 61"))
    run = zs(home, "apply", "--plan", str(out))
    assert run.returncode == 1 and "changed since the plan was made" in run.stdout
    assert ("_sips._tcp.acme.example.", "SRV") in rrsets(home, "acme.example")
    assert "10 60 5061" in " ".join(rrsets(home, "acme.example")[("_sips._tcp.acme.example.", "SRV")])


def test_markdown_plan_is_a_pull_request_comment(home):
    run = zs(home, "plan", "--format", "markdown", "--exit-code")
    assert run.returncode == 2
    assert run.stdout.startswith("## zonesync plan")
    assert "| + | create | `mysite.ru.` | NAPTR |" in run.stdout


def test_a_broken_description_blocks_only_its_zone(home):
    (home / "zones" / "mysite.ru.yaml").write_text("domain: mysite.ru\nsip: [oops\n")
    run = zs(home, "sync", "--no-verify")
    assert run.returncode == 1
    assert "mysite.ru.yaml" in run.stderr + run.stdout
    assert not zone_file(home, "mysite.ru").exists()
    assert zone_file(home, "acme.example").exists()


def test_large_deletes_need_force(home):
    assert zs(home, "sync", "--no-verify").returncode == 0
    desc = home / "zones" / "acme.example.yaml"
    desc.write_text("domain: acme.example\nsip:\n  - transport: tls\n    targets: [{host: sbc9.example.net}]\n")
    run = zs(home, "apply", "acme.example", "--no-verify")
    assert run.returncode == 1 and "--force" in run.stdout
    assert ("_sip._udp.acme.example.", "SRV") in rrsets(home, "acme.example")
    run = zs(home, "apply", "acme.example", "--no-verify", "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ("_sip._udp.acme.example.", "SRV") not in rrsets(home, "acme.example")


def test_provider_file_errors_are_located_and_secrets_never_printed(home, monkeypatch):
    (home / "providers" / "pdns.yaml").write_text(
        "class: octodns_powerdns.PowerDnsProvider\ndefault: true\nsetings: {}\n")
    run = zs(home, "plan")
    assert run.returncode == 1 and "pdns.yaml:3" in run.stderr and "did you mean `settings`" in run.stderr
    secret = "s3cr3t-api-key-value"
    (home / "providers" / "pdns.yaml").write_text(
        "class: octodns_powerdns.PowerDnsProvider\ndefault: true\nsettings:\n  host: 127.0.0.1\n"
        "  port: 9\n  api_key: env/ZS_TEST_PDNS_KEY\n  timeout: 1\n")
    import os, subprocess, sys
    env = dict(os.environ, ZS_TEST_PDNS_KEY=secret)
    run = subprocess.run([str(Path(sys.executable).parent / "zonesync"), "plan", "--format", "json"],
                         cwd=home, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert secret not in run.stdout + run.stderr
    errors = [z["error"] for z in json.loads(run.stdout)["zones"] if z["provider"] == "pdns"]
    assert errors and all("pdns" in e for e in errors)
    env.pop("ZS_TEST_PDNS_KEY")
    run = subprocess.run([str(Path(sys.executable).parent / "zonesync"), "plan"], cwd=home, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "ZS_TEST_PDNS_KEY is not set" in run.stdout + run.stderr


def test_concurrent_runs_are_serialized_per_zone(home):
    """Four syncs at once, each with a different weight for one target: the zone file is never
    torn, every run ends cleanly, and the result is exactly one run's description."""
    import subprocess
    import sys
    desc = home / "zones" / "acme.example.yaml"
    original = desc.read_text()
    runs = []
    for weight in (61, 62, 63, 64):
        work = home.parent / f"w{weight}"
        shutil.copytree(home / "zones", work / "zones")
        shutil.copytree(home / "providers", work / "providers")
        (work / "zones" / "acme.example.yaml").write_text(original.replace("weight: 60", f"weight: {weight}"))
        env = dict(__import__("os").environ, ZONESYNC_STATE_DIR=str(home / ".zonesync"))
        runs.append(subprocess.Popen([str(Path(sys.executable).parent / "zonesync"), "sync",
                                      "--no-verify"], cwd=work, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True))
    outputs = [r.communicate(timeout=120) for r in runs]
    assert all(r.returncode == 0 for r in runs), outputs
    srv = rrsets(home, "acme.example")[("_sips._tcp.acme.example.", "SRV")]
    weights = {int(v.split()[2]) for v in srv if v.endswith("sbc1.acme.example.")}
    assert len(weights) == 1 and weights <= {61, 62, 63, 64}
    assert sum(1 for k in rrsets(home, "acme.example") if k[1] == "SOA") == 1


def test_cli_runs_are_audit_records_in_the_job_store(home):
    """The CLI's syncs land in the same store as the service's jobs: who, what, the result."""
    from zonesync.store import Store

    assert zs(home, "sync", "--no-verify").returncode == 0
    assert zs(home, "apply", "mysite.ru", "--no-verify").returncode == 0
    store = Store(home / ".zonesync" / "zonesync.db")
    jobs = store.list()
    assert len(jobs) == 2 and all(j.requested_by.startswith("cli:") for j in jobs)
    assert all(j.state == "succeeded" and j.result["applied"] for j in jobs)
    first = next(j for j in jobs if not j.domains)
    assert all(a["before"] == [] for a in first.result["applied"])          # nothing owned yet
    assert {tuple(j.domains or ()) for j in jobs} == {(), ("mysite.ru",)}
    assert set(store.domain_states()) == {"mysite.ru", "acme.example", "srvonly.example"}
    store.close()
