"""How much CPU-bound work two processes get done here at once, compared with one.

On a virtual machine "2 cores" may be two hyperthreads of one core, or two vCPUs the host
runs as one when it is busy: a pure Python spin loop in two processes then takes longer than
in one, and any number measured with two processes means less than it seems. This prints
that factor (2.0: two real cores; 1.0: no parallelism at all), so that a table measured with
two processes can be read for what it is.

    .venv/bin/python bench/cores.py

Also imported by the other benchmarks (``parallel_factor``), which print it beside their
numbers. Not a test: nothing asserts it.
"""

from __future__ import annotations

import os
import time

SPINS = 3_000_000


def _spin(spins: int) -> None:
    x = 0
    for i in range(spins):
        x += i


def _alone(spins: int) -> float:
    start = time.perf_counter()
    _spin(spins)
    return time.perf_counter() - start


def _two(spins: int) -> float:
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            _spin(spins)
        finally:
            os._exit(0)
    _spin(spins)
    os.waitpid(pid, 0)
    return time.perf_counter() - start


def parallel_factor(rounds: int = 3, spins: int = SPINS) -> float:
    """Work done by two processes in the time one needs, best of ``rounds`` each way."""
    one = min(_alone(spins) for _ in range(rounds))
    two = min(_two(spins) for _ in range(rounds))
    return 2 * one / two


def describe(factor: float) -> str:
    return (f"two CPU-bound processes do {factor:.2f}x the work of one here "
            "(2.00 = two real cores; bench/cores.py)")


if __name__ == "__main__":
    print(describe(parallel_factor()))
