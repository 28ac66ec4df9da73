"""What the routes do, without Flask: descriptions in zones/, jobs, the git webhook.

One ``Service`` per app (per gunicorn worker). Everything that changes ``zones/`` (a PUT, a
DELETE, a webhook's pull) holds the zones lock — a flock in the state directory, so across
workers and processes — from reading the other files to writing (and committing) the new one:
two writers never validate against a directory the other is changing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import findings as F
from .. import names
from .. import state as S
from ..compile import compile_description, to_json as records_json
from ..findings import Finding
from ..load import MAX_FILE_BYTES, Loaded, decode, load_text
from ..store import Store
from ..sync import Workspace
from ..warm import WarmEstate, WarmView
from .config import Settings
from .errors import ApiError

log = logging.getLogger("zonesync.api")

ZONES_LOCK = ".zones-write"      # state/locks/.zones-write.lock
JOURNAL = "zones.journal"        # state/zones.journal: the files each writer changed
LOCK_TIMEOUT = 60.0


@dataclass
class ZoneFile:
    path: Path
    loaded: Loaded


class Described:
    """The zones directory, loaded and linted together as `zonesync validate` does it: one
    generation of the service's warm estate (``zonesync.warm``)."""

    def __init__(self, view: WarmView | None = None, zones: Path | None = None):
        self.view = view
        self.zones = zones
        self._files: list[ZoneFile] | None = None

    @property
    def files(self) -> list[ZoneFile]:
        if self._files is None:
            if self.view is None:
                self._files = []
            else:
                self._files = [ZoneFile(self.zones / name, loaded)
                               for name, loaded in zip(self.view.names, self.view.files)]
        return self._files

    def rows(self) -> list[tuple]:
        """(domain, file, zone, valid, errors, warnings) of every file, in file order: what
        GET /v1/domains lists (computed once per generation of the warm estate)."""
        view = self.view
        if view is None:
            return []
        rows = getattr(view, "_rows", None)
        if rows is None:
            prefix = f"{self.zones.name}/"
            rows = []
            for name, loaded in zip(view.names, view.files):
                desc = loaded.description
                errors = sum(f.is_error for f in loaded.findings)
                rows.append((desc.domain if desc else Path(name).stem.lower(), prefix + name,
                             desc.zone_name if desc else None, desc is not None and not errors,
                             errors, len(loaded.findings) - errors))
            view._rows = rows
        return rows

    def find(self, domain: str) -> ZoneFile | None:
        """The file describing ``domain`` (canonical); a file that does not load, by its name."""
        found = self.view.described(domain) if self.view is not None else None
        return None if found is None else ZoneFile(self.zones / found[0], found[1])


def _unicode(name: str) -> str:
    try:
        import idna
        return idna.decode(name)
    except Exception:  # noqa: BLE001
        return name


def canonical_domain(text: str) -> str:
    """A domain from a URL path or a request: canonical, or ApiError 400 (nothing touched)."""
    try:
        return names.host_name(text)
    except names.NameProblem as exc:
        raise ApiError(400, "invalid domain name", exc.message) from None


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.zones = settings.zones
        self.state = settings.state_dir
        self.state.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.state / "zonesync.db")
        self._local_lock = threading.Lock()
        # zones/ loaded and linted once, kept current by what changed (this process's writes,
        # the journal other processes' writes append to, the directory's signature)
        self.warm = WarmEstate(self.zones, self.shown, journal=self.state / JOURNAL,
                               rescan=settings.zones_rescan)
        self._providers = threading.local()
        from ..jobs import Runner
        self.runner = Runner(self.store, self.workspace, max_queued=settings.max_queue,
                             provider_concurrency=settings.provider_concurrency,
                             workers=settings.workers, drift_interval=settings.drift_interval,
                             remediate=settings.drift_remediate, poll=0.02)
        self.leader = False
        self.domain_list: tuple | None = None   # GET /v1/domains, rendered: (key, body)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> bool:
        # load zones/ now, in the background: the first request waits for it only if it comes
        # before it is done (a big estate takes minutes; gunicorn would time the request out)
        threading.Thread(target=self._warm_up, name="zonesync-warm-up", daemon=True).start()
        self.leader = self.runner.start()
        return self.leader

    def _warm_up(self) -> None:
        try:
            started = time.monotonic()
            view = self.warm.current()
            log.info("zones/: %d file(s) loaded and linted in %.1f s", len(view.files),
                     time.monotonic() - started)
        except Exception:  # noqa: BLE001 - the requests load it again and report it
            log.exception("loading zones/ failed")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.runner.stop()

    def workspace(self, hint=()) -> Workspace:
        """A workspace over the warm estate (current as on disk) and this thread's providers
        (loaded again when a file in providers/ changed)."""
        estate = self.warm.current(hint)
        return Workspace(self.zones, self.settings.providers, str(self.state), estate=estate,
                         providers=self._providers_now())

    def _providers_now(self):
        from ..providers.config import load_providers
        directory = self.settings.providers
        key = _dir_signature(directory)
        cached = getattr(self._providers, "value", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        providers = load_providers(directory, S.state_dir(self.zones, str(self.state)))
        self._providers.value = (key, providers)
        return providers

    # --- reading zones/ ------------------------------------------------------------------------

    def shown(self, path: Path) -> str:
        """A file as reports name it: ``zones/<file>`` (never the server's absolute path)."""
        return f"{self.zones.name}/{path.name}"

    def described(self, hint=()) -> Described:
        return Described(self.warm.current(hint), self.zones)

    def path_for(self, domain: str) -> Path:
        path = self.zones / f"{domain}.yaml"
        # canonical names hold only [a-z0-9.-]: never a separator, never ".." alone
        if path.resolve().parent != self.zones.resolve():
            raise ApiError(400, "invalid domain name", f"{domain!r} cannot name a file")
        return path

    def domain_json(self, domain: str, zf: ZoneFile, findings: list[Finding] | None = None) -> dict:
        loaded = zf.loaded
        desc = loaded.description
        found = loaded.findings if findings is None else findings
        valid = desc is not None and not F.has_errors(found)
        return {
            "domain": domain, "file": self.shown(zf.path),
            "zone": desc.zone_name if desc else None, "valid": valid,
            "description": _source(zf.path) if _parsed(loaded) else None,
            "records": records_json(compile_description(desc)) if desc is not None else [],
            "findings": [f.to_json() for f in found],
            "state": self.store.domain_states().get(domain),
            "drift": self.store.latest_drift(domain),
        }

    # --- writing zones/ ------------------------------------------------------------------------

    @contextlib.contextmanager
    def zones_lock(self):
        with self._local_lock:
            try:
                with S.zone_lock(self.state, ZONES_LOCK, timeout=LOCK_TIMEOUT):
                    yield
            except S.LockTimeout:
                raise ApiError(503, "busy", "another change to zones/ is in progress; retry",
                               headers={"Retry-After": "5"}) from None

    def put(self, domain: str, body: Any, who: str) -> tuple[dict, bool]:
        """Validate ``body`` as zones/<domain>.yaml together with the other files; write it."""
        if not isinstance(body, dict):
            body_domain = None
        else:
            body_domain = body.get("domain")
        if isinstance(body, dict) and body_domain is None and "domain" not in body:
            body = {"domain": domain, **body}
        elif isinstance(body_domain, str):
            try:
                given = names.host_name(body_domain)
            except names.NameProblem:
                given = None          # the loader reports it, located, like the CLI
            if given is not None and given != domain:
                raise ApiError(422, "domain mismatch",
                               f"the body describes {given}, the path names {domain}")
        if not self.zones.is_dir():
            raise ApiError(409, "no zones directory",
                           f"the zones directory {self.zones.name}/ does not exist")
        with self.zones_lock():
            existing = self.described().find(domain)       # current: under the lock
            path = existing.path if existing else self.path_for(domain)
            shown = self.shown(path)
            try:
                text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
            except (RecursionError, yaml.YAMLError) as exc:
                problem = "nests too deeply" if isinstance(exc, RecursionError) else "cannot be written as YAML"
                raise ApiError(422, "invalid description", [F.make(
                    "file-too-large" if isinstance(exc, RecursionError) else "schema-type",
                    f"the description {problem}", file=shown).to_json()]) from None
            _, problems = decode(text.encode("utf-8"), shown)
            if problems:
                raise ApiError(422, "invalid description", [f.to_json() for f in problems])
            new = load_text(text, shown)
            name = path.name
            # the estate with the new file instead of the old one, computed in the warm
            # estate (what changed only); nobody in this process sees it until it is written
            with self.warm.holding():
                old = self.warm.snapshot(name)
                written = False
                try:
                    self.warm.put(name, None)             # the others, without this file
                    before = self.warm.put(name, new)     # findings of those it changed
                    view = self.warm.view()
                    composed = _at(view, name)
                    blocking = [f for f in composed.findings if f.is_error]
                    introduced = _introduced(view, before, name)
                    if blocking or introduced:
                        raise ApiError(422, "invalid description",
                                       [f.to_json() for f in composed.findings + introduced])
                    created = existing is None
                    S.write_atomic(path, text)
                    written = True
                    self.warm.remember(name, text.encode("utf-8"))
                    self.warm.note_written([name])
                finally:
                    if not written:
                        self.warm.put(name, old)
            new = composed
            warnings: list[str] = []
            commit = self._commit([path], f"{'add' if created else 'update'} {domain} "
                                          f"(zonesync API, token {who})", who, warnings)
            log.info("%s %s by %s%s", "created" if created else "replaced", shown, who,
                     f" (commit {commit})" if commit else "")
            out = self.domain_json(domain, ZoneFile(path, new))
            out["commit"] = commit
            out["warnings"] = warnings
            return out, created

    def delete(self, domain: str, who: str) -> dict:
        with self.zones_lock():
            existing = self.described().find(domain)
            if existing is None:
                raise ApiError(404, "not found", f"no description for {domain} in "
                                                 f"{self.zones.name}/")
            existing.path.unlink()
            # journal first (as after a pull): its line is what tells this estate that this
            # name is all that changed in zones/; else it stats every file
            self.warm.note_written([existing.path.name])
            self.warm.current([existing.path.name])
            warnings: list[str] = []
            commit = self._commit([existing.path], f"remove {domain} (zonesync API, token {who})",
                                  who, warnings)
            log.info("deleted %s by %s%s", self.shown(existing.path), who,
                     f" (commit {commit})" if commit else "")
            return {"domain": domain, "file": self.shown(existing.path), "deleted": True,
                    "commit": commit, "warnings": warnings}

    def _commit(self, paths: list[Path], message: str, who: str,
                warnings: list[str]) -> str | None:
        """Commit (and push, if configured) when zones/ is a git work tree. A failed push is a
        warning (the commit is made; the next webhook pull reports the divergence); a failed
        commit is an error (the file is changed but not recorded)."""
        from .. import gitops
        if not gitops.is_work_tree(self.zones):
            return None
        try:
            return gitops.commit(self.zones, paths, message, who, push=self.settings.git_push)
        except gitops.GitError as exc:
            if exc.head:
                log.warning("pushing %s failed: %s", exc.head, exc)
                warnings.append(str(exc))
                return exc.head
            log.error("git commit of %s failed: %s", ", ".join(self.shown(p) for p in paths), exc)
            raise ApiError(500, "git commit failed",
                           f"the file was changed but not committed: {exc}") from None

    # --- jobs ----------------------------------------------------------------------------------

    def check_domains(self, domains: list[str] | None) -> list[str] | None:
        """Canonical names, each described in zones/ or a zone zonesync manages; else 422."""
        if domains is None:
            return None
        out, bad = [], []
        for text in domains:
            try:
                out.append(names.host_name(text))
            except names.NameProblem as exc:
                bad.append(f"{text[:300]!r}: {exc.message}")
        if bad:
            raise ApiError(422, "invalid domain names", bad)
        errors = self.workspace().select(out).errors
        if errors:
            raise ApiError(422, "unknown domains", errors)
        return sorted(set(out))

    def submit(self, kind: str, domains: list[str] | None, dry_run: bool, who: str):
        from ..store import QueueFull
        try:
            job, coalesced = self.runner.submit(kind, domains, dry_run, who)
        except QueueFull as exc:
            raise ApiError(429, "queue full", str(exc),
                           headers={"Retry-After": str(max(1, int(exc.retry_after)))}) from None
        log.info("%s job %s %s by %s for %s%s", kind, job.id,
                 "joined" if coalesced else "queued", who,
                 "every domain" if domains is None else ", ".join(domains),
                 " (dry run)" if dry_run else "")
        return job, coalesced


_UNPARSED = {"file-too-large", "yaml-syntax", "file-not-utf8", "yaml-duplicate-key",
             "file-unreadable", "file-empty"}


def _at(view: WarmView, name: str) -> Loaded:
    import bisect
    return view.files[bisect.bisect_left(view.names, name)]


def _introduced(view: WarmView, before: dict, name: str) -> list[Finding]:
    """Errors the new file gives other files: in file order, as `validate` lists them."""
    out = []
    for other in sorted(before):
        if other == name:
            continue
        old = set(before[other])
        out += [x for x in _at(view, other).findings if x.is_error and x not in old]
    return out


def _dir_signature(directory: Path) -> tuple:
    """What changes when a file in ``directory`` is added, removed, replaced or edited."""
    import os
    try:
        with os.scandir(directory) as it:
            return tuple(sorted((d.name, *_stat_key(d)) for d in it
                                if d.name.endswith((".yaml", ".yml"))))
    except OSError:
        return ()


def _stat_key(entry) -> tuple:
    try:
        s = entry.stat()
    except OSError:
        return (0, 0, 0, 0)
    return (s.st_mtime_ns, s.st_ctime_ns, s.st_size, s.st_ino)


def _parsed(loaded: Loaded) -> bool:
    """The file parsed as YAML (no alias bomb, no syntax error): safe to read again."""
    return not any(f.rule in _UNPARSED for f in loaded.findings)


def _source(path: Path) -> Any:
    """The file's content as JSON data (what PUT takes back), None if it is not YAML."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = yaml.load(path.read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# --- the git webhook -------------------------------------------------------------------------------

def hook_pull(service: Service) -> dict:
    """Fast-forward zones/ to its upstream; a sync job for what changed. ApiError 409 when the
    history diverged (nothing is changed: never forced, rebased or dropped)."""
    from .. import gitops

    with service.zones_lock():
        if not gitops.is_work_tree(service.zones):
            raise ApiError(409, "not a git work tree",
                           f"{service.zones.name}/ is not in a git work tree: there is nothing to "
                           "pull")
        result = gitops.pull(service.zones)
        if result.diverged:
            log.warning("webhook: %s", result.error)
            raise ApiError(409, "diverged", {"explanation": result.error,
                                             "old_head": result.old_head,
                                             "new_head": result.new_head, "ahead": result.ahead})
        if result.error:
            log.error("webhook: pull failed: %s", result.error)
            raise ApiError(502, "pull failed", result.error)
        touched = list(result.changed) + list(result.deleted)
        if touched:
            # journal first: the pull changed zones/'s directory entries, and the journal's
            # line (these names, the directory as it is now) is what tells this estate too
            # that those names are all that changed; else it stats every file (~1 s at
            # 100,000 files)
            service.warm.note_written(touched)
        described = service.described(touched) if touched else Described()
    changed = _changed_domains(service, described, result.changed)
    deleted = [d for d in gitops.domains_of(result.deleted) if d not in changed]
    out = {"old_head": result.old_head, "new_head": result.new_head,
           "changed": result.changed, "deleted": result.deleted, "domains": None, "job": None}
    wanted = changed + deleted
    if not wanted:
        return out
    domains: list[str] | None = sorted(set(wanted))
    if service.workspace(touched).select(domains).errors:
        # A deleted description's zone is known only to the state (managed.json) under its
        # zone's name; a sync of everything is what certainly removes its records.
        domains = None
    job, coalesced = service.submit("sync", domains, False, "git-webhook")
    out["domains"] = domains
    out["job"] = {"id": job.id, "state": job.state, "coalesced": coalesced, "kind": job.kind}
    return out


def _changed_domains(service: Service, described: Described, paths: list[str]) -> list[str]:
    """The domains the changed files describe (their names when they do not load)."""
    import bisect

    from .. import gitops

    view = described.view
    names_in = view.names if view is not None else []      # sorted: looked up, not listed
    out = []
    for path in paths:
        name = Path(path).name
        i = bisect.bisect_left(names_in, name)
        found = view.files[i] if i < len(names_in) and names_in[i] == name else None
        if found is not None and found.description is not None:
            domain = found.description.domain
        else:
            names_ = gitops.domains_of([path])
            if not names_:
                continue
            try:
                domain = names.host_name(names_[0])
            except names.NameProblem:
                continue
        if domain not in out:
            out.append(domain)
    return out
