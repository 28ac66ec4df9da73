"""Running one function over many zones at once: the work per zone is client CPU under the
GIL (octoDNS record building, JSON, HTTP framing) plus waiting on the provider, so threads
alone do not scale it; forked worker processes do, on every core.

``map_zones(fn, items)`` returns ``[fn(item) for item in items]``, in order. It forks only
where that is cheap and safe: enough items to pay for the workers, more than one core, and a
process with no other threads (forking a threaded process can copy a held lock). Otherwise it
runs in this process. ``fn`` and ``items`` reach the workers by inheritance, not pickling; the
results come back pickled, so they must be plain values. ``ZONESYNC_WORKERS`` sets the number
of processes (1: never fork).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS_ENV = "ZONESYNC_WORKERS"
MIN_ITEMS = 40          # below this, forking costs more than it saves
CHUNK = 16              # items a worker takes at a time (results and progress come per chunk)

_job: tuple[Callable, Sequence] | None = None


def workers(items: int) -> int:
    """How many processes to use for ``items`` zones (1: this process)."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        count = int(configured)
    else:
        count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if items < MIN_ITEMS or threading.active_count() > 1 or os.name != "posix":
        return 1
    return max(1, min(count, items // (MIN_ITEMS // 2)))


def map_zones(fn: Callable[[T], R], items: Sequence[T], on_done: Callable[[T], None] | None = None,
              count: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``; ``on_done(item)`` runs here as each one finishes."""
    return map_batches(lambda batch: [fn(item) for item in batch], items, on_done, count)


def map_batches(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T],
                on_done: Callable[[T], None] | None = None, count: int | None = None,
                size: int = CHUNK) -> list[R]:
    """``fn`` over consecutive batches of at most ``size`` items (one result per item), for
    work that is cheaper done many at a time (verify pipelines a batch's queries)."""
    items = list(items)
    count = workers(len(items)) if count is None else count
    if count <= 1:
        out: list = []
        for start in range(0, len(items), size):
            batch = items[start:start + size]
            out += fn(batch)
            for item in batch if on_done else ():
                on_done(item)
        return out
    global _job
    _job = (fn, items)
    size = max(1, min(size, -(-len(items) // (count * 2))))
    results: list = [None] * len(items)
    try:
        with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {pool.submit(_run_batch, start, min(start + size, len(items))): start
                       for start in range(0, len(items), size)}
            for future in as_completed(futures):
                start = futures[future]
                batch = future.result()
                results[start:start + len(batch)] = batch
                for item in items[start:start + len(batch)] if on_done else ():
                    on_done(item)
    finally:
        _job = None
    return results


def _run_batch(start: int, stop: int) -> list:
    """In a worker (forked: ``_job`` is inherited): the batch ``start`` to ``stop``."""
    fn, items = _job
    return fn(items[start:stop])
