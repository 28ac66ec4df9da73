"""The state directory: everything zonesync writes besides ``zones/`` (SPEC §6).

    <state>/zones/<zone>.zone             the embedded provider's zone files
    <state>/locks/<zone>.lock             per-zone apply locks (flock: across processes)
    <state>/backups/<time>-<zone>-<provider>.json   owned RRsets as they were before an apply
    <state>/managed/<provider>/<zone>.    zones each provider has been synced to (so that a
                                          deleted description still gets its records removed)

Default: ``.zonesync/`` beside ``zones/``; ``ZONESYNC_STATE_DIR`` overrides.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

STATE_ENV = "ZONESYNC_STATE_DIR"


def state_dir(zones_dir: Path, override: str | None = None) -> Path:
    chosen = override or os.environ.get(STATE_ENV)
    return Path(chosen) if chosen else zones_dir.resolve().parent / ".zonesync"


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so readers see the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class LockTimeout(Exception):
    pass


@contextlib.contextmanager
def zone_lock(state: Path, zone: str, timeout: float = 600.0) -> Iterator[None]:
    """Serialize applies to one zone across threads and processes (flock on a lock file)."""
    path = state / "locks" / f"{zone.rstrip('.')}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"zone {zone} is being applied by another run "
                                      f"(lock {path}); waited {timeout:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def save_backup(state: Path, zone: str, provider: str, rrsets: list[dict]) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time() % 1:.6f}"[1:]
    path = state / "backups" / f"{stamp}-{zone.rstrip('.')}-{provider}.json"
    write_atomic(path, json.dumps({"zone": zone, "provider": provider, "rrsets": rrsets},
                                  indent=1) + "\n")
    return path


def managed_zones(state: Path) -> dict[str, list[str]]:
    """Zones each provider holds owned records in: one empty file a zone under
    ``managed/<provider>/`` (so that remembering one zone is one file, never a rewrite of
    every zone's entry), plus the ``managed.json`` of earlier versions. Read again only when a
    directory's or the file's modification time moved (the service asks on every request)."""
    root = state / "managed"
    legacy = state / "managed.json"
    try:
        providers = sorted((e for e in os.scandir(root) if e.is_dir()), key=lambda e: e.name) \
            if root.is_dir() else []
    except FileNotFoundError:
        providers = []
    key = (str(state), _mtime(root), _mtime(legacy),
           tuple((e.name, _mtime(Path(e.path))) for e in providers))
    cached = _MANAGED.get(str(state))
    if cached is not None and cached[0] == key:
        return {p: list(z) for p, z in cached[1].items()}
    data: dict[str, set[str]] = {}
    for provider, zones in managed_zones_legacy(legacy).items():
        data.setdefault(provider, set()).update(zones)
    for entry in providers:
        data.setdefault(entry.name, set()).update(
            f.name for f in os.scandir(entry.path) if f.name.endswith("."))
    out = {provider: sorted(zones) for provider, zones in data.items()}
    # a directory changed within the last seconds may change again within the same timestamp
    # tick (git's "racily clean"): such a listing is not kept
    stamps = [key[1], key[2]] + [m for _, m in key[3]]
    if all(m is None or time.time_ns() - m > RACY_NS for m in stamps):
        _MANAGED[str(state)] = (key, out)
    return {p: list(z) for p, z in out.items()}


_MANAGED: dict[str, tuple] = {}
RACY_NS = 2_000_000_000


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def remember_zone(state: Path, provider: str, zone: str, present: bool) -> None:
    """Record that ``provider`` holds (present) or no longer holds owned records in ``zone``."""
    zone = zone.rstrip(".") + "."
    path = state / "managed" / provider / zone
    if present:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    legacy = state / "managed.json"
    if legacy.exists():
        with zone_lock(state, ".managed"):
            data = managed_zones_legacy(legacy)
            if zone in data.get(provider, []):
                data[provider] = [z for z in data[provider] if z != zone]
                write_atomic(legacy, json.dumps(data, indent=1, sort_keys=True) + "\n")


def managed_zones_legacy(path: Path) -> dict[str, list[str]]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
