"""The service's persistent store: the job queue, the audit trail, per-domain sync state, drift.

One SQLite file, ``<state>/zonesync.db``, shared by every process of the service (several
gunicorn workers, the CLI): WAL mode so that readers never wait for the writer, a busy timeout
so that writers queue instead of failing, one connection per thread (reopened after a fork),
and every read-modify-write in a ``BEGIN IMMEDIATE`` transaction, which takes the database's
write lock up front, so that enqueue (with its coalescing) and claim are atomic across
processes.

Schema (version 1)::

    schema_version (version INTEGER)
    jobs         (id TEXT PK, kind TEXT, state TEXT, requested_by TEXT,
                  domains TEXT        -- JSON array of domains, NULL = every domain
                  dry_run INTEGER, created_at, started_at, finished_at DOUBLE PRECISION,
                  attempts INTEGER, coalesced INTEGER,
                  result TEXT         -- JSON object
                  error TEXT)
                  indexes (state, created_at) and (created_at)
    job_domains  (job_id TEXT, domain TEXT, PK (job_id, domain))   -- for "jobs naming a domain"
    domain_status(domain TEXT PK, last_sync_at, last_job_id, last_ok, last_success_at,
                  last_verified_ok)
    drift_reports(domain, zone, provider TEXT, state TEXT, drifted INTEGER, checked_at,
                  report TEXT, PK (domain, zone, provider))        -- the latest check of each

Times are Unix seconds. The SQL is kept to what PostgreSQL also runs: plain types, no
AUTOINCREMENT/ROWID, no SQLite functions, upserts as ``INSERT … ON CONFLICT (…) DO UPDATE``.
Times are declared ``DOUBLE PRECISION`` rather than ``REAL`` because PostgreSQL's REAL is a
4-byte float (Unix seconds would lose minutes); SQLite gives the name REAL affinity.

To move to PostgreSQL (a DB-API driver such as psycopg): ``?`` placeholders become ``%s``;
``BEGIN IMMEDIATE`` becomes ``BEGIN`` plus ``SELECT … FOR UPDATE SKIP LOCKED`` in ``claim`` and a
transaction advisory lock (``pg_advisory_xact_lock``) in ``enqueue``/``requeue_interrupted`` (the
coalescing check reads rows that do not exist yet, so row locks are not enough); the WAL and
busy-timeout pragmas go; ``dry_run``/``last_ok``/``last_verified_ok`` may become BOOLEAN and
``result``/``report`` JSONB. Nothing else changes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
KINDS = ("sync", "drift")
STATES = ("queued", "running", "succeeded", "failed")
TERMINAL = ("succeeded", "failed")
MAX_ATTEMPTS = 3            # a job interrupted this many times is failed, not queued again

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        domains TEXT,
        dry_run INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        coalesced INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT)""",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at)",
    "CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at)",
    """CREATE TABLE IF NOT EXISTS job_domains (
        job_id TEXT NOT NULL,
        domain TEXT NOT NULL,
        PRIMARY KEY (job_id, domain))""",
    "CREATE INDEX IF NOT EXISTS job_domains_by_domain ON job_domains (domain)",
    """CREATE TABLE IF NOT EXISTS domain_status (
        domain TEXT PRIMARY KEY,
        last_sync_at DOUBLE PRECISION,
        last_job_id TEXT,
        last_ok INTEGER,
        last_success_at DOUBLE PRECISION,
        last_verified_ok INTEGER)""",
    """CREATE TABLE IF NOT EXISTS drift_reports (
        domain TEXT NOT NULL,
        zone TEXT NOT NULL,
        provider TEXT NOT NULL,
        state TEXT NOT NULL,
        drifted INTEGER NOT NULL,
        checked_at DOUBLE PRECISION NOT NULL,
        report TEXT NOT NULL,
        PRIMARY KEY (domain, zone, provider))""",
    # bumped with every change to domain_status or drift_reports: readers that render them
    # (GET /v1/domains) keep their answer until it moves
    """CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL)""",
]

_JOB_COLUMNS = ("id, kind, state, requested_by, domains, dry_run, created_at, started_at, "
                "finished_at, attempts, coalesced, result, error")


class QueueFull(Exception):
    """``max_queued`` jobs are waiting already; ask again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int, queued: int | None = None):
        self.retry_after = retry_after
        self.queued = queued
        super().__init__(f"the job queue is full ({queued} jobs waiting); "
                         f"retry in {retry_after} s")


@dataclass(frozen=True)
class Job:
    id: str
    kind: str                      # "sync" | "drift"
    state: str                     # "queued" | "running" | "succeeded" | "failed"
    requested_by: str
    domains: list[str] | None      # None = every domain
    dry_run: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    coalesced: int
    result: dict | None
    error: str | None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "state": self.state,
                "requested_by": self.requested_by, "domains": self.domains,
                "dry_run": self.dry_run, "created_at": self.created_at,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "attempts": self.attempts, "coalesced": self.coalesced,
                "result": self.result, "error": self.error}


def normalize_domains(domains) -> list[str] | None:
    """Lower case, no trailing dot, sorted, unique; None or an empty list = every domain."""
    if domains is None:
        return None
    if isinstance(domains, str):
        domains = [domains]
    out = sorted({d.strip().rstrip(".").lower() for d in domains if d and d.strip().rstrip(".")})
    return out or None


def _domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _job(row) -> Job:
    (id_, kind, state, requested_by, domains, dry_run, created_at, started_at, finished_at,
     attempts, coalesced, result, error) = row
    return Job(id_, kind, state, requested_by, json.loads(domains) if domains else None,
               bool(dry_run), created_at, started_at, finished_at, attempts, coalesced,
               json.loads(result) if result else None, error)


def _bump(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("INSERT INTO counters (name, value) VALUES (?, 1) "
                 "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1", (name,))


class Store:
    """The store at ``path`` (created with its schema on first use)."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._init_schema()

    # --- connections and transactions ---------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork: connections must not cross it)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        self._set_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs a moment alone with the file; the busy timeout does not cover
        # it in every SQLite version, so retry briefly. Once set it is a property of the file.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its start (atomic across processes)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    def _init_schema(self) -> None:
        with self._write() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if row[0] is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has schema version {row[0]}, newer than this "
                                   f"zonesync understands ({SCHEMA_VERSION}): upgrade zonesync")

    # --- jobs ---------------------------------------------------------------------------------

    def enqueue(self, kind: str, domains: list[str] | None, dry_run: bool, requested_by: str,
                *, max_queued: int = 1000) -> tuple[Job, bool]:
        """A queued job for the request: an existing one that covers it (True), or a new one.

        A queued job of the same kind and dry_run covers a request when it is for every domain
        or for a superset of the requested domains; a request for every domain widens the
        oldest such queued job to every domain. Running jobs are never merged into (they may
        have read zones/ already). QueueFull when ``max_queued`` jobs are waiting."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r} (one of {', '.join(KINDS)})")
        domains = normalize_domains(domains)
        dry_run = bool(dry_run)
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'queued' AND kind = ? "
                "AND dry_run = ? ORDER BY created_at, id", (kind, int(dry_run))).fetchall()
            queued = [_job(r) for r in rows]
            merge = next((j for j in queued if j.domains is None or
                          (domains is not None and set(domains) <= set(j.domains))), None)
            if merge is None and domains is None and queued:
                merge = queued[0]
                conn.execute("UPDATE jobs SET domains = NULL WHERE id = ?", (merge.id,))
                conn.execute("DELETE FROM job_domains WHERE job_id = ?", (merge.id,))
            if merge is not None:
                conn.execute("UPDATE jobs SET coalesced = coalesced + 1 WHERE id = ?", (merge.id,))
                return self._get(conn, merge.id), True
            count = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
            if count >= max_queued:
                raise QueueFull(self._retry_after(conn), count)
            job = Job(uuid.uuid4().hex, kind, "queued", requested_by, domains, dry_run,
                      time.time(), None, None, 0, 0, None, None)
            self._insert(conn, job)
            return job, False

    def _retry_after(self, conn) -> int:
        """Seconds until a slot is likely free: the recent jobs' mean duration, 1-300 s."""
        rows = conn.execute("SELECT started_at, finished_at FROM jobs WHERE finished_at IS NOT "
                            "NULL AND started_at IS NOT NULL ORDER BY finished_at DESC "
                            "LIMIT 20").fetchall()
        if not rows:
            return 5
        mean = sum(max(0.0, f - s) for s, f in rows) / len(rows)
        return int(min(300, max(1, math.ceil(mean))))

    def _insert(self, conn, job: Job) -> None:
        conn.execute(
            f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job.id, job.kind, job.state, job.requested_by,
             json.dumps(job.domains) if job.domains is not None else None, int(job.dry_run),
             job.created_at, job.started_at, job.finished_at, job.attempts, job.coalesced,
             json.dumps(job.result) if job.result is not None else None, job.error))
        for domain in job.domains or ():
            conn.execute("INSERT INTO job_domains (job_id, domain) VALUES (?, ?)", (job.id, domain))

    def claim(self) -> Job | None:
        """The oldest queued job, now running (attempts + 1), or None; atomic across processes."""
        conn = self._conn()
        # A cheap read first: idle workers poll, and must not take the write lock to find nothing.
        if conn.execute("SELECT id FROM jobs WHERE state = 'queued' LIMIT 1").fetchone() is None:
            return None
        with self._write() as conn:
            row = conn.execute("SELECT id FROM jobs WHERE state = 'queued' "
                               "ORDER BY created_at, id LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                         "started_at = ?, finished_at = NULL WHERE id = ?", (time.time(), row[0]))
            return self._get(conn, row[0])

    def finish(self, job_id: str, state: str, result: dict | None, error: str | None) -> None:
        """A job's end. Notes left by an interruption (``result["interrupted"]``) are kept."""
        if state not in TERMINAL:
            raise ValueError(f"a job finishes as {' or '.join(TERMINAL)}, not {state!r}")
        with self._write() as conn:
            old = self._get(conn, job_id)
            if old is None:
                raise KeyError(f"no job {job_id}")
            if old.result and "interrupted" in old.result:
                result = {**(result or {}), "interrupted": old.result["interrupted"]}
            conn.execute("UPDATE jobs SET state = ?, result = ?, error = ?, finished_at = ? "
                         "WHERE id = ?",
                         (state, json.dumps(result) if result is not None else None, error,
                          time.time(), job_id))

    def get(self, job_id: str) -> Job | None:
        return self._get(self._conn(), job_id)

    def _get(self, conn, job_id: str) -> Job | None:
        row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, *, domain: str | None = None, state: str | None = None,
             limit: int = 100) -> list[Job]:
        """Newest first. ``domain``: jobs naming it and jobs for every domain."""
        where, args = [], []
        if domain is not None:
            where.append("(domains IS NULL OR id IN (SELECT job_id FROM job_domains "
                         "WHERE domain = ?))")
            args.append(_domain(domain))
        if state is not None:
            where.append("state = ?")
            args.append(state)
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(int(limit))
        return [_job(r) for r in self._conn().execute(sql, args).fetchall()]

    def requeue_interrupted(self, *, max_attempts: int = MAX_ATTEMPTS) -> list[str]:
        """Jobs left running by a process that died: queued again, with a note in ``result``;
        one already interrupted ``max_attempts`` times is failed instead (it may be what kills
        the process). Returns the ids of the jobs changed. Call it only while holding the
        runner lock: then no live process is running any job."""
        now = time.time()
        changed = []
        with self._write() as conn:
            rows = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'running' "
                                "ORDER BY created_at, id").fetchall()
            for job in map(_job, rows):
                notes = list((job.result or {}).get("interrupted", []))
                notes.append({"attempt": job.attempts, "started_at": job.started_at,
                              "noticed_at": now,
                              "note": "the process running this job stopped before it ended"})
                if job.attempts >= max_attempts:
                    conn.execute("UPDATE jobs SET state = 'failed', finished_at = ?, result = ?, "
                                 "error = ? WHERE id = ?",
                                 (now, json.dumps({"interrupted": notes}),
                                  f"interrupted {job.attempts} times (the process running it "
                                  "stopped each time): not retried", job.id))
                    log.error("job %s was interrupted %d times: failed, not retried",
                              job.id, job.attempts)
                else:
                    conn.execute("UPDATE jobs SET state = 'queued', started_at = NULL, "
                                 "result = ?, error = NULL WHERE id = ?",
                                 (json.dumps({"interrupted": notes}), job.id))
                    log.warning("job %s was interrupted (attempt %d): queued again",
                                job.id, job.attempts)
                changed.append(job.id)
        return changed

    def counts_by_state(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state, count in self._conn().execute(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall():
            out[state] = count
        return out

    def record_run(self, kind: str, domains: list[str] | None, dry_run: bool, requested_by: str,
                   state: str, result: dict | None, error: str | None, started_at: float,
                   finished_at: float) -> Job:
        """A run made outside the queue (the CLI), kept as a finished job for the audit trail."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r} (one of {', '.join(KINDS)})")
        if state not in TERMINAL:
            raise ValueError(f"a recorded run is {' or '.join(TERMINAL)}, not {state!r}")
        job = Job(uuid.uuid4().hex, kind, state, requested_by, normalize_domains(domains),
                  bool(dry_run), started_at, started_at, finished_at, 1, 0, result, error)
        with self._write() as conn:
            self._insert(conn, job)
        return job

    # --- per-domain state ---------------------------------------------------------------------

    def record_domain_sync(self, domain: str, job_id: str, ok: bool, at: float, *,
                           verified: bool | None = None) -> None:
        """A sync of ``domain`` ended at ``at``; ``verified``: its verification's outcome (None:
        not verified, the last known outcome stays). An older record never replaces a newer."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO domain_status (domain, last_sync_at, last_job_id, last_ok, "
                "last_success_at, last_verified_ok) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (domain) DO UPDATE SET last_sync_at = excluded.last_sync_at, "
                "last_job_id = excluded.last_job_id, last_ok = excluded.last_ok, "
                "last_success_at = COALESCE(excluded.last_success_at, "
                "domain_status.last_success_at), "
                "last_verified_ok = COALESCE(excluded.last_verified_ok, "
                "domain_status.last_verified_ok) "
                "WHERE domain_status.last_sync_at IS NULL "
                "OR domain_status.last_sync_at <= excluded.last_sync_at",
                (_domain(domain), at, job_id, int(bool(ok)), at if ok else None,
                 None if verified is None else int(bool(verified))))
            _bump(conn, "status")

    def domain_states(self) -> dict[str, dict]:
        out = {}
        for (domain, sync_at, job_id, ok, success_at, verified) in self._conn().execute(
                "SELECT domain, last_sync_at, last_job_id, last_ok, last_success_at, "
                "last_verified_ok FROM domain_status ORDER BY domain").fetchall():
            out[domain] = {"last_sync_at": sync_at, "last_job_id": job_id,
                           "last_ok": None if ok is None else bool(ok),
                           "last_success_at": success_at,
                           "last_verified_ok": None if verified is None else bool(verified)}
        return out

    # --- drift --------------------------------------------------------------------------------

    def record_drift(self, report: dict, at: float) -> None:
        """The latest drift check of one (domain, zone, provider); the previous one is replaced."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO drift_reports (domain, zone, provider, state, drifted, checked_at, "
                "report) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (domain, zone, provider) DO UPDATE SET state = excluded.state, "
                "drifted = excluded.drifted, checked_at = excluded.checked_at, "
                "report = excluded.report",
                (_domain(report["domain"]), str(report["zone"]), str(report["provider"]),
                 str(report["state"]), int(report.get("drifted") or 0), at,
                 json.dumps(report)))
            _bump(conn, "status")

    def status_version(self) -> int:
        """Moves whenever a domain's sync state or drift report changes (any process)."""
        row = self._conn().execute("SELECT value FROM counters WHERE name = 'status'").fetchone()
        return row[0] if row else 0

    def drift_states(self) -> list[tuple[str, str]]:
        """(domain, state) of every latest drift report: what a list shows, without the reports."""
        return self._conn().execute(
            "SELECT domain, state FROM drift_reports ORDER BY domain, zone, provider").fetchall()

    def latest_drift(self, domain: str | None = None) -> list[dict]:
        """The latest report of each (domain, zone, provider), with ``checked_at``."""
        sql = "SELECT report, checked_at FROM drift_reports"
        args: tuple = ()
        if domain is not None:
            sql += " WHERE domain = ?"
            args = (_domain(domain),)
        sql += " ORDER BY domain, zone, provider"
        return [{**json.loads(report), "checked_at": at}
                for report, at in self._conn().execute(sql, args).fetchall()]
