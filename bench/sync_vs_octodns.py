"""Benchmark: zonesync sync/plan against plain octodns-sync on a real PowerDNS (loopback).

For each N (default 100), in one run:

1. starts a fresh PowerDNS (tests.dnsservers.PowerDnsServer: pdns_server + gsqlite3 + HTTP API
   on 127.0.0.1, state in a temp directory);
2. writes N acme.example-like descriptions (bench/compile_lint.py's TEMPLATE) into tmp/zones and
   tmp/providers/pdns.yaml (octodns_powerdns.PowerDnsProvider, create_zones, mode native);
3. times, wall clock and client CPU (user+sys of the child process, getrusage(RUSAGE_CHILDREN)):
   a. `zonesync sync --force`  -- first sync of N zones: plan + apply + verify;
   b. `zonesync plan`          -- steady state, nothing changed;
   c. the same records (read back from PowerDNS after (a), zonesync's ownership TXT markers
      included, apex SOA/NS left out) as an octoDNS YAML source, one <zone>.yaml per zone,
      synced with plain octoDNS to a SECOND fresh PowerDNS: `octodns-sync` (dry run, every zone
      missing) then `octodns-sync --doit` (first apply), then once more `octodns-sync` (dry run,
      steady state: every zone exists and matches), octoDNS's default max_workers;
4. prints one table, with the ratios zonesync/octoDNS for
   "plan (steady state) vs octodns-sync dry-run", the same against the steady-state dry run
   (like for like: both read N existing zones) and "first sync (with verify) vs --doit".

Run from the checkout root (tests.dnsservers must be importable):

    PYTHONPATH=. .venv/bin/python bench/sync_vs_octodns.py 100 1000

Needs Debian's pdns-server + pdns-backend-sqlite3. Both servers are stopped and the temp
directory removed on exit, also on error. Not a test: nothing asserts a number.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.compile_lint import generate
from tests.dnsservers import PowerDnsServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ZONESYNC = BIN / "zonesync"
OCTODNS_SYNC = BIN / "octodns-sync"
KEY_VAR = "ZS_BENCH_PDNS_KEY"
TIMEOUT = 3600  # per command, seconds


def provider_yaml(server: PowerDnsServer) -> str:
    return (f"class: octodns_powerdns.PowerDnsProvider\ndefault: true\ncreate_zones: true\n"
            f"settings:\n  host: 127.0.0.1\n  port: {server.api_port}\n"
            f"  api_key: env/{KEY_VAR}\n  enable_dynamic: false\n"
            f"  mode_of_operation: native\n"
            f"verify:\n  nameservers: ['{server.nameserver}']\n  wait: 10\n")


def timed(label: str, argv: list[str], cwd: Path, env: dict[str, str],
          ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Run ``argv``; (wall s, child CPU s user+sys). Raises on an unexpected exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if run.returncode not in ok:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-30:])
        raise RuntimeError(f"{label}: exit {run.returncode}\n{tail}")
    return wall, cpu


def owned_rrsets(server: PowerDnsServer, zones: list[str]) -> set[tuple]:
    """Every RRset of ``zones`` on ``server`` but SOA and apex NS: (name, type, ttl, values)."""
    found = set()
    for name in zones:
        for rrset in server.zone(name)["rrsets"]:
            if rrset["type"] == "SOA" or (rrset["type"] == "NS" and rrset["name"] == f"{name}."):
                continue
            found.add((rrset["name"], rrset["type"], rrset["ttl"],
                       tuple(sorted(r["content"] for r in rrset["records"]))))
    return found


def dump_to_yaml(server: PowerDnsServer, zones: list[str], directory: Path) -> None:
    """Read every zone back from ``server`` through octodns_powerdns's populate and write it
    as octoDNS YAML (one <zone>.yaml each), without SOA and the apex NS."""
    from octodns.provider.plan import Plan
    from octodns.provider.yaml import YamlProvider
    from octodns.zone import Zone
    from octodns_powerdns import PowerDnsProvider

    source = PowerDnsProvider("pdns", host="127.0.0.1", port=server.api_port,
                              api_key=server.api_key, enable_dynamic=False,
                              mode_of_operation="native")
    target = YamlProvider("dump", str(directory), supports_root_ns=False)
    logging.getLogger().setLevel(logging.ERROR)
    for name in zones:
        live = Zone(f"{name}.", [])
        source.populate(live, lenient=True)
        zone = Zone(f"{name}.", [])
        for record in live.records:
            if record._type == "NS" and record.name == "":
                continue
            zone.add_record(record, lenient=True)
        plan = target.plan(zone) or Plan(zone, zone, [], False)
        target.apply(plan)


def octodns_config(directory: Path, server: PowerDnsServer, zones: list[str]) -> str:
    lines = ["providers:",
             "  config:",
             "    class: octodns.provider.yaml.YamlProvider",
             f"    directory: {directory}",
             "    supports_root_ns: false",
             "  pdns:",
             "    class: octodns_powerdns.PowerDnsProvider",
             "    host: 127.0.0.1",
             f"    port: {server.api_port}",
             f"    api_key: env/{KEY_VAR}",
             "    enable_dynamic: false",
             "    mode_of_operation: native",
             "zones:"]
    for name in zones:
        lines += [f"  {name}.:", "    sources: [config]", "    targets: [pdns]"]
    return "\n".join(lines) + "\n"


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONESYNC_")}
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def run(n: int, tmp: Path) -> list[tuple[str, float, float]]:
    zones = [f"c{i}.example" for i in range(n)]
    home = tmp / "home"
    (home / "zones").mkdir(parents=True)
    (home / "providers").mkdir()
    generate(home / "zones", n)
    rows: list[tuple[str, float, float]] = []
    with PowerDnsServer(tmp / "pdns1") as first:
        (home / "providers" / "pdns.yaml").write_text(provider_yaml(first))
        env = base_env() | {KEY_VAR: first.api_key}
        rows.append(("zonesync sync --force (first)",
                     *timed("zonesync sync", [str(ZONESYNC), "sync", "--force"], home, env)))
        rows.append(("zonesync plan (steady)",
                     *timed("zonesync plan", [str(ZONESYNC), "plan", "--exit-code"], home, env)))
        expected = owned_rrsets(first, zones)
        records = sum(len(values) for *_, values in expected)
        dump_to_yaml(first, zones, tmp / "octo" / "config")
    with PowerDnsServer(tmp / "pdns2") as second:
        config = tmp / "octo" / "config.yaml"
        config.write_text(octodns_config(tmp / "octo" / "config", second, zones))
        env = base_env() | {KEY_VAR: second.api_key}
        rows.append(("octodns-sync (dry run)",
                     *timed("octodns-sync", [str(OCTODNS_SYNC), "--config-file", str(config)],
                            tmp / "octo", env)))
        rows.append(("octodns-sync --doit (first)",
                     *timed("octodns-sync --doit",
                            [str(OCTODNS_SYNC), "--config-file", str(config), "--doit"],
                            tmp / "octo", env)))
        rows.append(("octodns-sync (dry run, steady)",
                     *timed("octodns-sync", [str(OCTODNS_SYNC), "--config-file", str(config)],
                            tmp / "octo", env)))
        if owned_rrsets(second, zones) != expected:
            raise RuntimeError("octoDNS's target does not hold the records zonesync wrote")
    print(f"# N={n}: {records} records ({records // n} per zone, markers included)",
          file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100])
    args = parser.parse_args()
    print(f"{'scenario':<34} {'N':>6} {'wall s':>8} {'client CPU s':>13}")
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix="zs-bench-"))
        try:
            rows = run(n, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for label, wall, cpu in rows:
            print(f"{label:<34} {n:>6} {wall:>8.2f} {cpu:>13.2f}")
        t = {label: (wall, cpu) for label, wall, cpu in rows}
        for label, zs, od in (("ratio plan / octodns-sync dry-run", "zonesync plan (steady)",
                               "octodns-sync (dry run)"),
                              ("ratio plan / dry-run (both steady)", "zonesync plan (steady)",
                               "octodns-sync (dry run, steady)"),
                              ("ratio first sync / --doit", "zonesync sync --force (first)",
                               "octodns-sync --doit (first)")):
            print(f"{label:<34} {n:>6} {t[zs][0] / t[od][0]:>7.2f}x "
                  f"{t[zs][1] / t[od][1]:>12.2f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
