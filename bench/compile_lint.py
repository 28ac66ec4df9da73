"""Benchmark: load + lint + compile N synthetic domains (issue "Performance", scenario 1).

Generates N descriptions shaped like shared/examples/acme.example.yaml (three transports, two
SBCs, A/AAAA) into a temporary zones/ directory, then times the same path `zonesync validate`
and `sync` take (read files → YAML → schema → lint, each file alone and all together →
compile per zone) in this process, and reports domains/s and peak RSS.

    .venv/bin/python bench/compile_lint.py 1000 10000

Prints a table; not a test (nothing asserts a number).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = """\
domain: {d}
hosts:
  sbc1.{d}: [192.0.2.10, "2001:db8::10"]
  sbc2.{d}: [192.0.2.11]
sip:
  - transport: tls
    targets:
      - {{host: sbc1.{d}, weight: 60}}
      - {{host: sbc2.{d}, weight: 40}}
  - transport: tcp
    targets:
      - {{host: sbc1.{d}}}
      - {{host: sbc2.{d}, priority: 20}}
  - transport: udp
    targets:
      - {{host: sbc1.{d}}}
      - {{host: sbc2.{d}, priority: 20}}
"""


def generate(directory: Path, n: int) -> None:
    for i in range(n):
        domain = f"c{i}.example"
        (directory / f"{domain}.yaml").write_text(TEMPLATE.format(d=domain))


def run(n: int) -> dict:
    from zonesync.estate import load_estate

    with tempfile.TemporaryDirectory() as tmp:
        zones = Path(tmp)
        generate(zones, n)
        start = time.perf_counter()
        estate = load_estate([zones])
        loaded = time.perf_counter()
        records = estate.zone_records()
        done = time.perf_counter()
    assert not estate.errors and len(records) == n
    return {"n": n, "load_lint_s": loaded - start, "compile_s": done - loaded,
            "total_s": done - start, "rate": n / (done - start),
            "records": sum(len(r) for r in records.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000])
    args = parser.parse_args()
    print(f"{'domains':>8} {'load+lint s':>12} {'compile s':>10} {'total s':>8} "
          f"{'domains/s':>10} {'records':>9} {'peak RSS MiB':>13}")
    for n in args.sizes:
        r = run(n)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{r['n']:>8} {r['load_lint_s']:>12.2f} {r['compile_s']:>10.2f} {r['total_s']:>8.2f} "
              f"{r['rate']:>10.0f} {r['records']:>9} {peak:>13.0f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
