"""A warm estate: ``zones/`` loaded and linted once, then kept current file by file.

The service answers and runs jobs from one ``WarmEstate`` per process instead of loading and
linting the whole directory for every request. What it hands out (``current()``) is always what
a fresh ``estate.load_estate`` of the directory would give — the same files in the same order,
each with the same findings — at the cost of what changed, not of the estate's size:

* every file's load result is kept with its signature (mtime_ns, ctime_ns, size, inode, mode);
  only files whose signature changed are loaded again. A file written twice within the clock's
  granularity can keep its signature ("racy", as git calls it): a file modified less than
  ``RACY_NS`` before it was looked at has its content digest checked again until it is older;
* which files may have changed comes from, cheapest first: the caller (a PUT, a webhook's
  pull: ``current(hint)``), a journal in the state directory that every writer of the service
  appends the names it changed to (under the zones lock: another gunicorn worker reads it), and
  the directory's own signature — when the directory changed and the journal does not explain
  it (a `git pull` by hand, a file copied in), or every ``rescan`` seconds (an edit in place
  changes no directory entry), every file is stat'ed again (no file is read unless it changed);
* per-file lint (``estate.check_file``) depends on the estate only through the "known hosts"
  set, and only through the names it asks about: each file's questions are recorded, and the
  file is linted again when the answer to one of them changes;
* the cross-file rules (``lint.lint_estate``: one domain in two files, one host or one SRV owner
  with two values) relate only files that share a key (a domain, a host, an owner). After a
  change, the files sharing a key with the changed ones (old and new versions) get their
  cross-file findings recomputed, by ``lint_estate`` itself, over themselves and every file
  sharing a key with them, in file order — which is every file each of their findings can
  depend on.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import stat as st
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import findings as F
from .estate import Estate, check_file, long_lived
from .findings import Finding
from .lint import lint_estate
from .load import SUFFIXES, Loaded, load_file, load_many

RACY_NS = 3_000_000_000        # a file modified this recently may change again unseen
JOURNAL = "zones.journal"      # in the state directory: "<dir mtime_ns> <name>..." a line
JOURNAL_MAX = 1 << 20          # bytes; then it is replaced (readers rescan once)

Sig = tuple[int, int, int, int, int]




def _sig(s: os.stat_result) -> Sig:
    return (s.st_mtime_ns, s.st_ctime_ns, s.st_size, s.st_ino, s.st_mode)


def _stat(path: Path) -> Sig | None:
    """The file's signature; a dangling symlink by its link; None when the name is gone."""
    try:
        return _sig(os.stat(path))
    except FileNotFoundError:
        try:
            return _sig(os.lstat(path))
        except FileNotFoundError:
            return None
    except OSError:
        try:
            return _sig(os.lstat(path))
        except OSError:
            return None


def _digest(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.blake2b(handle.read(), digest_size=16).digest()
    except OSError:
        return None


def _listed(name: str) -> bool:
    return name.endswith(SUFFIXES)


def _unicode(name: str) -> str:
    try:
        import idna
        return idna.decode(name)
    except Exception:  # noqa: BLE001
        return name


class _Asked:
    """The known-hosts set as lint sees it, recording every name it is asked about."""

    __slots__ = ("known", "asked", "everything")

    def __init__(self, known: set[str]):
        self.known, self.asked, self.everything = known, set(), False

    def __contains__(self, name) -> bool:
        self.asked.add(name)
        return name in self.known

    def __iter__(self):
        self.everything = True
        return iter(self.known)

    def __len__(self) -> int:
        self.everything = True
        return len(self.known)


def _keys(loaded: Loaded) -> frozenset:
    """What the cross-file rules relate files by: the domain, the hosts, the SRV owners."""
    desc = loaded.description
    if desc is None:
        return frozenset()
    keys = {("d", desc.domain)}
    keys.update(("h", h) for h in desc.hosts)
    keys.update(("o", entry.owner) for entry in desc.entries() if entry.owner is not None)
    keys.update(("o", owner) for _transport, owner in desc.disabled_owners())
    return frozenset(keys)


@dataclass
class _Entry:
    name: str
    sig: Sig | None
    digest: bytes | None
    base: Loaded                         # as loaded: the loader's findings only
    keys: frozenset = frozenset()
    local: list[Finding] = field(default_factory=list)
    asked: frozenset | None = frozenset()   # None: asked for the whole set
    cross: list[Finding] = field(default_factory=list)
    loaded: Loaded | None = None         # base + local + cross, what the estate shows
    racy: bool = False

    def compose(self) -> None:
        b = self.base
        self.loaded = Loaded(b.file, b.description, b.findings + self.local + self.cross, b.lines)


class WarmView(Estate):
    """One generation of the warm estate: an ``Estate`` with indexed lookups. Never changed
    after it is handed out (a later change makes a new view)."""

    def __init__(self, files: list[Loaded], names: list[str], generation: int,
                 live: "WarmEstate | None" = None):
        super().__init__(files)
        self.names = names
        self.generation = generation
        self._live = live
        self._by_domain: dict[str, Loaded] | None = None
        self._errors: list[Finding] | None = None
        self._findings: list[Finding] | None = None
        self._index_lock = threading.Lock()

    @property
    def findings(self) -> list[Finding]:
        if self._findings is None:
            self._findings = [f for loaded in self.files for f in loaded.findings]
        return self._findings

    @property
    def errors(self) -> list[Finding]:
        if self._errors is None:
            self._errors = [f for f in self.findings if f.is_error]
        return self._errors

    def _index(self) -> None:
        with self._index_lock:
            if self._by_domain is not None:
                return
            by_domain: dict[str, Loaded] = {}
            by_stem: dict[str, Loaded] = {}
            by_name: dict[str, list[Loaded]] = {}
            by_zone: dict[str, list[int]] = {}
            by_provider: dict[str, list[int]] = {}
            broken: list[int] = []
            position: dict[int, int] = {}
            for i, loaded in enumerate(self.files):
                position[id(loaded)] = i
                desc = loaded.description
                if desc is not None:
                    by_domain.setdefault(desc.domain, loaded)
                    if "xn--" in desc.domain:
                        by_domain.setdefault(_unicode(desc.domain), loaded)
                    by_zone.setdefault(desc.zone_name, []).append(i)
                    for p in desc.providers or ():
                        by_provider.setdefault(p, []).append(i)
                else:
                    by_stem.setdefault(Path(loaded.file).stem.lower().rstrip("."), loaded)
                if any(f.is_error for f in loaded.findings):
                    broken.append(i)
                by_name.setdefault(Path(loaded.file).name, []).append(loaded)
            self._by_stem, self._by_name, self._position = by_stem, by_name, position
            self._by_zone, self._by_provider, self._broken = by_zone, by_provider, broken
            self._by_domain = by_domain

    def _first(self, hits: list[Loaded | None]) -> Loaded | None:
        hits = [h for h in hits if h is not None]
        return min(hits, key=lambda h: self._position[id(h)]) if hits else None

    def _current(self):
        """The warm estate, locked, when this view is still its current generation (its
        indexes then answer for this view), else None (the view indexes itself)."""
        live = self._live
        if live is None:
            return contextlib.nullcontext(None)
        return live._if_generation(self.generation)

    def find(self, domain_or_file: str) -> Loaded | None:
        """As ``Estate.find`` (domain, then file path, then a broken file's name), indexed."""
        with self._current() as live:
            if live is not None:
                return live._find(domain_or_file, self)
        self._index()
        wanted = domain_or_file.rstrip(".").lower()
        hit = self._by_domain.get(wanted)
        if hit is not None:
            return hit
        target = Path(domain_or_file)
        symlinks = getattr(self, "symlinks", False)
        candidates = self.files if symlinks else self._by_name.get(target.name, [])
        if candidates:
            resolved = target.resolve()
            for loaded in candidates:
                if Path(loaded.file).resolve() == resolved:
                    return loaded
        return self._first([self._by_stem.get(wanted), self._by_stem.get(_unicode(wanted))])

    def described(self, domain: str) -> tuple[str, Loaded] | None:
        """(file name, load result) of the file describing ``domain`` (canonical; exactly that
        domain), else of a file that does not load named after it; None."""
        with self._current() as live:
            if live is not None:
                return live._described(domain)
        self._index()
        found = self._by_domain.get(domain)
        if found is None or found.description is None or found.description.domain != domain:
            found = self._first([self._by_stem.get(domain), self._by_stem.get(_unicode(domain))])
        return None if found is None else (self.names[self._position[id(found)]], found)

    def narrowed(self, domains: Iterable[str], providers) -> Estate:
        """The files ``sync.select(domains)`` can depend on, in order: those of the wanted
        domains' zones (or of a zone so named), every file with errors (it may block a zone),
        every file naming a provider that is not configured (select reports those, whatever
        the domains). ``select`` over them gives what it gives over every file."""
        domains = list(domains)
        with self._current() as live:
            if live is not None:
                return live._narrowed(domains, providers)
        self._index()
        keep: set[int] = set(self._broken)
        for domain in domains:
            loaded = self.find(domain)
            if loaded is not None:
                keep.add(self._position[id(loaded)])
                if loaded.description is not None:
                    keep.update(self._by_zone.get(loaded.description.zone_name, ()))
            keep.update(self._by_zone.get(domain.rstrip(".").lower(), ()))
        for name in providers.unknown(list(self._by_provider)):
            keep.update(self._by_provider[name])
        return Estate([self.files[i] for i in sorted(keep)])


class WarmEstate:
    """zones/ loaded and linted once, kept current (see the module's doc). Thread-safe."""

    def __init__(self, zones: Path, shown: Callable[[Path], str] | None = None, *,
                 journal: Path | None = None, rescan: float | None = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.zones = Path(zones)
        self.shown = shown or (lambda p: str(p))
        self.journal = journal
        self.rescan = rescan
        self.clock = clock
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._loaded: list[Loaded | None] = []    # entries' loaded, in _order's order
        self._known_set: set[str] = set()         # hosts some description gives
        self._racy: set[str] = set()
        self._known: dict[str, int] = {}          # host -> files whose hosts name it
        self._askers: dict[str, set[str]] = {}     # host -> files whose lint asked about it
        self._ask_all: set[str] = set()
        self._by_key: dict[tuple, set[str]] = {}
        # what views look up, kept for the current generation
        self._dom: dict[str, set[str]] = {}        # domain (and an IDN's Unicode form)
        self._stems: dict[str, set[str]] = {}      # name of a file that does not load
        self._zone: dict[str, set[str]] = {}
        self._prov: dict[str, set[str]] = {}
        self._broken: set[str] = set()
        self._dir_sig: tuple | None = None
        self._journal_pos: tuple[int, int] | None = None   # (inode, offset)
        self._journal_dir: int | None = None
        self._scanned_at: float | None = None
        self._pending: set[str] = set()
        self._rescanning: threading.Thread | None = None
        self._symlinks = False
        self._view: WarmView | None = None
        self.generation = 0
        self.stats = {"full_scans": 0, "reloaded": 0, "relinted": 0, "cross_files": 0}

    # --- what the callers use -------------------------------------------------------------------

    def current(self, hint: Iterable[str | os.PathLike] = ()) -> WarmView:
        """The estate as on disk now. ``hint``: files known to have changed (names or paths)."""
        with self._lock:
            self._refresh({Path(h).name for h in hint})
            return self._view_now()

    def invalidate(self, paths: Iterable[str | os.PathLike]) -> None:
        """These files changed (or may have): looked at again at the next ``current()``."""
        with self._lock:
            self._pending.update(Path(p).name for p in paths)

    def holding(self):
        """Hold the estate: nobody else in this process reads it until the block ends (for a
        change tried in the cache with ``put`` and written, or put back)."""
        return self._lock

    def view(self) -> WarmView:
        """The cache as it is now, not looking at the disk (``current`` looks)."""
        with self._lock:
            return self._view_now()

    def snapshot(self, name: str) -> tuple | None:
        """What the cache holds for ``name`` (to ``put`` it back): (sig, digest, Loaded)."""
        with self._lock:
            e = self._entries.get(name)
            return None if e is None else (e.sig, e.digest, e.base)

    def put(self, name: str, loaded: Loaded | tuple | None) -> dict[str, list[Finding]]:
        """Make ``name`` hold ``loaded`` (None: absent) in the cache only, not on disk — to see
        what the estate would be. Returns the findings (before the change) of every file whose
        findings were recomputed. ``remember`` it once written, or put back the old value."""
        with self._lock:
            self._view_now()
            before: dict[str, list[Finding]] = {}
            if isinstance(loaded, Loaded):
                loaded = (None, None, loaded)
            self._apply({name: loaded}, before)
            return before

    def entry(self, name: str) -> Loaded | None:
        """The file's load result as loaded (unlinted), None when the cache has no such file."""
        with self._lock:
            e = self._entries.get(name)
            return None if e is None else e.base

    def remember(self, name: str, text: bytes | None = None) -> None:
        """``name`` was just written (``text``) or removed by this process, as the cache holds
        it already: record its signature so that it is not loaded again."""
        with self._lock:
            path = self.zones / name
            e = self._entries.get(name)
            if e is None:
                return
            e.sig = _stat(path)
            e.digest = hashlib.blake2b(text, digest_size=16).digest() if text is not None \
                else _digest(path)
            e.racy = True
            self._racy.add(name)

    def note_written(self, names: Iterable[str]) -> None:
        """For writers holding the zones lock: tell other processes (the journal) which files
        changed, and which directory signature that leaves."""
        names = [Path(n).name for n in names]
        with self._lock:
            dsig = self._dir_stat()
            if self.journal is None:
                return
            line = f"{dsig[0] if dsig else 0} {' '.join(names)}\n".encode()
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            try:
                if self.journal.stat().st_size > JOURNAL_MAX:
                    tmp = self.journal.with_suffix(".new")
                    tmp.write_bytes(b"")
                    os.replace(tmp, self.journal)
            except FileNotFoundError:
                pass
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    # --- lookups for the current view -----------------------------------------------------------

    @contextlib.contextmanager
    def _if_generation(self, generation: int):
        with self._lock:
            yield self if generation == self.generation else None

    def _first(self, names) -> str | None:
        return min(names) if names else None

    def _find(self, domain_or_file: str, view: WarmView) -> Loaded | None:
        wanted = domain_or_file.rstrip(".").lower()
        name = self._first(self._dom.get(wanted))
        if name is not None:
            return self._entries[name].loaded
        target = Path(domain_or_file)
        candidates = view.files if self._symlinks else (
            [self._entries[target.name].loaded] if target.name in self._entries else [])
        if candidates:
            resolved = target.resolve()
            for loaded in candidates:
                if Path(loaded.file).resolve() == resolved:
                    return loaded
        name = self._first(self._stems.get(wanted, set()) | self._stems.get(_unicode(wanted), set()))
        return None if name is None else self._entries[name].loaded

    def _described(self, domain: str) -> tuple[str, Loaded] | None:
        names = [n for n in self._dom.get(domain, ()) if self._entries[n].base.description.domain == domain]
        name = self._first(names) or self._first(
            self._stems.get(domain, set()) | self._stems.get(_unicode(domain), set()))
        return None if name is None else (name, self._entries[name].loaded)

    def _narrowed(self, domains: list[str], providers) -> Estate:
        keep = set(self._broken)
        for domain in domains:
            wanted = domain.rstrip(".").lower()
            found = self._find(domain, self._view)
            if found is not None:
                keep.add(Path(found.file).name if Path(found.file).name in self._entries
                         else self._name_of(found))
                if found.description is not None:
                    keep |= self._zone.get(found.description.zone_name, set())
            keep |= self._zone.get(wanted, set())
        for name in providers.unknown(list(self._prov)):
            keep |= self._prov[name]
        keep.discard(None)
        return Estate([self._entries[n].loaded for n in sorted(keep)])

    def _name_of(self, loaded: Loaded) -> str | None:
        for name, e in self._entries.items():
            if e.loaded is loaded:
                return name
        return None

    def _index_entry(self, e: _Entry, add: bool) -> None:
        desc = e.base.description
        if desc is not None:
            keys = [(self._dom, desc.domain), (self._zone, desc.zone_name)]
            if "xn--" in desc.domain:
                keys.append((self._dom, _unicode(desc.domain)))
            keys += [(self._prov, p) for p in desc.providers or ()]
        else:
            keys = [(self._stems, Path(e.base.file).stem.lower().rstrip("."))]
        for index, key in keys:
            if add:
                index.setdefault(key, set()).add(e.name)
            else:
                names = index.get(key)
                if names is not None:
                    names.discard(e.name)
                    if not names:
                        del index[key]

    # --- keeping current ----------------------------------------------------------------------

    def _dir_stat(self) -> tuple | None:
        try:
            s = os.stat(self.zones)
        except OSError:
            return None
        if not st.S_ISDIR(s.st_mode):
            return None
        return (s.st_mtime_ns, s.st_ctime_ns, s.st_ino)

    def _read_journal(self) -> tuple[set[str], int | None, bool]:
        """(names written since the last read, the directory mtime the last line recorded,
        whether the journal could be followed: False when it was replaced or is unreadable)."""
        if self.journal is None:
            return set(), None, True
        pos = self._journal_pos
        try:
            with open(self.journal, "rb") as handle:
                ino = os.fstat(handle.fileno()).st_ino
                if pos is not None and pos[0] == -1:        # it did not exist: all of it is new
                    pos = (ino, 0)
                if pos is None or pos[0] != ino:
                    handle.seek(0, os.SEEK_END)
                    self._journal_pos = (ino, handle.tell())
                    return set(), None, False
                handle.seek(pos[1])
                data = handle.read()
        except FileNotFoundError:
            followed = pos is None or pos[0] == -1
            self._journal_pos = (-1, 0)
            return set(), None, followed
        except OSError:
            return set(), None, False
        end = data.rfind(b"\n") + 1
        self._journal_pos = (ino, pos[1] + end)
        names: set[str] = set()
        last = None
        for line in data[:end].decode("utf-8", "replace").splitlines():
            parts = line.split()
            if not parts:
                continue
            try:
                last = int(parts[0])
            except ValueError:
                return names, None, False
            names.update(parts[1:])
        return names, last, True

    def _refresh(self, hint: set[str]) -> None:
        hint |= self._pending
        self._pending = set()
        dsig = self._dir_stat()
        written, recorded, followed = self._read_journal()
        hint |= written
        if self._scanned_at is None or dsig is None or self._dir_sig is None:
            full = True
        else:
            explained = followed and recorded is not None and recorded == dsig[0]
            full = (dsig != self._dir_sig and not explained) or not followed
            if (not full and self.rescan is not None and self._rescanning is None
                    and self.clock() - (self._scanned_at or 0) > self.rescan):
                # nothing says a file changed: look at every file's signature anyway (an edit
                # in place changes no directory entry), off the caller's path
                self._scanned_at = self.clock()
                self._rescanning = threading.Thread(target=self._rescan, daemon=True,
                                                    name="zonesync-zones-rescan")
                self._rescanning.start()
        changes: dict[str, tuple | None] = {}
        now_ns = time.time_ns()
        if full:
            self.stats["full_scans"] += 1
            self._scanned_at = self.clock()
            seen = self._scan(dsig)
            for name, sig in seen.items():
                self._check(name, sig, now_ns, changes)
            for name in self._entries:
                if name not in seen:
                    changes[name] = None
        else:
            for name in hint | self._racy:
                if not _listed(name):
                    continue
                self._check(name, _stat(self.zones / name), now_ns, changes)
                if os.path.islink(self.zones / name):
                    self._symlinks = True
        self._dir_sig = dsig
        if changes:
            self._apply({name: (c[0], c[1], None) if c is not None else None
                         for name, c in changes.items()})
        self._racy = {n for n in self._racy if n in self._entries and self._entries[n].racy}

    def _rescan(self) -> None:
        """Every file's signature, stat'ed without holding the estate; what looks changed is
        looked at again under it (the scan may be older than a change made meanwhile)."""
        try:
            self.stats["full_scans"] += 1
            seen = self._scan(self._dir_stat())
            with self._lock:
                suspects = {n for n, sig in seen.items()
                            if n not in self._entries or self._entries[n].sig != sig}
                suspects |= {n for n in self._entries if n not in seen}
                changes: dict = {}
                now_ns = time.time_ns()
                for name in suspects:
                    self._check(name, _stat(self.zones / name), now_ns, changes)
                if changes:
                    self._apply({name: (c[0], c[1], None) if c is not None else None
                                 for name, c in changes.items()})
        except Exception:  # noqa: BLE001 - the next scan tries again
            pass
        finally:
            self._rescanning = None

    def settle(self, timeout: float = 60) -> None:
        """Wait for a background rescan to end (tests, benchmarks)."""
        thread = self._rescanning
        if thread is not None:
            thread.join(timeout)

    def _scan(self, dsig) -> dict[str, Sig | None]:
        if dsig is None:
            return {}
        out: dict[str, Sig | None] = {}
        self._symlinks = False
        try:
            with os.scandir(self.zones) as it:
                for d in it:
                    if not _listed(d.name):
                        continue
                    try:
                        if d.is_symlink():
                            self._symlinks = True
                        if not d.is_file() and not (d.is_symlink() and not os.path.exists(d.path)):
                            continue            # a directory named x.yaml: not a description
                        out[d.name] = _sig(d.stat()) if os.path.exists(d.path) \
                            else _sig(d.stat(follow_symlinks=False))
                    except OSError:
                        continue
        except OSError:
            return {}
        return out

    def _check(self, name: str, sig: Sig | None, now_ns: int, changes: dict) -> None:
        """Queue ``name`` for loading when its signature (or, racy, its content) changed."""
        path = self.zones / name
        e = self._entries.get(name)
        if sig is not None and st.S_ISDIR(sig[4]):
            sig = None
        if sig is None:
            if e is not None:
                changes[name] = None
            return
        if e is not None and e.sig == sig:
            if not e.racy:
                return
            digest = _digest(path)
            if digest == e.digest:
                e.racy = sig[0] > now_ns - RACY_NS
                if not e.racy:
                    self._racy.discard(name)
                return
        digest = _digest(path)
        changes[name] = (sig, digest)

    def _view_now(self) -> WarmView:
        if self._view is None and not self._entries and self._dir_sig is None:
            self._refresh(set())
        if self._view is None or self._view.generation != self.generation:
            view = WarmView(list(self._loaded), list(self._order), self.generation, self)
            view.symlinks = self._symlinks
            self._view = view
        return self._view

    # --- the incremental lint -----------------------------------------------------------------

    def _apply(self, changes: dict[str, tuple | None],
               before: dict[str, list[Finding]] | None = None) -> None:
        """``changes``: name -> (sig, digest, Loaded or None to load from disk), or None (gone)."""
        now_ns = time.time_ns()
        touched_hosts: set[str] = set()
        old_known = {}
        keys: set = set()
        present: list[str] = []
        # files to read, read together (stage by stage: see load_many)
        to_read = [name for name, change in changes.items()
                   if change is not None and change[2] is None]
        read = dict(zip(to_read, load_many((self.zones / n, self.shown(self.zones / n))
                                           for n in to_read)))
        self.stats["reloaded"] += len(read)
        for name, change in changes.items():
            old = self._entries.get(name)
            if old is not None:
                keys |= old.keys
                self._unindex(old, touched_hosts, old_known)
                self._index_entry(old, False)
                self._broken.discard(name)
            if change is None:
                if old is not None:
                    self._entries.pop(name)
                    self._racy.discard(name)
                    i = bisect.bisect_left(self._order, name)
                    if i < len(self._order) and self._order[i] == name:
                        self._order.pop(i)
                        self._loaded.pop(i)
                continue
            sig, digest, loaded = change
            if loaded is None:
                loaded = read[name]
            e = _Entry(name, sig, digest, loaded, keys=_keys(loaded),
                       racy=sig is not None and sig[0] > now_ns - RACY_NS)
            if old is None:
                i = bisect.bisect_left(self._order, name)
                self._order.insert(i, name)
                self._loaded.insert(i, None)
            self._entries[name] = e
            if e.racy:
                self._racy.add(name)
            else:
                self._racy.discard(name)
            self._index_entry(e, True)
            keys |= e.keys
            for host in (loaded.description.hosts if loaded.description else ()):
                old_known.setdefault(host, self._known.get(host, 0) > 0)
                touched_hosts.add(host)
                self._known[host] = self._known.get(host, 0) + 1
                self._known_set.add(host)
            for key in e.keys:
                self._by_key.setdefault(key, set()).add(name)
            present.append(name)
        flipped = {h for h in touched_hosts if (self._known.get(h, 0) > 0) != old_known[h]}
        # per-file lint: the changed files, and those whose questions now get another answer
        relint = set(present)
        for host in flipped:
            relint |= self._askers.get(host, set())
        if flipped:
            relint |= self._ask_all
        known = self._known_set
        for name in relint:
            e = self._entries.get(name)
            if e is None:
                continue
            if before is not None and name not in before and e.loaded is not None:
                before[name] = e.loaded.findings
            self._relint(e, known)
        # cross-file lint: files sharing a key with a changed file, over their neighbourhood
        near: set[str] = set(present)
        for key in keys:
            near |= self._by_key.get(key, set())
        hood = set(near)
        for name in near:
            for key in self._entries[name].keys:
                hood |= self._by_key.get(key, set())
        self.stats["cross_files"] += len(hood)
        items = [(self._entries[n].base.file, self._entries[n].base.description)
                 for n in sorted(hood) if self._entries[n].base.description is not None]
        by_file = {self._entries[n].base.file: self._entries[n] for n in near}
        cross: dict[str, list[Finding]] = {n: [] for n in near}
        for file, finding in lint_estate(items) if items else ():
            e = by_file.get(file)
            if e is not None:
                cross[e.name].append(e.base.locate(finding))
        for name in near:
            e = self._entries[name]
            if before is not None and name not in before and e.loaded is not None:
                before[name] = e.loaded.findings
            e.cross = cross[name]
        for name in relint | near | set(present):
            e = self._entries.get(name)
            if e is not None:
                e.compose()
                self._loaded[bisect.bisect_left(self._order, name)] = e.loaded
                if any(f.is_error for f in e.loaded.findings):
                    self._broken.add(name)
                else:
                    self._broken.discard(name)
        for name in changes:
            if before is not None and name not in before:
                before[name] = []
        self.generation += 1
        # A whole estate (re)loaded (or a mass change): its objects live as long as the
        # service; without this each full pass of the collector walked them again (at 100,000
        # files, tens of ms added to a job now and then).
        long_lived(len(changes), collect=True)

    def _unindex(self, e: _Entry, touched_hosts: set[str], old_known: dict) -> None:
        desc = e.base.description
        for host in (desc.hosts if desc else ()):
            old_known.setdefault(host, self._known.get(host, 0) > 0)
            touched_hosts.add(host)
            n = self._known.get(host, 0) - 1
            if n > 0:
                self._known[host] = n
            else:
                self._known.pop(host, None)
                self._known_set.discard(host)
        for key in e.keys:
            _drop(self._by_key, key, e.name)
        self._forget_asked(e)

    def _forget_asked(self, e: _Entry) -> None:
        if e.asked is None:
            self._ask_all.discard(e.name)
            return
        for host in e.asked:
            _drop(self._askers, host, e.name)

    def _relint(self, e: _Entry, known: set[str]) -> None:
        self.stats["relinted"] += 1
        self._forget_asked(e)
        b = e.base
        work = Loaded(b.file, b.description, list(b.findings), b.lines)
        asked = _Asked(known)
        check_file(work, asked)
        e.local = work.findings[len(b.findings):]
        if asked.everything:
            e.asked = None
            self._ask_all.add(e.name)
        else:
            e.asked = frozenset(asked.asked)
            for host in e.asked:
                self._askers.setdefault(host, set()).add(e.name)


def _drop(index: dict[Any, set[str]], key: Any, name: str) -> None:
    """``name`` out of ``index[key]``, and the key out of the index once its set is empty."""
    names = index.get(key)
    if names is not None:
        names.discard(name)
        if not names:
            del index[key]


def fresh(zones: Path, shown: Callable[[Path], str]) -> Estate:
    """What the warm estate must equal: the directory loaded and linted from scratch."""
    from .estate import check
    from .load import description_files
    return check([load_file(p, shown(p)) for p in description_files([zones])]
                 if zones.is_dir() else [])


__all__ = ["WarmEstate", "WarmView", "fresh", "F"]
