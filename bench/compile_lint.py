"""Benchmark: load + lint + compile N synthetic domains (issue "Performance", scenario 1).

Generates N descriptions shaped like shared/examples/acme.example.yaml (three transports, two
SBCs, A/AAAA) into a temporary zones/ directory, then times the same path `zonesync validate`
and `sync` take (read files → YAML → schema → lint, each file alone and all together →
compile per zone) and reports domains/s and peak RSS; also the rate in one process
(``ZONESYNC_LOAD_WORKERS=1``) and, before and after, how much two CPU-bound processes get
done here at once (``bench/cores.py``: on this VM it varies between about 1x and 1.6x).

Each size runs in a fresh Python process (cold: no caches, its own peak RSS; the files are
written before the clock starts). ``--warm`` also times a second load of the same, unchanged
files in that process (the running service reloads its estate often), reported separately.

    .venv/bin/python bench/compile_lint.py 1000 10000 100000

Prints a table; not a test (nothing asserts a number).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


def _timed_load(zones: Path) -> tuple[float, float, object, dict]:
    from zonesync.estate import load_estate

    start = time.perf_counter()
    estate = load_estate([zones])
    loaded = time.perf_counter()
    records = estate.zone_records()
    done = time.perf_counter()
    return loaded - start, done - loaded, estate, records


def measure(n: int, warm: bool) -> dict:
    """One size, in this process: generate, then time the cold load (and a warm one)."""
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        zones = Path(tmp)
        generate(zones, n)
        load_s, compile_s, estate, records = _timed_load(zones)
        assert not estate.errors and len(records) == n
        out = {"n": n, "load_lint_s": load_s, "compile_s": compile_s,
               "total_s": load_s + compile_s, "rate": n / (load_s + compile_s),
               "records": sum(len(r) for r in records.values())}
        out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if warm:
            del estate, records
            load_s, compile_s, estate, records = _timed_load(zones)
            out["warm_s"] = load_s + compile_s
            out["warm_rate"] = n / out["warm_s"]
            out["warm_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000])
    parser.add_argument("--warm", action="store_true", help="also time a second (warm) load")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.sizes[0], args.warm)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cores import describe, parallel_factor
    print(f"# before: {describe(parallel_factor())}")
    header = (f"{'domains':>8} {'load+lint s':>12} {'compile s':>10} {'total s':>8} "
              f"{'domains/s':>10} {'1 process/s':>12} {'records':>9} {'peak RSS MiB':>13}")
    if args.warm:
        header += f" {'warm s':>7} {'warm dom/s':>10}"
    print(header)
    sys.stdout.flush()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(n)] + (["--warm"] if args.warm else [])
        r = _child(cmd, env)
        # The same in one process (ZONESYNC_LOAD_WORKERS=1): what the second one adds here.
        alone = _child(cmd, dict(env, ZONESYNC_LOAD_WORKERS="1"))
        line = (f"{r['n']:>8} {r['load_lint_s']:>12.2f} {r['compile_s']:>10.2f} "
                f"{r['total_s']:>8.2f} {r['rate']:>10.0f} {alone['rate']:>12.0f} "
                f"{r['records']:>9} {r['peak_mib']:>13.0f}")
        if args.warm:
            line += f" {r['warm_s']:>7.2f} {r['warm_rate']:>10.0f}"
        print(line)
        sys.stdout.flush()
    print(f"# after: {describe(parallel_factor())}")


def _child(cmd: list[str], env: dict) -> dict:
    result = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
