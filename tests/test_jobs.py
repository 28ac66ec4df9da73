"""The job runner and its store: real SQLite, real syncs on the embedded default provider.

Each test works in a copy of zones/ and providers/ with its own state directory; the live DNS
of the local provider is its zone files there. Waits poll with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dnsservers import free_port
from tests.helpers import ROOT, ZONESYNC
from zonesync import apply as apply_mod
from zonesync import jobs as jobs_mod
from zonesync import state as S
from zonesync.jobs import Runner, execute
from zonesync.providers.config import Secrets
from zonesync.store import Job, QueueFull, Store
from zonesync.sync import Workspace, plan_all

ZONES = ("acme.example", "mysite.ru", "srvonly.example")


# --- fixtures and helpers --------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("ZONESYNC_OWNER", "ZONESYNC_STATE_DIR", "ZONESYNC_ZONES", "ZONESYNC_PROVIDERS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "zones", tmp_path / "zones")
    shutil.copytree(ROOT / "providers", tmp_path / "providers")
    return tmp_path


def workspace(home: Path) -> Workspace:
    return Workspace(home / "zones", home / "providers", str(home / "state"))


@pytest.fixture
def store(home: Path) -> Store:
    return Store(home / "state" / "zonesync.db")


@pytest.fixture
def runners(home, store):
    """make(**options) → a Runner on this home's store; all stopped at the end."""
    made: list[Runner] = []

    def make(**options) -> Runner:
        options.setdefault("leader_retry", 0.2)
        runner = Runner(options.pop("store", store), lambda: workspace(home), **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.stop(timeout=30)


def zone_file(home: Path, zone: str) -> Path:
    return home / "state" / "zones" / f"{zone}.zone"


def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def converged(home: Path) -> bool:
    ws = workspace(home)
    plan = plan_all(ws.select(), ws.owner)
    assert not plan.errors, plan.errors
    return not plan.has_changes


# --- sync jobs -------------------------------------------------------------------------------

def test_sync_job_plans_applies_verifies_and_writes_the_zone(home, store, runners):
    runner = runners()
    assert runner.start() and runner.is_leader
    job, coalesced = runner.submit("sync", ["mysite.ru."], False, "test")
    assert not coalesced and job.state == "queued" and job.domains == ["mysite.ru"]
    done = runner.wait(job.id, 60)
    assert done.state == "succeeded", done.error
    assert done.attempts == 1 and done.error is None and done.started_at <= done.finished_at
    result = done.result
    assert result["ok"] is True
    assert [z["zone"] for z in result["plan"]["zones"]] == ["mysite.ru."]
    assert result["plan"]["zones"][0]["counts"]["create"] > 0
    assert [(a["zone"], a["provider"], a["ok"]) for a in result["applied"]] == [("mysite.ru.", "local", True)]
    assert result["applied"][0]["applied"]
    assert [(v["zone"], v["ok"]) for v in result["verified"]] == [("mysite.ru.", True)]
    assert set(result["timings"]) == {"plan_s", "apply_s", "verify_s", "total_s"}
    assert "NAPTR" in zone_file(home, "mysite.ru").read_text()
    assert not zone_file(home, "acme.example").exists()            # only the zone asked for
    state = store.domain_states()["mysite.ru"]
    assert state["last_job_id"] == job.id and state["last_ok"] and state["last_verified_ok"]
    assert state["last_success_at"] == state["last_sync_at"]
    assert json.loads(json.dumps(done.to_json()))["id"] == job.id  # JSON all the way


def test_a_sync_job_plans_each_zone_once_under_its_lock(home, store, monkeypatch):
    from zonesync import sync as sync_mod
    planned = []
    real_plan = sync_mod.Target.plan

    def counted(target, *args, **kwargs):
        planned.append(target.zone)
        return real_plan(target, *args, **kwargs)
    monkeypatch.setattr(sync_mod.Target, "plan", counted)
    store.enqueue("sync", None, False, "test")
    state, result, error = execute(store.claim(), workspace(home), store)
    assert state == "succeeded", error
    assert sorted(planned) == sorted(ZONES)   # once each: the plan reported is the one applied
    assert {z["zone"] for z in result["plan"]["zones"]} == {z + "." for z in ZONES}
    assert all(z["counts"]["create"] > 0 for z in result["plan"]["zones"])
    assert result["timings"]["plan_s"] is None and result["timings"]["apply_s"] >= 0


def test_dry_run_is_a_plan_only(home, runners):
    runner = runners()
    runner.start()
    done = runner.wait(runner.submit("sync", None, True, "test")[0].id, 60)
    assert done.state == "succeeded", done.error
    assert set(done.result) == {"plan", "timings"}
    assert {z["zone"] for z in done.result["plan"]["zones"]} == {z + "." for z in ZONES}
    assert all(z["counts"]["create"] > 0 for z in done.result["plan"]["zones"])
    assert not (home / "state" / "zones").exists()
    assert runner.store.domain_states() == {}


def test_unknown_domain_fails_with_the_selection_error(runners):
    runner = runners()
    runner.start()
    done = runner.wait(runner.submit("sync", ["nope.example"], False, "test")[0].id, 60)
    assert done.state == "failed"
    assert "no description or managed zone for 'nope.example'" in done.error
    assert done.result == {"errors": ["no description or managed zone for 'nope.example'"]}


# --- the queue -------------------------------------------------------------------------------

def test_coalescing_while_stopped_and_while_running(runners, store):
    runner = runners()                  # never started: submits only queue
    first, merged = runner.submit("sync", ["mysite.ru"], False, "a")
    assert not merged
    for i in range(99):
        job, merged = runner.submit("sync", ["MySite.RU."], False, f"caller-{i}")
        assert merged and job.id == first.id
    assert store.get(first.id).coalesced == 99
    assert store.counts_by_state() == {"queued": 1, "running": 0, "succeeded": 0, "failed": 0}

    claimed = store.claim()             # now it runs: a hundred more give ONE more queued job
    assert claimed.id == first.id and claimed.state == "running"
    ids = {runner.submit("sync", ["mysite.ru"], False, "b")[0].id for _ in range(100)}
    assert len(ids) == 1 and first.id not in ids
    second = store.get(ids.pop())
    assert second.state == "queued" and second.coalesced == 99


def test_coalescing_covers_supersets_and_all_widens(runners, store):
    runner = runners()
    pair, _ = runner.submit("sync", ["mysite.ru", "acme.example"], False, "a")
    assert runner.submit("sync", ["acme.example"], False, "b") == (store.get(pair.id), True)
    other, merged = runner.submit("sync", ["srvonly.example"], False, "c")
    assert not merged and other.id != pair.id
    dry, merged = runner.submit("sync", ["acme.example"], True, "d")   # dry runs apart
    assert not merged
    drift, merged = runner.submit("drift", ["acme.example"], False, "e")  # kinds apart
    assert not merged
    everything, merged = runner.submit("sync", None, False, "f")      # widens the oldest
    assert merged and everything.id == pair.id and everything.domains is None
    assert everything.coalesced == 2
    assert runner.submit("sync", ["anything.example"], False, "g")[0].id == pair.id
    assert runner.submit("sync", [], False, "h")[0].id == pair.id     # [] means all too
    assert [j.id for j in store.list(domain="acme.example", state="queued")] == \
        [j.id for j in sorted([store.get(pair.id), dry, drift],
                              key=lambda j: (j.created_at, j.id), reverse=True)]
    assert store.claim().id == pair.id                                  # oldest first


def test_queue_full(runners, store):
    runner = runners(max_queued=3)
    for zone in ZONES:
        runner.submit("sync", [zone], False, "a")
    with pytest.raises(QueueFull) as info:
        runner.submit("sync", ["mysite.ru", "acme.example"], False, "a")
    assert 1 <= info.value.retry_after <= 300 and "full" in str(info.value)
    assert runner.submit("sync", ["mysite.ru"], False, "b")[1]         # coalescing still works
    assert store.counts_by_state()["queued"] == 3
    store.claim()                                                        # a slot frees
    runner.submit("sync", ["mysite.ru", "acme.example"], False, "a")


# --- restarts and leadership -----------------------------------------------------------------

def test_a_job_left_running_is_requeued_and_run_on_start(home, store, runners):
    job, _ = store.enqueue("sync", ["srvonly.example"], False, "test")
    assert store.claim().id == job.id               # a process took it and died
    assert store.get(job.id).state == "running"
    runner = runners()
    assert runner.start()
    done = runner.wait(job.id, 60)
    assert done.state == "succeeded", done.error
    assert done.attempts == 2
    assert done.result["interrupted"][0]["attempt"] == 1 and done.result["ok"]
    assert zone_file(home, "srvonly.example").exists()


def test_a_job_interrupted_too_often_is_failed_never_left_running(store):
    job, _ = store.enqueue("sync", ["mysite.ru"], False, "test")
    for attempt in (1, 2):
        assert store.claim().attempts == attempt
        assert store.requeue_interrupted() == [job.id]
        assert store.get(job.id).state == "queued"
    store.claim()
    assert store.requeue_interrupted() == [job.id]
    failed = store.get(job.id)
    assert failed.state == "failed" and "interrupted 3 times" in failed.error
    assert len(failed.result["interrupted"]) == 3
    assert store.counts_by_state()["running"] == 0


LEADER_SCRIPT = """
import sys, time
from pathlib import Path
from zonesync.jobs import Runner
from zonesync.store import Store
from zonesync.sync import Workspace
home = Path(sys.argv[1])
runner = Runner(Store(home / "state" / "zonesync.db"),
                lambda: Workspace(home / "zones", home / "providers", str(home / "state")),
                leader_retry=0.2)
(home / "first-started").write_text(str(runner.start()))
time.sleep(120)
"""


def test_exactly_one_leader_across_processes_and_takeover(home, store, runners):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONESYNC_")}
    first = subprocess.Popen([sys.executable, "-c", LEADER_SCRIPT, str(home)], cwd=ROOT, env=env)
    try:
        marker = home / "first-started"
        until(lambda: marker.exists() and marker.read_text(), 30, "the first process started")
        assert marker.read_text() == "True"
        second = runners()
        assert second.start() is False and not second.is_leader
        # The second process only enqueues; the leader runs the job.
        job, _ = second.submit("sync", ["acme.example"], False, "test")
        assert second.wait(job.id, 60).state == "succeeded"
        assert not second.running and not second.is_leader
        assert Runner(store, lambda: workspace(home)).start() is False   # still exactly one
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        until(lambda: second.is_leader, 5, "the second process took over")
        job, _ = second.submit("sync", ["mysite.ru"], False, "test")
        assert second.wait(job.id, 60).state == "succeeded"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)


def test_two_runners_in_one_process_one_leader_and_stop_hands_over(runners):
    a, b = runners(), runners()
    assert a.start() is True and b.start() is False
    a.stop()
    assert not a.is_leader
    until(lambda: b.is_leader, 5, "b took over after a stopped")


# --- concurrency -----------------------------------------------------------------------------

def test_fifty_concurrent_submits_all_end_and_converge(home, store, runners):
    runner = runners(workers=4)
    runner.start()
    choices = [None, ["mysite.ru"], ["acme.example"], ["srvonly.example"],
               ["mysite.ru", "acme.example"], ["acme.example", "srvonly.example"], list(ZONES)]
    ids, errors = set(), []
    lock = threading.Lock()

    def caller(n: int, count: int) -> None:
        rng = random.Random(n)
        for _ in range(count):
            try:
                job, _ = runner.submit("sync", rng.choice(choices), rng.random() < 0.2, f"t{n}")
                with lock:
                    ids.add(job.id)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=caller, args=(n, 7 if n < 2 else 6)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sum(1 for t in threads if t.is_alive()) == 0
    ended = [runner.wait(job_id, 120) for job_id in sorted(ids)]
    assert all(j.state == "succeeded" for j in ended), [(j.id, j.error) for j in ended if j.error]
    assert sum(1 + j.coalesced for j in ended) == 50
    assert store.counts_by_state()["queued"] == store.counts_by_state()["running"] == 0
    assert converged(home)
    run = subprocess.run([str(ZONESYNC), "--zones", str(home / "zones"), "--providers",
                          str(home / "providers"), "plan", "--exit-code"], cwd=home,
                         env=dict(os.environ, ZONESYNC_STATE_DIR=str(home / "state")),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_two_jobs_on_one_zone_never_apply_at_once(home, store, runners, monkeypatch):
    inside: dict[str, int] = {}
    peak: dict[str, int] = {}
    spans: list[tuple[str, float, float]] = []
    guard = threading.Lock()
    real = apply_mod._apply_locked

    def spy(state, provider, plan, *args):
        with guard:
            inside[plan.zone] = inside.get(plan.zone, 0) + 1
            peak[plan.zone] = max(peak.get(plan.zone, 0), inside[plan.zone])
        start = time.time()
        time.sleep(0.3)                 # widen the window two unserialized applies would share
        try:
            return real(state, provider, plan, *args)
        finally:
            with guard:
                inside[plan.zone] -= 1
                spans.append((plan.zone, start, time.time()))

    monkeypatch.setattr(apply_mod, "_apply_locked", spy)
    runner = runners(workers=2)
    one, _ = runner.submit("sync", ["mysite.ru"], False, "a")         # both start with mysite.ru
    two, _ = runner.submit("sync", ["mysite.ru", "srvonly.example"], False, "b")
    assert one.id != two.id
    runner.start()
    one, two = runner.wait(one.id, 60), runner.wait(two.id, 60)
    assert one.state == two.state == "succeeded", (one.error, two.error)
    assert max(one.started_at, two.started_at) < min(one.finished_at, two.finished_at)  # concurrent
    mysite = sorted((s, e) for z, s, e in spans if z == "mysite.ru.")
    assert len(mysite) == 2 and peak["mysite.ru."] == 1
    assert mysite[0][1] <= mysite[1][0]                  # the second began after the first ended
    assert max(one.started_at, two.started_at) < mysite[0][1]  # ...while both jobs were running


def test_a_zone_locked_elsewhere_waits_for_the_lock(home, store, runners):
    """The zone lock is an flock: a CLI run in another process holding it holds the job too."""
    runner = runners()
    runner.start()
    with S.zone_lock(home / "state", "mysite.ru."):
        job, _ = runner.submit("sync", ["mysite.ru"], False, "test")
        until(lambda: store.get(job.id).state == "running", 30, "the job started")
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:      # held: nothing applied for as long as we hold it
            assert not zone_file(home, "mysite.ru").exists()
            assert store.get(job.id).state == "running"
            time.sleep(0.05)
    assert runner.wait(job.id, 60).state == "succeeded"
    assert zone_file(home, "mysite.ru").exists()


@pytest.mark.parametrize("limit", [1, 2])
def test_provider_concurrency_is_bounded(home, store, runners, monkeypatch, limit):
    inside = [0, 0]                     # now, peak
    cond = threading.Condition()
    real = jobs_mod.run

    def spy(*args, **kwargs):
        with cond:
            inside[0] += 1
            inside[1] = max(inside[1], inside[0])
            cond.notify_all()
            # Wait (bounded) for company: a second job gets in only if the limit lets it.
            cond.wait_for(lambda: inside[1] >= 2, timeout=0.5 if limit == 1 else 10)
        try:
            return real(*args, **kwargs)
        finally:
            with cond:
                inside[0] -= 1

    monkeypatch.setattr(jobs_mod, "run", spy)
    runner = runners(workers=3, provider_concurrency=limit)
    ids = [runner.submit("sync", [zone], False, "t")[0].id for zone in ZONES]
    runner.start()
    assert all(runner.wait(i, 60).state == "succeeded" for i in ids)
    assert inside[1] == limit


# --- failures --------------------------------------------------------------------------------

def test_a_failing_provider_fails_the_job_naming_provider_and_zone_without_secrets(
        home, store, runners, monkeypatch):
    secret = "jobs-s3cr3t-api-key"
    monkeypatch.setenv("ZS_TEST_JOBS_PDNS_KEY", secret)
    (home / "providers" / "local.yaml").unlink()
    (home / "providers" / "pdns.yaml").write_text(
        "class: octodns_powerdns.PowerDnsProvider\ndefault: true\nsettings:\n  host: 127.0.0.1\n"
        f"  port: {free_port()}\n  api_key: env/ZS_TEST_JOBS_PDNS_KEY\n  timeout: 1\n")
    runner = runners()
    runner.start()
    done = runner.wait(runner.submit("sync", ["mysite.ru"], False, "test")[0].id, 120)
    assert done.state == "failed"
    assert "mysite.ru." in done.error and "pdns" in done.error and "\n" not in done.error
    assert done.error.startswith("1 of 1 zone(s) failed: mysite.ru. on pdns:")
    assert secret not in done.error and secret not in json.dumps(done.to_json())
    assert done.result["ok"] is False
    assert store.domain_states()["mysite.ru"]["last_ok"] is False
    assert store.domain_states()["mysite.ru"]["last_success_at"] is None


def test_an_unexpected_exception_is_a_failed_job_logged_once_and_scrubbed(
        home, store, monkeypatch, caplog):
    secret = "unexpected-s3cr3t-value"
    Secrets.add(secret)

    def boom(*args, **kwargs):
        raise RuntimeError(f"provider said {secret}")

    monkeypatch.setattr(jobs_mod, "run", boom)   # a sync (not a dry run) plans inside run()
    store.enqueue("sync", ["mysite.ru"], False, "test")
    job = store.claim()
    with caplog.at_level(logging.ERROR, logger="zonesync.jobs"):
        state, result, error = execute(job, workspace(home), store)
    assert state == "failed" and error == "unexpected error: RuntimeError: provider said ***"
    records = [r for r in caplog.records if r.name == "zonesync.jobs"]
    assert len(records) == 1 and records[0].levelno == logging.ERROR
    text = records[0].getMessage()
    assert "Traceback" in text and job.id in text and secret not in text


def test_a_workspace_that_cannot_be_built_fails_the_job(home, runners):
    calls = []

    def factory():
        calls.append(1)
        raise OSError("disk gone")

    runner = Runner(Store(home / "state" / "zonesync.db"), factory)
    try:
        runner.start()
        done = runner.wait(runner.submit("sync", None, False, "t")[0].id, 30)
        assert done.state == "failed" and "OSError: disk gone" in done.error and calls
    finally:
        runner.stop()


# --- drift -----------------------------------------------------------------------------------

@dataclass
class FakeReport:
    domain: str
    zone: str
    provider: str
    state: str
    drifted: int

    def to_json(self) -> dict:
        return {"domain": self.domain, "zone": self.zone, "provider": self.provider,
                "state": self.state, "drifted": self.drifted}


def test_drift_job_records_reports_and_remediates(home, store, runners, monkeypatch):
    calls = []

    def check(ws, domains):
        calls.append(domains)
        return [FakeReport("mysite.ru", "mysite.ru.", "local", "drift", 2),
                FakeReport("acme.example", "acme.example.", "local", "clean", 0)]

    monkeypatch.setattr(jobs_mod, "_check_drift", check)
    runner = runners(remediate=True)
    runner.start()
    done = runner.wait(runner.submit("drift", None, False, "test")[0].id, 60)
    assert done.state == "succeeded", done.error
    assert calls == [()]
    assert [r["state"] for r in done.result["reports"]] == ["drift", "clean"]
    [fix] = done.result["remediation"]
    assert fix["domain"] == "mysite.ru"
    fixed = runner.wait(fix["job"], 60)
    assert fixed.state == "succeeded" and fixed.requested_by == "drift-remediation"
    assert fixed.domains == ["mysite.ru"] and zone_file(home, "mysite.ru").exists()
    latest = store.latest_drift("mysite.ru")
    assert [(r["provider"], r["state"], r["drifted"]) for r in latest] == [("local", "drift", 2)]
    assert latest[0]["checked_at"] >= done.started_at
    assert len(store.latest_drift()) == 2


def test_drift_job_without_remediation_and_with_errors(home, store, runners, monkeypatch):
    monkeypatch.setattr(jobs_mod, "_check_drift", lambda ws, domains: [
        FakeReport("mysite.ru", "mysite.ru.", "local", "drift", 1),
        {"domain": "acme.example", "zone": "acme.example.", "provider": "local",
         "state": "error", "drifted": 0, "error": "server down"}])
    runner = runners()
    runner.start()
    done = runner.wait(runner.submit("drift", ["mysite.ru", "acme.example"], False, "t")[0].id, 60)
    assert done.state == "failed"
    assert done.error == "drift check failed for acme.example. on local: server down"
    assert done.result["remediation"] == []
    assert store.list(state="queued") == [] and len(store.list()) == 1
    assert {r["domain"]: r["state"] for r in store.latest_drift()} == {
        "acme.example": "error", "mysite.ru": "drift"}


def test_the_scheduler_queues_drift_checks(home, store, runners, monkeypatch):
    seen = []
    monkeypatch.setattr(jobs_mod, "_check_drift", lambda ws, domains: seen.append(domains) or [])
    leader, other = runners(drift_interval=0.3), runners(drift_interval=0.3)
    started = time.time()
    assert leader.start() and not other.start()
    scheduled = until(lambda: [j for j in store.list(state="succeeded")
                               if j.kind == "drift" and j.requested_by == "scheduler"],
                      15, "a scheduled drift check ran")
    assert scheduled[-1].created_at >= started + 0.25      # the first after one interval
    assert scheduled[-1].domains is None and seen[0] == ()
    assert not any(t.name == "zonesync-drift-scheduler" for t in other._threads)


# --- audit -----------------------------------------------------------------------------------

def test_record_run_and_listing(home, store, runners):
    t0 = time.time()
    cli_run = store.record_run("sync", ["mysite.ru"], False, "cli:alice", "succeeded",
                               {"ok": True}, None, t0, t0 + 1.5)
    assert store.get(cli_run.id) == cli_run
    assert cli_run.state == "succeeded" and cli_run.attempts == 1 and cli_run.finished_at == t0 + 1.5
    everything, _ = store.enqueue("sync", None, True, "api:bob")
    acme, _ = store.enqueue("sync", ["acme.example"], False, "api:bob")
    failed = store.record_run("sync", ["acme.example"], False, "cli:carol", "failed", None,
                              "acme.example. on local: boom", t0, t0 + 2)
    ids = lambda jobs: [j.id for j in jobs]                                  # noqa: E731
    assert set(ids(store.list(domain="mysite.ru"))) == {cli_run.id, everything.id}
    assert set(ids(store.list(domain="ACME.example."))) == {everything.id, acme.id, failed.id}
    assert ids(store.list(state="failed")) == [failed.id]
    assert ids(store.list(domain="acme.example", state="queued", limit=1)) == [acme.id]
    assert len(store.list(limit=2)) == 2
    assert store.counts_by_state() == {"queued": 2, "running": 0, "succeeded": 1, "failed": 1}
    with pytest.raises(ValueError):
        store.record_run("sync", None, False, "cli", "running", None, None, t0, t0)


def test_domain_state_keeps_the_last_success_and_ignores_older_records(store):
    store.record_domain_sync("mysite.ru", "j1", True, 100.0, verified=True)
    store.record_domain_sync("mysite.ru", "j2", False, 200.0)
    store.record_domain_sync("mysite.ru", "j0", True, 50.0)             # late, older: ignored
    assert store.domain_states() == {"mysite.ru": {
        "last_sync_at": 200.0, "last_job_id": "j2", "last_ok": False,
        "last_success_at": 100.0, "last_verified_ok": True}}


def test_schema_is_versioned_and_reopened(home, store):
    again = Store(store.path)
    conn = again._conn()
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    job, _ = store.enqueue("drift", None, False, "t")
    assert isinstance(again.get(job.id), Job)


def test_drift_job_with_the_real_check_finds_and_remediates_a_hand_edit(home, store, runners):
    import zonesync.drift  # noqa: F401 - the real check, not a stand-in
    runner = runners(remediate=True)
    runner.start()
    assert runner.wait(runner.submit("sync", None, False, "t")[0].id, 60).state == "succeeded"
    path = zone_file(home, "mysite.ru")
    path.write_text(path.read_text().replace("sip2.mysite.ru.", "sip9.mysite.ru."))
    done = runner.wait(runner.submit("drift", None, False, "t")[0].id, 60)
    assert done.state == "succeeded", done.error
    assert {r["domain"]: r["state"] for r in done.result["reports"]} == {
        "acme.example": "clean", "mysite.ru": "drift", "srvonly.example": "clean"}
    [fix] = done.result["remediation"]
    assert runner.wait(fix["job"], 60).state == "succeeded"
    assert "sip9" not in path.read_text() and converged(home)
