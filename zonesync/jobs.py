"""The job runner: sync and drift jobs from the store's queue, run by one process per store.

Every process of the service (each gunicorn worker) builds a Runner and calls ``start()``; the
one that takes the runner lock (flock on ``<store dir>/runner.lock``) runs the worker threads
and the drift scheduler, the others only enqueue — and keep trying the lock, so that when the
holder dies another process takes over, queues again the jobs it left running and goes on.

A job is planned, applied and verified by the sync core (``zonesync.sync``) exactly as the CLI
does it. Concurrency: ``workers`` jobs at a time, at most ``provider_concurrency`` of them
touching one provider, and applies to one zone serialized by the zone lock in ``apply`` (across
processes too, so a CLI run and a job never apply to a zone at once).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, ContextManager, Iterable

from .providers.config import scrub
from .store import Job, QueueFull, Store
from .plan import Plan
from .sync import Workspace, plan_all, run

log = logging.getLogger(__name__)

_SHOWN = 5          # failures named in a job's one-line error; the result has them all
Slots = Callable[[Iterable[str]], ContextManager[None]]
Submit = Callable[[str, "list[str] | None", bool, str], "tuple[Job, bool]"]


# --- one job ---------------------------------------------------------------------------------

def execute(job: Job, workspace: Workspace, store: Store, *, remediate: bool = False,
            submit: Submit | None = None, slots: Slots | None = None) -> tuple[str, dict, str | None]:
    """The job's work: (state, result, error). Never raises.

    ``slots(providers)`` is held while the job talks to those providers (the runner's
    per-provider limit); ``submit`` queues the remediation syncs of a drift job."""
    slots = slots or (lambda providers: contextlib.nullcontext())
    try:
        if job.kind == "sync":
            return _sync(job, workspace, store, slots)
        if job.kind == "drift":
            return _drift(job, workspace, store, slots, remediate,
                          submit or (lambda *a: store.enqueue(*a)))
        return "failed", {}, f"unknown job kind {job.kind!r}"
    except Exception as exc:  # noqa: BLE001 - a job never takes the runner down
        return unexpected(job, exc)


def unexpected(job: Job, exc: BaseException) -> tuple[str, dict, str]:
    """An unexpected exception: logged once with its traceback (scrubbed), a failed job."""
    message = scrub(f"{type(exc).__name__}: {exc}")
    log.error("job %s (%s) failed unexpectedly: %s\n%s", job.id, job.kind, message,
              scrub("".join(traceback.format_exception(exc))).rstrip())
    return "failed", {}, f"unexpected error: {message}"


def _problems(workspace: Workspace) -> tuple[str, dict, str] | None:
    if not workspace.problems:
        return None
    return ("failed", {"problems": list(workspace.problems)},
            "provider files or settings have errors, nothing was done: "
            + _join(_one_line(p, 200) for p in workspace.problems))


def _sync(job: Job, workspace: Workspace, store: Store, slots: Slots):
    started = time.monotonic()
    failed = _problems(workspace)
    if failed:
        return failed
    selection = workspace.select(job.domains or ())
    if selection.errors:
        return ("failed", {"errors": selection.errors},
                _join(_one_line(e, 200) for e in selection.errors))
    with slots({t.provider.name for t in selection.targets}):
        if job.dry_run:
            plan = plan_all(selection, workspace.owner)
            planned = time.monotonic()
            result = {"plan": plan.to_json(),
                      "timings": {"plan_s": _s(planned - started), "total_s": _s(planned - started)}}
            problems = [_one_line(e, 200) for e in plan.errors]
            if problems or workspace.broken:
                return "failed", result, _join(problems, _broken(workspace))
            return "succeeded", result, None
        verifying: list[float] = []

        def progress(label, items):
            if label == "verifying":
                verifying.append(time.monotonic())
            return lambda item: None

        # Each zone is planned once, under its lock, by the apply itself: the plan reported is
        # the one applied (a plan made before would be made twice, and could be stale).
        outcome = run(workspace, selection, progress=progress)
    done = time.monotonic()
    verify_start = verifying[0] if verifying else done
    plan = Plan([a.plan for a in outcome.applied], workspace.owner)
    result = {"plan": plan.to_json(), **outcome.to_json(),
              "timings": {"plan_s": None, "apply_s": _s(verify_start - started),
                          "verify_s": _s(done - verify_start), "total_s": _s(done - started)}}
    _record_domains(store, job, selection, outcome)
    if outcome.ok:
        return "succeeded", result, None
    return "failed", result, _summary(outcome, workspace)


def _record_domains(store: Store, job: Job, selection, outcome) -> None:
    """Each target's domains: ok when every target of the domain applied and verified."""
    applied = {(a.zone, a.provider): a for a in outcome.applied}
    verified = {(v.target.zone + ".", v.target.provider.name): v for v in outcome.verified}
    per_domain: dict[str, list[tuple[bool, bool | None]]] = {}
    for target in selection.targets:
        key = (target.zone + ".", target.provider.name)
        a, v = applied.get(key), verified.get(key)
        ok = a is not None and a.ok and (v is None or v.ok)
        for domain in target.domains:
            per_domain.setdefault(domain, []).append((ok, None if v is None else v.ok))
    at = time.time()
    for domain, results in per_domain.items():
        checks = [v for _, v in results if v is not None]
        store.record_domain_sync(domain, job.id, all(ok for ok, _ in results), at,
                                 verified=all(checks) if checks else None)


def _summary(outcome, workspace: Workspace) -> str:
    """One line: which zones on which providers failed, and why (first line of each cause)."""
    failed, parts = set(), []
    for a in outcome.applied:
        if not a.ok:
            failed.add((a.zone, a.provider))
            parts.append(f"{a.zone} on {a.provider}: {_one_line(a.error or a.plan.error, 200)}")
    for v in outcome.verified:
        if not v.ok:
            checks = v.result.to_json().get("checks", []) if v.result is not None else []
            why = v.error or ", ".join(f"{c.get('name')} {c.get('type')} {c.get('state')}"
                                       for c in checks if c.get("state") != "ok")
            failed.add((v.target.zone + ".", v.target.provider.name))
            parts.append(f"{v.target.zone}. on {v.target.provider.name}: verify failed: "
                         f"{_one_line(why or 'see the result', 200)}")
    head = f"{len(failed)} of {len(outcome.applied)} zone(s) failed: " if failed else ""
    return head + _join(parts, _broken(workspace)) if parts or workspace.broken else "sync failed"


def _broken(workspace: Workspace) -> list[str]:
    if not workspace.broken:
        return []
    files = sorted({f.file or "<input>" for f in workspace.estate.errors})
    return [f"descriptions with errors (their zones were not touched): {', '.join(files)}"]


def _join(parts, tail=()) -> str:
    """One line: the first few parts (the job's result has them all), then ``tail``."""
    parts = list(parts)
    if len(parts) > _SHOWN:
        parts = parts[:_SHOWN] + [f"and {len(parts) - _SHOWN} more (see the job's result)"]
    return scrub("; ".join(parts + list(tail)))


def _one_line(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _s(seconds: float) -> float:
    return round(seconds, 3)


def _check_drift(workspace: Workspace, domains: tuple[str, ...]):
    """zonesync.drift.check_drift, imported when the first drift job runs (tests replace this)."""
    from .drift import check_drift
    return check_drift(workspace, domains=domains)


def _drift(job: Job, workspace: Workspace, store: Store, slots: Slots, remediate: bool,
           submit: Submit):
    started = time.monotonic()
    failed = _problems(workspace)
    if failed:
        return failed
    domains = tuple(job.domains or ())
    providers = {t.provider.name for t in workspace.select(domains).targets}
    with slots(providers):
        reports = _check_drift(workspace, domains)
    at = time.time()
    out = [r.to_json() if hasattr(r, "to_json") else dict(r) for r in reports]
    for report in out:
        store.record_drift(report, at)
    result: dict = {"reports": out, "remediation": []}
    if remediate and not job.dry_run:
        drifted = sorted({r["domain"] for r in out
                          if r.get("state") == "drift" or (r.get("state") != "error"
                                                           and r.get("drifted"))})
        for domain in drifted:
            try:
                queued, merged = submit("sync", [domain], False, "drift-remediation")
                result["remediation"].append({"domain": domain, "job": queued.id,
                                              "coalesced": merged})
            except QueueFull as exc:
                result["remediation"].append({"domain": domain, "job": None, "error": str(exc)})
    result["timings"] = {"total_s": _s(time.monotonic() - started)}
    errors = [r for r in out if r.get("state") == "error"]
    if errors:
        return "failed", result, "drift check failed for " + _join(
            f"{r.get('zone')} on {r.get('provider')}"
            + (f": {_one_line(str(r['error']), 200)}" if r.get("error") else "") for r in errors)
    return "succeeded", result, None


# --- the runner ------------------------------------------------------------------------------

class Runner:
    """Runs the store's jobs when this process holds the runner lock; enqueues in any case."""

    def __init__(self, store: Store, workspace_factory: Callable[[], Workspace], *,
                 max_queued: int = 1000, provider_concurrency: int = 4, workers: int = 2,
                 drift_interval: float | None = None, remediate: bool = False,
                 poll: float = 0.05, lock_path: Path | None = None, leader_retry: float = 1.0):
        if workers < 1 or provider_concurrency < 1:
            raise ValueError("workers and provider_concurrency must be at least 1")
        self.store = store
        self.workspace_factory = workspace_factory
        self.max_queued = max_queued
        self.provider_concurrency = provider_concurrency
        self.workers = workers
        self.drift_interval = drift_interval
        self.remediate = remediate
        self.poll = poll
        self.leader_retry = leader_retry
        self.lock_path = Path(lock_path) if lock_path else store.path.parent / "runner.lock"
        self._lock_file = None
        self._leader = False
        self._started = False
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._running: dict[str, Job] = {}

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def running(self) -> list[Job]:
        """The jobs this process's workers are running now."""
        with self._mutex:
            return list(self._running.values())

    def start(self) -> bool:
        """Run jobs if this process takes the runner lock (True); otherwise only enqueue, and
        keep trying the lock in the background to take over if its holder dies (False)."""
        with self._mutex:
            if self._started:
                return self._leader
            self._started = True
            self._stop.clear()
        if self._try_lead():
            return True
        self._spawn(self._retry_leadership, "zonesync-leader-retry")
        return False

    def stop(self, timeout: float = 10) -> None:
        """Stop the threads (a job being run is finished first, up to ``timeout``), release the
        lock. A worker still busy at the timeout keeps the lock until the process ends."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        with self._mutex:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._started = False
            if alive:
                log.warning("runner threads still busy after %.0f s: %s (the runner lock is "
                            "kept until they end or the process exits)", timeout, ", ".join(alive))
                return
            self._release()

    def submit(self, kind: str, domains: list[str] | None, dry_run: bool,
               requested_by: str) -> tuple[Job, bool]:
        """Queue a job (or join a queued one that covers it: True); QueueFull when full."""
        job, coalesced = self.store.enqueue(kind, domains, dry_run, requested_by,
                                            max_queued=self.max_queued)
        with self._wake:
            self._wake.notify_all()
        return job, coalesced

    def wait(self, job_id: str, timeout: float) -> Job:
        """The job once it has ended; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.store.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
            if job.terminal:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job.state} after {timeout:.0f} s")
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())) or 0.01)

    # --- leadership -------------------------------------------------------------------------

    def _try_lead(self) -> bool:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        with self._mutex:
            if self._stop.is_set():      # stopped while taking it
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                handle.close()
                return False
            self._lock_file, self._leader = handle, True
        requeued = self.store.requeue_interrupted()
        log.info("runner: this process (pid %d) runs the jobs of %s%s", os.getpid(),
                 self.store.path, f"; jobs interrupted before: {', '.join(requeued)}"
                 if requeued else "")
        for i in range(self.workers):
            self._spawn(self._work, f"zonesync-worker-{i}")
        if self.drift_interval:
            self._spawn(self._schedule, "zonesync-drift-scheduler")
        return True

    def _retry_leadership(self) -> None:
        while not self._stop.wait(self.leader_retry):
            try:
                if self._try_lead():
                    return
            except Exception:  # noqa: BLE001 - keep trying
                log.exception("runner: taking the runner lock failed")

    def _release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
        self._leader = False

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._mutex:
            self._threads.append(thread)
        thread.start()

    # --- workers ------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim()
            except Exception:  # noqa: BLE001 - the database may be busy or briefly unavailable
                log.exception("runner: claiming a job failed")
                job = None
            if job is None:
                with self._wake:
                    if not self._stop.is_set():
                        self._wake.wait(self.poll)
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        with self._mutex:
            self._running[job.id] = job
        try:
            try:
                workspace = self.workspace_factory()
            except Exception as exc:  # noqa: BLE001
                state, result, error = unexpected(job, exc)
            else:
                state, result, error = execute(job, workspace, self.store, remediate=self.remediate,
                                               submit=self.submit, slots=self._slots)
            self._finish(job, state, result, error)
        finally:
            with self._mutex:
                self._running.pop(job.id, None)

    def _finish(self, job: Job, state: str, result, error) -> None:
        for attempt in range(5):
            try:
                self.store.finish(job.id, state, result, error)
                return
            except Exception:  # noqa: BLE001
                if attempt == 4:
                    log.exception("runner: recording the end of job %s failed; it stays running "
                                  "until the next runner start queues it again", job.id)
                    return
                time.sleep(0.2 * (attempt + 1))

    @contextlib.contextmanager
    def _slots(self, providers: Iterable[str]):
        """Hold a slot of each provider (in name order, so that jobs never deadlock)."""
        with contextlib.ExitStack() as stack:
            for name in sorted(set(providers)):
                with self._mutex:
                    semaphore = self._semaphores.setdefault(
                        name, threading.BoundedSemaphore(self.provider_concurrency))
                semaphore.acquire()
                stack.callback(semaphore.release)
            yield

    # --- the drift scheduler -----------------------------------------------------------------

    def _schedule(self) -> None:
        """Every drift_interval (the first after one interval): a drift job for everything."""
        interval = float(self.drift_interval)
        next_at = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                job, merged = self.submit("drift", None, False, "scheduler")
                log.info("drift check %s %s", job.id, "already queued" if merged else "queued")
            except QueueFull as exc:
                log.warning("drift check not queued: %s", exc)
            except Exception:  # noqa: BLE001
                log.exception("drift check not queued")
            next_at += interval
            if next_at < time.monotonic():          # a late wake-up: no burst to catch up
                next_at = time.monotonic() + interval


def record_cli_run(workspace: Workspace, selection, domains, outcome, started: float,
                   finished: float, requested_by: str) -> Job:
    """A CLI apply/sync as a finished job in the same store the service uses: the audit trail
    (who, what, when, the plan and what was applied) does not depend on which door was used."""
    store = Store(workspace.state / "zonesync.db")
    try:
        state = "succeeded" if outcome.ok else "failed"
        error = None if outcome.ok else _summary(outcome, workspace)
        job = store.record_run("sync", list(domains) or None, False, requested_by, state,
                               outcome.to_json(), error, started, finished)
        _record_domains(store, job, selection, outcome)
        return job
    finally:
        store.close()
