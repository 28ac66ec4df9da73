"""Benchmark: one changed domain among N, through the running service (warm), to verified.

For each N (default 100 and 10,000):

1. a fresh PowerDNS (tests.dnsservers.PowerDnsServer); N generated domains (bench/compile_lint
   ``generate``) committed to a bare git "upstream"; the service's zones/ is a clone of it, a
   colleague's clone pushes changes; the service runs under gunicorn (2 workers by default,
   ZONESYNC_GIT_PUSH=true so that its own commits reach the upstream);
2. the first ``--synced`` domains (default: all when N <= 1,000, else 300) are synced to
   PowerDNS once (a job); the rest are loaded and linted by the service (every file is in its
   estate: its cost is what this measures) but never pushed to PowerDNS — a first sync of
   100,000 zones takes far longer than the warm path under test;
3. the service is warm (it has answered, its estate is loaded), then, ``--changes`` times each:
   * git: the colleague changes one synced domain's file, commits and pushes (not timed), then
     the signed push webhook is called: timed from the webhook call to the job "succeeded"
     (pulled, planned, applied and verified on PowerDNS);
   * API: PUT a changed description of one synced domain, POST /v1/syncs for it, poll the job:
     timed from the PUT to "succeeded";
4. prints per N and path: p50, p90, max (ms), and the job's own median timings; each run's
   own line too while it goes ("#   webhook 3: ..."), so that an outlier can be told apart:
   the call (the PUT, or the webhook's pull), the wait in the queue, or the job.

    PYTHONPATH=. .venv/bin/python bench/change_latency.py 100 10000 100000

Needs pdns-server + pdns-backend-sqlite3, gunicorn and git. Prints a table; asserts nothing
about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.api_load import (Service, changed_description, percentile, provider_yaml,  # noqa: E402
                            put_to_verified, sign)
from bench.compile_lint import TEMPLATE, generate  # noqa: E402
from tests.dnsservers import PowerDnsServer  # noqa: E402

GIT_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
GIT_ENV.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")


def git(cwd: Path, *args: str) -> str:
    run = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True,
                         timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {run.stderr}")
    return run.stdout.strip()


def configure(repo: Path, name: str) -> None:
    git(repo, "config", "user.name", name)
    git(repo, "config", "user.email", f"{name}@example.test")


def repos(tmp: Path, n: int) -> tuple[Path, Path]:
    """(the service's clone, a colleague's clone) of an upstream holding zones/ with N files."""
    remote = tmp / "remote.git"
    git(tmp, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    seed = tmp / "seed"
    git(tmp, "init", "--quiet", "--initial-branch=main", str(seed))
    configure(seed, "seed")
    (seed / "zones").mkdir()
    generate(seed / "zones", n)
    git(seed, "add", "zones")
    git(seed, "commit", "--quiet", "-m", f"{n} domains")
    git(seed, "remote", "add", "origin", str(remote))
    git(seed, "push", "--quiet", "-u", "origin", "main")
    server = tmp / "home" / "repo"
    server.parent.mkdir(parents=True, exist_ok=True)
    git(server.parent, "clone", "--quiet", str(remote), server.name)
    configure(server, "server")
    colleague = tmp / "colleague"
    git(tmp, "clone", "--quiet", str(remote), colleague.name)
    configure(colleague, "colleague")
    return server, colleague


def via_git(svc: Service, colleague: Path, domain: str, i: int) -> dict:
    import yaml
    git(colleague, "pull", "--quiet", "--ff-only")
    path = colleague / "zones" / f"{domain}.yaml"
    path.write_text(yaml.safe_dump(changed_description(domain, 1000 + i), sort_keys=False))
    git(colleague, "commit", "--quiet", "-am", f"change {domain}")
    git(colleague, "push", "--quiet")
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    started = time.perf_counter()
    status, answer = svc.call("POST", "/v1/hooks/git", body,
                              {"X-Hub-Signature-256": sign(body), "X-GitHub-Event": "push"})
    hooked = time.perf_counter()
    if status != 202 or not answer.get("job"):
        raise RuntimeError(f"webhook: {status} {answer}")
    job = svc.wait_job(answer["job"]["id"], timeout=120, interval=0.005)
    done = time.perf_counter()
    if job["state"] != "succeeded":
        raise RuntimeError(f"job for {domain} {job['state']}: {job.get('error')}")
    return {"total": done - started, "put": hooked - started,
            "job": (job.get("result") or {}).get("timings", {}),
            "queue_wait": (job["started_at"] - job["created_at"]) if job.get("started_at") else None,
            "domains": answer.get("domains")}


def timed(kind: str, runs: list[dict], run) -> list[dict]:
    """``run(i)`` for each change, printing each one's own timings as it ends."""
    out = []
    for i in range(len(runs)):
        r = run(i)
        job = r["job"].get("total_s")
        wait = r["queue_wait"]
        print(f"#   {kind} {i}: {r['total'] * 1000:.0f} ms (call {r['put'] * 1000:.0f}"
              + (f", queued {wait * 1000:.0f}" if wait is not None else "")
              + (f", job {job * 1000:.0f}" if job is not None else "") + ")", flush=True)
        out.append(r)
    return out


def row(n: int, path: str, rows: list[dict]) -> str:
    totals = [r["total"] * 1000 for r in rows]
    calls = [r["put"] * 1000 for r in rows]
    waits = [r["queue_wait"] * 1000 for r in rows if r["queue_wait"] is not None]

    def job(key):
        """The jobs' median of a timing; "-" when the jobs do not time it apart (a sync job
        plans inside its apply: plan_s is None)."""
        values = [r["job"][key] * 1000 for r in rows if r["job"].get(key) is not None]
        return f"{percentile(values, 50):>8.0f}" if values else f"{'-':>8}"

    return (f"{n:>8} {path:<24}{len(rows):>4}{percentile(totals, 50):>9.0f}"
            f"{percentile(totals, 90):>9.0f}{max(totals):>9.0f}{percentile(calls, 50):>10.0f}"
            f"{percentile(waits, 50):>8.0f}{job('plan_s')}{job('apply_s')}{job('verify_s')}")


HEADER = (f"{'N':>8} {'path':<24}{'runs':>4}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}"
          f"{'call ms':>10}{'queued':>8}{'plan':>8}{'apply':>8}{'verify':>8}")


def measure(n: int, changes: int, synced: int, workers: int, use_git: bool = True) -> list[str]:
    out = []
    with tempfile.TemporaryDirectory(prefix="zs-change-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        if use_git:
            server, colleague = repos(tmp, n)
        else:                      # zones/ a plain directory: the API path without git's cost
            server, colleague = tmp / "home" / "repo", None
            (server / "zones").mkdir(parents=True)
            generate(server / "zones", n)
        setup_s = time.perf_counter() - started
        home = server.parent
        (home / "providers").mkdir()
        with PowerDnsServer(tmp / "pdns") as pdns:
            (home / "providers" / "pdns.yaml").write_text(provider_yaml(pdns))
            svc = Service(home, pdns, workers=workers, zones=server / "zones",
                          extra_env={"ZONESYNC_GIT_PUSH": "true"})
            try:
                started = time.perf_counter()
                svc.wait_ready()
                ready_s = time.perf_counter() - started
                wanted = [f"c{i}.example" for i in range(min(n, synced))]
                started = time.perf_counter()
                job = svc.sync(wanted if len(wanted) < n else "all")
                first_s = time.perf_counter() - started
                if job["state"] != "succeeded":
                    raise RuntimeError(f"first sync: {job.get('error')}")
                rest = ("all" if len(wanted) == n else
                        "the rest are loaded and linted by the service, not synced")
                out.append(f"# N={n}: {len(wanted)} of {n} domains synced to PowerDNS "
                           f"({rest}); "
                           f"git setup {setup_s:.1f} s, service ready (estate loaded) "
                           f"{ready_s:.1f} s, first sync {first_s:.1f} s")
                print(out[-1], flush=True)
                pick = [wanted[(3 + 7 * i) % len(wanted)] for i in range(changes)]
                # one untimed round each way first: "warm" includes git's first pull and
                # commit in the service's fresh clone (seconds at 10,000 files, once)
                warmup = [via_git(svc, colleague, wanted[0], 900) if use_git else None,
                          put_to_verified(svc, wanted[0], 900)]
                out.append("# warm-up (untimed in the table): " + (
                    f"webhook {warmup[0]['total'] * 1000:.0f} ms, " if use_git else "") +
                    f"PUT {warmup[1]['total'] * 1000:.0f} ms")
                print(out[-1], flush=True)
                if use_git:
                    hooks = timed("webhook", pick, lambda i: via_git(svc, colleague, pick[i], i))
                    out.append(row(n, "git push + webhook", hooks))
                    print(out[-1], flush=True)
                puts = timed("PUT", pick, lambda i: put_to_verified(svc, pick[i], i))
                out.append(row(n, "PUT + POST /v1/syncs" + ("" if use_git else " (no git)"),
                               puts))
                print(out[-1], flush=True)
            finally:
                svc.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 10000])
    parser.add_argument("--changes", type=int, default=7)
    parser.add_argument("--synced", type=int, default=None,
                        help="domains synced to PowerDNS first (default: all up to 1,000, "
                             "else 300)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-git", action="store_true",
                        help="zones/ a plain directory (no webhook path; PUT without commit)")
    args = parser.parse_args()
    print("one changed domain among N, warm service (gunicorn), from the call to the job "
          "'succeeded' (applied and verified on PowerDNS)")
    print(f"{HEADER}   (call: the PUT or webhook answer; queued/plan/apply/verify: job medians)",
          flush=True)
    lines = []
    for n in args.sizes:
        synced = args.synced if args.synced is not None else (n if n <= 1000 else 300)
        lines += measure(n, args.changes, synced, args.workers, not args.no_git)
    print()
    print(HEADER)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
