"""The service as it runs in production: gunicorn with two workers, over real HTTP.

Both workers build the app and start a runner; exactly one takes the runner lock and runs
the jobs. Checked: the provisioning flow over HTTP, every job executed exactly once (one
attempt, one finish), one leader (by /readyz, which says which pid answered and whether it
runs the jobs), and no secret in gunicorn's output.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.dnsservers import free_port, require
from tests.helpers import ROOT

GUNICORN = Path(sys.executable).parent / "gunicorn"
TOKEN = "gu-0123456789abcdef-admin"
SECRET = "whsec-gunicorn-0123456789"
NEW = {"hosts": {"sip.gunicorn.example": ["192.0.2.80"]},
       "sip": [{"transport": t, "targets": [{"host": "sip.gunicorn.example"}]}
               for t in ("tls", "tcp", "udp")]}



@pytest.fixture
def server(tmp_path: Path):
    yield from _gunicorn(tmp_path, {})


@pytest.fixture
def split_server(tmp_path: Path):
    """The API's workers only queue jobs; `zonesync runner` (started by the test) runs them."""
    yield from _gunicorn(tmp_path, {"ZONESYNC_START_RUNNER": "false"})


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONESYNC_")}
    env.update({"ZONESYNC_ZONES": str(tmp_path / "zones"),
                "ZONESYNC_PROVIDERS": str(tmp_path / "providers"),
                "ZONESYNC_STATE_DIR": str(tmp_path / "state"),
                "ZONESYNC_TOKENS": f"ops:read,sync,write:{TOKEN}",
                "ZONESYNC_WEBHOOK_SECRET": SECRET})
    return env


def _gunicorn(tmp_path: Path, extra: dict[str, str]):
    require(GUNICORN.exists(), f"gunicorn is missing ({GUNICORN}): pip install gunicorn")
    shutil.copytree(ROOT / "zones", tmp_path / "zones")
    shutil.copytree(ROOT / "providers", tmp_path / "providers")
    port = free_port()
    env = _env(tmp_path) | extra
    log = open(tmp_path / "gunicorn.log", "w+")
    proc = subprocess.Popen(
        [str(GUNICORN), "-w", "2", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10",
         "--log-level", "info", "zonesync.api:create_app()"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"gunicorn exited: {_read(log)[-4000:]}"
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not answer: {_read(log)[-4000:]}"
            time.sleep(0.2)
        yield base, tmp_path, proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def _read(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


def call(method: str, url: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    # a new connection each time, so that both workers get requests
    return requests.request(method, url, headers={**headers, "Connection": "close"},
                            timeout=30, **kwargs)


def wait(base: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = call("GET", f"{base}/v1/syncs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']}"
        time.sleep(0.1)


def test_gunicorn_two_workers_one_runner(server):
    from zonesync.store import Store

    base, home, proc, log = server
    r = call("PUT", f"{base}/v1/domains/gunicorn.example", json=NEW)
    assert r.status_code == 201, r.text
    assert (home / "zones" / "gunicorn.example.yaml").is_file()

    r = call("POST", f"{base}/v1/syncs", json={"domains": ["gunicorn.example"]})
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/v1/syncs/{r.json()['id']}"
    job = wait(base, r.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["attempts"] == 1 and job["requested_by"] == "ops"
    assert "sip.gunicorn.example." in (home / "state" / "zones" / "gunicorn.example.zone").read_text()

    # more jobs, submitted through whichever worker answers: each runs exactly once
    ids = set()
    for i in range(12):
        body = {"domains": ["acme.example", "mysite.ru", "srvonly.example"][i % 3:],
                "dry_run": i % 2 == 0}
        r = call("POST", f"{base}/v1/syncs", json=body)
        assert r.status_code == 202, r.text
        ids.add(r.json()["id"])
    jobs = [wait(base, i) for i in ids]
    assert all(j["state"] == "succeeded" for j in jobs), [j["error"] for j in jobs]

    store = Store(home / "state" / "zonesync.db")
    everything = store.list(limit=1000)
    assert len(everything) == len(ids) + 1
    assert all(j.attempts == 1 and j.state == "succeeded" for j in everything)
    assert store.counts_by_state() == {"queued": 0, "running": 0, "succeeded": len(ids) + 1,
                                       "failed": 0}

    # exactly one of the workers leads: the runner lock names a worker of this gunicorn, and
    # every worker that answers /readyz says whether it is that one
    leader = int((home / "state" / "runner.lock").read_text().split()[0])
    assert _parent(leader) == proc.pid
    seen: dict[int, bool] = {}
    for _ in range(200):
        runner = requests.get(f"{base}/readyz", headers={"Connection": "close"},
                              timeout=10).json()["checks"]["runner"]
        seen[runner["pid"]] = runner["leader_here"]
        if len(seen) == 2:
            break
    assert all(_parent(pid) == proc.pid for pid in seen)
    assert all(leads == (pid == leader) for pid, leads in seen.items()), (leader, seen)

    # metrics from either worker read the same store
    for _ in range(4):
        text = requests.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=10).text
        assert f'zonesync_jobs{{state="succeeded"}} {float(len(ids) + 1)}' in text

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    output = _read(log)
    assert TOKEN not in output and SECRET not in output
    assert "Traceback" not in output
    # zonesync logs through gunicorn's logger: one worker took the runner lock, once
    assert output.count("runs the jobs of") == 1, output
    assert f"runner: this process (pid {leader})" in output


def test_runner_in_its_own_process(split_server):
    """ZONESYNC_START_RUNNER=false: the workers queue, `zonesync runner` runs every job once,
    holds the runner lock, and stops cleanly on SIGTERM."""
    from zonesync.store import Store

    base, home, proc, log = split_server
    r = call("POST", f"{base}/v1/syncs", json={"domains": ["mysite.ru"]})
    assert r.status_code == 202, r.text
    queued = r.json()["id"]
    time.sleep(0.5)
    assert call("GET", f"{base}/v1/syncs/{queued}").json()["state"] == "queued"  # nobody runs it

    runner_log = open(home / "runner.log", "w+")
    runner = subprocess.Popen([str(GUNICORN.parent / "zonesync"), "runner"], cwd=home,
                              env=_env(home), stdout=runner_log, stderr=subprocess.STDOUT)
    try:
        assert wait(base, queued)["state"] == "succeeded"
        r = call("PUT", f"{base}/v1/domains/gunicorn.example", json=NEW)
        assert r.status_code == 201, r.text
        r = call("POST", f"{base}/v1/syncs", json={"domains": ["gunicorn.example"]})
        job = wait(base, r.json()["id"])
        assert job["state"] == "succeeded" and job["attempts"] == 1, job["error"]
        assert "sip.gunicorn.example." in (home / "state" / "zones" /
                                          "gunicorn.example.zone").read_text()
        assert int((home / "state" / "runner.lock").read_text().split()[0]) == runner.pid
        for _ in range(20):
            ready = requests.get(f"{base}/readyz", headers={"Connection": "close"}, timeout=10)
            assert ready.json()["checks"]["runner"]["leader_here"] is False
    finally:
        runner.send_signal(signal.SIGTERM)
        code = runner.wait(30)
    assert code == 0
    output = _read(runner_log) + _read(log)
    assert TOKEN not in output and SECRET not in output and "Traceback" not in output
    assert Store(home / "state" / "zonesync.db").counts_by_state()["succeeded"] == 2
