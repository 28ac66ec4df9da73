"""Benchmark: the service under an open-loop load, and PUT -> verified, on a real PowerDNS.

1. starts a fresh PowerDNS (tests.dnsservers.PowerDnsServer) and the service through gunicorn
   (2 workers, like tests/test_api_gunicorn.py) on 127.0.0.1, with N generated domains
   (bench/compile_lint.py's ``generate``) in its zones/ and a PowerDNS provider;
2. syncs every domain once (a job for all, through the service: POST /v1/syncs, waited for);
3. an open-loop load (wrk2-style): requests are sent on a fixed schedule at R requests/s for
   T seconds whatever the answers, over keep-alive connections (http.client, a pool of
   threads taking the schedule in order), and each latency is measured from the request's
   SCHEDULED send time (no coordinated omission: a slow answer delays later requests, and
   their latency shows it). Separately for ``POST /v1/syncs`` (enqueue only: a sync of one of
   the first K domains, so that repeated requests coalesce into the queued job) and
   ``GET /v1/domains``; prints achieved rate, p50/p90/p99/max, status counts;
4. PUT -> verified, repeated: PUT a changed description of one domain, POST a sync for it,
   poll the job until it ends: p50/p90 of the whole (and the job's own timings).

    PYTHONPATH=. .venv/bin/python bench/api_load.py --domains 1000 --rate 200 --seconds 10

Needs Debian's pdns-server + pdns-backend-sqlite3 and gunicorn. Prints tables; asserts nothing
about speed. Everything it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.compile_lint import TEMPLATE, generate  # noqa: E402
from tests.dnsservers import PowerDnsServer, free_port  # noqa: E402

GUNICORN = Path(sys.executable).parent / "gunicorn"
TOKEN = "bench-0123456789abcdef-admin"
SECRET = "whsec-bench-0123456789"
KEY_VAR = "ZS_BENCH_PDNS_KEY"


def provider_yaml(server: PowerDnsServer, wait: float = 10) -> str:
    return (f"class: octodns_powerdns.PowerDnsProvider\ndefault: true\ncreate_zones: true\n"
            f"settings:\n  host: 127.0.0.1\n  port: {server.api_port}\n"
            f"  api_key: env/{KEY_VAR}\n  enable_dynamic: false\n"
            f"  mode_of_operation: native\n"
            f"verify:\n  nameservers: ['{server.nameserver}']\n  wait: {wait}\n")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


class Service:
    """gunicorn serving zonesync.api over ``home`` (zones/, providers/, state/)."""

    def __init__(self, home: Path, pdns: PowerDnsServer, workers: int = 2, timeout: int = 900,
                 extra_env: dict | None = None, zones: Path | None = None,
                 runner: str = "process"):
        self.home, self.port = home, free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZONESYNC_")}
        env.update({"ZONESYNC_ZONES": str(zones or home / "zones"),
                    "ZONESYNC_PROVIDERS": str(home / "providers"),
                    "ZONESYNC_STATE_DIR": str(home / "state"),
                    "ZONESYNC_TOKENS": f"bench:read,sync,write:{TOKEN}",
                    "ZONESYNC_WEBHOOK_SECRET": SECRET,
                    "ZONESYNC_MAX_QUEUE": "100000",
                    KEY_VAR: pdns.api_key, "PYTHONPATH": str(ROOT)})
        env.update(extra_env or {})
        self.log = open(home / "gunicorn.log", "w+")
        self.runner = None
        if runner == "process":        # the README's production layout: API + `zonesync runner`
            env["ZONESYNC_START_RUNNER"] = "false"
            self.runner = subprocess.Popen([str(GUNICORN.parent / "zonesync"), "runner"],
                                           cwd=home, env=env, stdout=self.log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        self.proc = subprocess.Popen(
            [str(GUNICORN), "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
             "--timeout", str(timeout), "--graceful-timeout", "10", "--log-level", "warning",
             "zonesync.api:create_app()"],
            cwd=home, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def wait_ready(self, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.tail()}")
            try:
                status, _ = self.call("GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer: {self.tail()}")
            time.sleep(0.2)
        # the first answer of every worker: its estate loaded (readyz loads it)
        for _ in range(4):
            self.call("GET", "/readyz")

    def tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def call(self, method: str, path: str, body=None, headers: dict | None = None):
        data = None if body is None else (body if isinstance(body, bytes) else
                                          json.dumps(body).encode())
        hdrs = {"Authorization": f"Bearer {TOKEN}", **(headers or {})}
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError

    def wait_job(self, job_id: str, timeout: float = 3600, interval: float = 0.01) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status, job = self.call("GET", f"/v1/syncs/{job_id}")
            if status == 200 and job["state"] in ("succeeded", "failed"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id}: {job}")
            time.sleep(interval)

    def sync(self, domains, timeout: float = 3600) -> dict:
        status, answer = self.call("POST", "/v1/syncs", {"domains": domains})
        if status != 202:
            raise RuntimeError(f"POST /v1/syncs: {status} {answer}")
        return self.wait_job(answer["id"], timeout, interval=0.5 if domains == "all" else 0.01)

    def stop(self) -> None:
        for proc in (self.runner, self.proc):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
        self.conn.close()
        self.log.close()


def open_loop(port: int, make, rate: float, seconds: float, connections: int = 32) -> dict:
    """``make() -> (method, path, body bytes|None)`` sent at ``rate``/s for ``seconds``."""
    n = max(1, int(rate * seconds))
    start = time.perf_counter() + 0.5
    schedule: queue.Queue = queue.Queue()
    for i in range(n):
        schedule.put(start + i / rate)
    results: list[tuple[float, float, int | None]] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while True:
            try:
                due = schedule.get_nowait()
            except queue.Empty:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            method, path, body = make()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (http.client.HTTPException, OSError):
                conn.close()
                status = None
            mine.append((due, time.perf_counter() - due, status))
        conn.close()
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ends = [due + lat for due, lat, _ in results]
    latencies = [lat * 1000 for _, lat, _ in results]
    statuses: dict = {}
    for _, _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = max(ends) - start if ends else float("nan")
    ok = sum(v for k, v in statuses.items() if k is not None and k < 500)
    return {"offered": rate, "sent": n, "achieved": ok / elapsed if elapsed else 0.0,
            "p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99), "max": max(latencies) if latencies else float("nan"),
            "statuses": statuses,
            "errors": sum(v for k, v in statuses.items() if k is None or k >= 500)}


def changed_description(domain: str, i: int) -> dict:
    """The generated description of ``domain`` with a different TLS weight split each time."""
    import yaml
    data = yaml.safe_load(TEMPLATE.format(d=domain))
    w = 10 + i % 80
    data["sip"][0]["targets"][0]["weight"] = w
    data["sip"][0]["targets"][1]["weight"] = 100 - w
    return data


def put_to_verified(svc: Service, domain: str, i: int) -> dict:
    """PUT a changed description, POST a sync for it, poll the job: seconds, and the job."""
    started = time.perf_counter()
    status, answer = svc.call("PUT", f"/v1/domains/{domain}", changed_description(domain, i))
    if status not in (200, 201):
        raise RuntimeError(f"PUT {domain}: {status} {answer}")
    put_done = time.perf_counter()
    status, answer = svc.call("POST", "/v1/syncs", {"domains": [domain]})
    if status != 202:
        raise RuntimeError(f"POST /v1/syncs: {status} {answer}")
    job = svc.wait_job(answer["id"], timeout=120, interval=0.005)
    done = time.perf_counter()
    if job["state"] != "succeeded":
        raise RuntimeError(f"job for {domain} {job['state']}: {job.get('error')}")
    timings = (job.get("result") or {}).get("timings", {})
    return {"total": done - started, "put": put_done - started, "job": timings,
            "queue_wait": (job["started_at"] - job["created_at"]) if job.get("started_at") else None}


def summarize_changes(rows: list[dict]) -> str:
    totals = [r["total"] * 1000 for r in rows]
    puts = [r["put"] * 1000 for r in rows]
    job_total = [r["job"].get("total_s", float("nan")) * 1000 for r in rows]
    waits = [r["queue_wait"] * 1000 for r in rows if r["queue_wait"] is not None]
    return (f"{len(rows):>4} changes  call->verified p50 {percentile(totals, 50):7.0f} ms  "
            f"p90 {percentile(totals, 90):7.0f} ms  max {max(totals):7.0f} ms | PUT p50 "
            f"{percentile(puts, 50):5.0f} ms | queued p50 {percentile(waits, 50):5.0f} ms | job "
            f"(plan+apply+verify) p50 {percentile(job_total, 50):5.0f} ms")


def setup(tmp: Path, n: int, pdns: PowerDnsServer, wait: float = 10) -> Path:
    home = tmp / "home"
    (home / "zones").mkdir(parents=True)
    (home / "providers").mkdir()
    generate(home / "zones", n)
    (home / "providers" / "pdns.yaml").write_text(provider_yaml(pdns, wait))
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runner", choices=("process", "embedded"), default="process",
                        help="jobs in `zonesync runner` (default) or in a gunicorn worker")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sync-domains", type=int, default=10,
                        help="POST /v1/syncs cycles over the first K domains (they coalesce)")
    args = parser.parse_args()
    n = args.domains
    with tempfile.TemporaryDirectory(prefix="zs-api-load-") as tmp:
        tmp = Path(tmp)
        with PowerDnsServer(tmp / "pdns") as pdns:
            home = setup(tmp, n, pdns)
            svc = Service(home, pdns, workers=args.workers, runner=args.runner)
            try:
                started = time.perf_counter()
                svc.wait_ready()
                ready = time.perf_counter() - started
                started = time.perf_counter()
                job = svc.sync("all")
                first = time.perf_counter() - started
                if job["state"] != "succeeded":
                    raise RuntimeError(f"first sync: {job.get('error')}")
                print(f"N = {n} domains; gunicorn -w {args.workers}, jobs run by "
                      f"{'zonesync runner' if args.runner == 'process' else 'a gunicorn worker'}; PowerDNS "
                      f"{pdns.nameserver}; service ready in {ready:.1f} s; first sync of every "
                      f"domain {first:.1f} s")
                print()
                counter = [0]
                k = max(1, min(args.sync_domains, n))

                def post_sync():
                    counter[0] += 1
                    body = json.dumps({"domains": [f"c{counter[0] % k}.example"]}).encode()
                    return "POST", "/v1/syncs", body

                def get_domains():
                    return "GET", "/v1/domains", None

                print(f"open loop, offered {args.rate:.0f} req/s for {args.seconds:.0f} s, "
                      f"{args.connections} connections; latency from the scheduled send time")
                print(f"{'request':<22}{'achieved/s':>11}{'p50 ms':>9}{'p90 ms':>9}"
                      f"{'p99 ms':>9}{'max ms':>9}{'errors':>8}  statuses")
                for label, make in (("POST /v1/syncs", post_sync), ("GET /v1/domains", get_domains)):
                    r = open_loop(svc.port, make, args.rate, args.seconds, args.connections)
                    print(f"{label:<22}{r['achieved']:>11.1f}{r['p50']:>9.1f}{r['p90']:>9.1f}"
                          f"{r['p99']:>9.1f}{r['max']:>9.1f}{r['errors']:>8}  "
                          f"{dict(sorted(r['statuses'].items(), key=str))}", flush=True)
                    # let the syncs the load queued finish before the next measurement
                    _drain(svc)
                print()
                print(f"PUT -> POST /v1/syncs -> job succeeded (applied and verified), one "
                      f"domain, {args.changes} times:")
                rows = [put_to_verified(svc, f"c{(7 + i) % n}.example", i)
                        for i in range(args.changes)]
                print(summarize_changes(rows))
            finally:
                svc.stop()


def _drain(svc: Service, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, jobs = svc.call("GET", "/v1/syncs?state=queued")
        status2, running = svc.call("GET", "/v1/syncs?state=running")
        if not _items(jobs) and not _items(running):
            return
        time.sleep(0.2)


def _items(answer) -> list:
    if isinstance(answer, dict):
        return answer.get("jobs") or answer.get("items") or []
    return answer if isinstance(answer, list) else []


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


if __name__ == "__main__":
    main()
