"""The estate: every description under ``zones/``, loaded, linted, grouped by DNS zone.

This is the one place that turns files into what later stages plan from. A broken file never
stops the others from being checked; its errors are reported with the rest and it contributes no
records (``valid``), so a sync can refuse it without guessing.
"""

from __future__ import annotations

import multiprocessing
import contextlib
import gc
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable

from . import findings as F
from .compile import compile_zone
from .findings import Finding
from .lint import known_hosts, lint_description, lint_estate
from .load import Loaded, description_files, load_many
from .names import is_within
from .model import Description, share_fields_sets
from .records import Record


@dataclass
class Estate:
    files: list[Loaded]

    @property
    def findings(self) -> list[Finding]:
        return [f for loaded in self.files for f in loaded.findings]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    def valid(self) -> list[Loaded]:
        """Files whose description loaded and has no error finding."""
        return [f for f in self.files if f.description and not F.has_errors(f.findings)]

    def descriptions(self) -> list[Description]:
        return [f.description for f in self.files if f.description]

    def find(self, domain_or_file: str) -> Loaded | None:
        """The file describing ``domain_or_file`` (a domain name, IDN or not, or a file path)."""
        wanted = domain_or_file.rstrip(".").lower()
        for loaded in self.files:
            desc = loaded.description
            if desc and wanted in (desc.domain, _unicode(desc.domain)):
                return loaded
        for loaded in self.files:
            if Path(loaded.file).resolve() == Path(domain_or_file).resolve():
                return loaded
        for loaded in self.files:
            # A file that does not load has no domain; zones/<domain>.yaml still names it, so
            # `compile <domain>` shows that file's errors instead of "no description".
            if loaded.description is None and _stem(loaded.file) in (wanted, _unicode(wanted)):
                return loaded
        return None

    def zone_errors(self, zone: str) -> list[Finding]:
        """Errors of every file in ``zone``: one broken neighbour makes the zone's records unsure."""
        return [f for loaded in self.files if loaded.description
                and loaded.description.zone_name == zone for f in loaded.findings if f.is_error]

    def zones(self) -> dict[str, list[Description]]:
        """Valid descriptions grouped by DNS zone (SPEC O1: plans are per zone)."""
        out: dict[str, list[Description]] = {}
        for loaded in self.valid():
            out.setdefault(loaded.description.zone_name, []).append(loaded.description)
        return out

    def zone_records(self) -> dict[str, frozenset[Record]]:
        with _no_collection():
            records = {zone: compile_zone(descs) for zone, descs in self.zones().items()}
            long_lived(len(records))
            return records


def _stem(file: str) -> str:
    name = os.path.basename(file)
    cut = name.rfind(".")
    if 0 < cut < len(name) - 1:   # what PurePath.stem does, without building a path
        return name[:cut].lower().rstrip(".")
    return Path(file).stem.lower().rstrip(".")


def _suffix_of(file: str) -> str:
    return Path(file).suffix


def _unicode(name: str) -> str:
    try:
        import idna
        return idna.decode(name)
    except Exception:  # noqa: BLE001 - a name that does not round-trip simply does not match
        return name


def check_file(loaded: Loaded, known: set[str]) -> None:
    """Lint one loaded file in place, locating each finding at its line."""
    desc = loaded.description
    if desc is None:
        return
    stem = _stem(loaded.file)
    if (stem != desc.domain and loaded.file.endswith((".yaml", ".yml"))
            and _suffix_of(loaded.file) in (".yaml", ".yml") and stem != _unicode(desc.domain)):
        loaded.findings.append(loaded.locate(F.make(
            "file-name-mismatch", f"the file describes {desc.domain}", path="domain",
            fix=f"rename the file to {desc.domain}.yaml")))
    loaded.findings.extend(loaded.locate(f) for f in lint_description(desc, known))


def check(files: list[Loaded]) -> Estate:
    """Lint freshly loaded files, each alone and all together (call once per load)."""
    return _check(files, frozenset())


def _check(files: list[Loaded], linted: Collection[int]) -> Estate:
    """``check``, for files of which those at the indexes in ``linted`` were linted alone
    already (by a worker: see ``_load_estate_parallel``)."""
    descs = [f.description for f in files if f.description]
    known = known_hosts(descs)
    for i, loaded in enumerate(files):
        if i not in linted:
            check_file(loaded, known)
    by_name = {f.file: f for f in files}
    items = [(f.file, f.description) for f in files if f.description]
    for file, finding in lint_estate(items):
        target = by_name[file]
        target.findings.append(target.locate(finding))
    return Estate(files)


def load_files(paths: Iterable[str | os.PathLike]) -> list[Loaded]:
    """Load (not lint) every description file under ``paths`` (files or directories)."""
    shown = _shower()
    return load_many((p, shown(p)) for p in description_files(paths))


def load_estate(paths: Iterable[str | os.PathLike]) -> Estate:
    """Load and lint every description file under ``paths`` (files or directories).

    A large estate is read by two processes (see ``_load_estate_parallel``); the result is
    the same, finding for finding and in the same order."""
    with _no_collection():
        files, shown = description_files(paths), _shower()
        estate = _load_estate_parallel(files, shown) if _parallel_ok(len(files)) else None
        if estate is None:
            estate = check(load_many((p, shown(p)) for p in files))
        long_lived(len(files))
        return estate


@contextlib.contextmanager
def _no_collection():
    """No cyclic garbage collection while an estate is built: it makes millions of objects
    that all stay alive, and each full collection would walk every one of them again (at
    100,000 files, a good part of the time). Nothing built here is a cycle to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


LONG_LIVED_AT = 1000   # files: an estate this large is kept, not built and dropped


def long_lived(count: int, *, collect: bool = False) -> None:
    """What was just built for ``count`` files will live as long as the process: from
    LONG_LIVED_AT on, moved out of the cyclic collector's reach (``gc.freeze``). Otherwise its
    next passes walk every one of those objects again — the first right after the build, at
    10,000 files 0.1–0.3 s a pass. Reference counting still frees them once they are dropped
    (nothing built here is a cycle). ``collect``: collect first, for a process that built
    estates before (what they left in cycles is not frozen with the new one)."""
    if count >= LONG_LIVED_AT:
        if collect:
            gc.collect()
        gc.freeze()


# --- a second process for large estates -------------------------------------------------------
#
# Reading, parsing and checking a file alone needs nothing from the others, so a forked worker
# does that for some of the files while this process does the rest. The two take chunks from
# opposite ends of the list (this process from the front, the worker from the back) until
# they meet, so neither waits for the other however the files differ in cost.
#
# What crosses back is the loaded file, pickled (unpickling its description costs this
# process half of validating it again; its line map is the text, parsed again only if a
# finding ever needs it). A file that does not load cleanly (unreadable, not YAML, not
# valid) is left to this process, which loads it exactly as the sequential path. A file whose lint would ask about
# hosts in other files (an SRV target outside its zone and not in its own `hosts`) is linted
# here, with every file's hosts known.

PARALLEL_MIN_FILES = 2000   # below this, one process is faster (forking, sending, smaller batches)
_CHUNK = 32   # files a claim and a message: well under the pipe's buffer


def _parallel_ok(count: int) -> bool:
    if count < PARALLEL_MIN_FILES or os.environ.get("ZONESYNC_LOAD_WORKERS") == "1":
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    # fork() is only safe while this process runs no other thread (a lock held by one would
    # stay held in the child forever).
    return (cpus >= 2 and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


class _Claims:
    """The indexes not yet taken, ``[front, back)``, in memory both processes share."""

    def __init__(self, ctx, count: int):
        self._lock = ctx.Lock()
        self._ends = ctx.RawArray("q", [0, count])

    def front(self) -> range:
        with self._lock:
            start, back = self._ends
            end = min(start + _CHUNK, back)
            self._ends[0] = end
        return range(start, end)

    def back(self) -> range:
        with self._lock:
            front, end = self._ends
            start = max(end - _CHUNK, front)
            self._ends[1] = start
        return range(start, end)


def _load_estate_parallel(files: list[Path], shown) -> Estate | None:
    items = [(p, shown(p)) for p in files]
    ctx = multiprocessing.get_context("fork")
    claims = _Claims(ctx, len(items))
    receive, send = ctx.Pipe(duplex=False)
    try:
        worker = ctx.Process(target=_worker, args=(send, items, claims), daemon=True)
        worker.start()
    except OSError:
        return None
    finally:
        send.close()
    loaded: list[Loaded | None] = [None] * len(items)
    linted: set[int] = set()

    def take(message) -> None:   # what the worker sent, put in its place as soon as it comes
        start, ready = message
        for i, one in enumerate(ready, start):
            if one is not None:
                loaded[i] = _from_worker(one, i, linted)
    try:
        # Between its own chunks, this process takes in what the worker sent: the pipe holds
        # only some 64 KiB (the worker would stop), and work left for after the two meet
        # would be done by this process alone.
        while chunk := claims.front():
            for i, one in zip(chunk, load_many(items[chunk.start:chunk.stop])):
                loaded[i] = _lint_alone(one, i, linted)
            while receive.poll():
                take(receive.recv())
        while True:
            take(receive.recv())
    except (EOFError, OSError):
        pass   # the worker is done (it closes its end), or died: what it did not send is below
    finally:
        receive.close()
        worker.join()
    missing = [i for i, one in enumerate(loaded) if one is None]   # left to this process
    for i, one in zip(missing, load_many(items[i] for i in missing)):
        loaded[i] = one
    return _check(loaded, linted)


def _lint_alone(loaded: Loaded, index: int, linted: set[int]) -> Loaded:
    """The file's own lint, done now when it needs no other file's hosts."""
    if loaded.description is not None and _alone(loaded.description):
        check_file(loaded, frozenset())
        linted.add(index)
    return loaded


def _from_worker(ready: tuple, index: int, linted: set[int]) -> Loaded:
    loaded, alone = ready
    share_fields_sets(loaded.description)   # as validation shares them (unpickled: each its own)
    if alone:
        linted.add(index)
    return loaded


def _worker(send, items: list[tuple[Path, str]], claims: _Claims) -> None:
    try:
        while chunk := claims.back():
            ready = [_prepared(one) for one in load_many(items[chunk.start:chunk.stop])]
            send.send((chunk.start, ready))
    except BaseException:  # noqa: BLE001 - whatever it is, the parent loads the rest itself
        pass
    finally:
        send.close()
        os._exit(0)


def _prepared(loaded: Loaded) -> tuple | None:
    """(the loaded file, linted alone?), or None for a file that did not load cleanly:
    loaded again by the parent, exactly as the sequential path does."""
    desc = loaded.description
    if desc is None or loaded.findings:
        return None
    if not _alone(desc):
        return loaded, False
    check_file(loaded, frozenset())
    return loaded, True


def _alone(desc: Description) -> bool:
    """Whether lint_description's verdict on ``desc`` needs no other file's hosts: every SRV
    target it would ask about is inside the zone or one of the description's own hosts."""
    zone, own = desc.zone_name, desc.hosts
    for entry in desc.entries():
        if entry.owner is None:
            continue
        for target in entry.targets:
            host = target.host
            if host != "." and not is_within(host, zone) and host not in own:
                return False
    return True


def _shower():
    """``_shown`` with the working directory looked up once (for a whole estate)."""
    cwd = os.getcwd()
    prefix = cwd if cwd.endswith(os.sep) else cwd + os.sep

    def shown(path: Path) -> str:
        absolute = os.path.abspath(path)
        if absolute.startswith(prefix):
            return absolute[len(prefix):]
        return "." if absolute == cwd else str(path)
    return shown


def _shown(path: Path) -> str:
    """Paths as the user will recognise them: relative to the working directory when inside it.

    Symlinks are not resolved: zones/acme.example.yaml linking elsewhere is still reported (and
    its name checked against its domain) as zones/acme.example.yaml."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
