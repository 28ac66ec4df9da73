"""Benchmark: zonesync's verify in RRset checks per second, against PowerDNS and BIND, and the
ratio to ``dnsperf`` on the same query set (issue "Performance", scenario 5).

    .venv/bin/python bench/verify_checks.py [-n 1000] [--repeat 3] [--mode batch|zone]
                                            [--seconds 3] [--servers pdns,bind]

One check = one owned RRset compared on one authoritative server. For N synthetic domains
shaped like shared/examples/acme.example.yaml (bench/compile_lint.py's TEMPLATE: TLS, TCP and
UDP, two SBCs with A/AAAA: 7 owned RRsets a domain), each in its own zone, the records zonesync
writes are compiled with zonesync, the ownership markers (``_zonesync.<type>.<name> TXT``, one
per RRset) added, and the zones served on 127.0.0.1 by

* PowerDNS (tests.dnsservers.PowerDnsServer: pdns_server + gsqlite3, the rows written straight
  into its database; packet and query caches at PowerDNS's defaults unless ``--pdns-no-cache``);
* BIND (tests.dnsservers.BindServer: ``named -g -n 1``, one zone file a zone).

Then zonesync verifies all N zones on each server (``--mode batch``: one
``verify.verify_zones`` call, what a sync of N zones does; ``--mode zone``: one ``verify_zone``
call a zone, the pre-batch path), ``--repeat`` times (the best run is reported; each must be
all ok), and ``dnsperf`` (Debian package dnsperf, ``make bench-deps``) replays the same names
and types for ``--seconds``. Without dnsperf that column says so and the rest still runs.

Prints one table: server, N, RRset checks, seconds, checks/s, dnsperf q/s, ratio, and the CPU
seconds of this process for the best pass; with both servers, a row "both" verifies every
zone on both in one call (what a sync does; no dnsperf figure). The machine is shared and
has 2 cores: numbers are noisy, compare within one run. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.compile_lint import generate  # noqa: E402
from tests.dnsservers import BindServer, PowerDnsServer  # noqa: E402
from zonesync.ownership import DEFAULT_OWNER, marker_name, marker_value  # noqa: E402
from zonesync.records import Record, sorted_records  # noqa: E402

MARKER_TTL = 300  # what plan.py gives markers


def compile_zones(n: int, workdir: Path) -> dict[str, list[Record]]:
    """zone (absolute) → the records zonesync compiles for it, for N generated descriptions."""
    from zonesync.estate import load_estate

    zones_dir = workdir / "zones"
    zones_dir.mkdir(parents=True, exist_ok=True)
    generate(zones_dir, n)
    estate = load_estate([zones_dir])
    if estate.errors:
        raise SystemExit(f"generated descriptions have errors: {estate.errors[0].to_text()}")
    return {zone + ".": sorted_records(records) for zone, records in estate.zone_records().items()}


def markers(zone: str, records: list[Record], owner: str = DEFAULT_OWNER) -> list[str]:
    """The ownership marker lines (presentation format) zonesync writes beside its RRsets."""
    keys = sorted({(r.name, r.type) for r in records})
    return [f'{marker_name(key, zone)} {MARKER_TTL} IN TXT "{marker_value(owner)}"'
            for key in keys]


def zone_file(zone: str, records: list[Record]) -> str:
    lines = [f"$ORIGIN {zone}",
             f"{zone} 3600 IN SOA ns1.{zone} hostmaster.{zone} 1 10800 3600 604800 300",
             f"{zone} 3600 IN NS ns1.{zone}",
             f"ns1.{zone} 3600 IN A 127.0.0.1"]
    lines += [r.to_text() for r in records]
    lines += markers(zone, records)
    return "\n".join(lines) + "\n"


def _bare(name: str) -> str:
    return name.rstrip(".")


def fill_powerdns(database: Path, zones: dict[str, list[Record]]) -> None:
    """Write the zones straight into PowerDNS's gsqlite3 database in the shape its API writes
    them (names and rdata names without the trailing dot, the SRV priority in ``prio``, a
    type-less row for each empty non-terminal)."""
    db = sqlite3.connect(database)
    try:
        rows = []
        for zone, records in zones.items():
            bare = _bare(zone)
            zid = db.execute("INSERT INTO domains (name, type) VALUES (?, 'NATIVE')",
                             (bare,)).lastrowid
            rows.append((zid, bare, "SOA",
                         f"ns1.{bare} hostmaster.{bare} 1 10800 3600 604800 300", 3600, 0))
            rows.append((zid, bare, "NS", f"ns1.{bare}", 3600, 0))
            rows.append((zid, f"ns1.{bare}", "A", "127.0.0.1", 3600, 0))
            for r in records:
                v = r.value
                if r.type == "SRV":
                    rows.append((zid, _bare(r.name), "SRV",
                                 f"{v.weight} {v.port} {_bare(v.target) or '.'}", r.ttl,
                                 v.priority))
                elif r.type == "NAPTR":
                    text = v._replace(replacement=_bare(v.replacement) or ".").to_text()
                    rows.append((zid, _bare(r.name), "NAPTR", text, r.ttl, 0))
                else:
                    rows.append((zid, _bare(r.name), r.type, v.to_text(), r.ttl, 0))
            for line in markers(zone, records):
                name, ttl, _in, rtype, content = line.split(None, 4)
                rows.append((zid, _bare(name), rtype, content, int(ttl), 0))
            owners = {row[1] for row in rows if row[0] == zid}
            for owner in sorted(owners):
                labels = owner.split(".")
                for i in range(1, len(labels)):
                    parent = ".".join(labels[i:])
                    if parent == bare or not parent.endswith("." + bare):
                        break
                    if parent not in owners:
                        owners.add(parent)
                        rows.append((zid, parent, None, None, None, None))
        db.executemany("INSERT INTO records (domain_id, name, type, content, ttl, prio, disabled,"
                       " auth) VALUES (?, ?, ?, ?, ?, ?, 0, 1)", rows)
        db.commit()
    finally:
        db.close()


def query_set(zones: dict[str, list[Record]]) -> list[tuple[str, str]]:
    """The (name, type) of every owned RRset: what one verify pass checks on one server."""
    return [key for records in zones.values()
            for key in sorted({(r.name, r.type) for r in records})]


def run_verify(nameservers: list[str], zones: dict[str, list[Record]], mode: str
               ) -> tuple[float, int, float]:
    """(seconds, RRset checks, CPU seconds of this process) of one verify pass over every
    zone on ``nameservers``; raises unless all ok."""
    from zonesync import verify

    cpu = time.process_time()
    start = time.perf_counter()
    if mode == "batch":
        results = verify.verify_zones([verify.ZoneSpec(zone, records, (), [zone.rstrip(".")])
                                       for zone, records in zones.items()], nameservers)
    else:
        results = [verify.verify_zone(zone, records, (), [zone.rstrip(".")], nameservers)
                   for zone, records in zones.items()]
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    bad = [r for r in results if not r.ok]
    if bad:
        raise SystemExit(f"verify not ok on {nameservers} for {len(bad)} zone(s):\n"
                         + bad[0].to_text())
    return elapsed, sum(len(r.checks) for r in results), cpu


def run_dnsperf(dnsperf: str, host: str, port: int, queries: list[tuple[str, str]],
                seconds: float, workdir: Path) -> float | None:
    """dnsperf's queries per second over ``seconds`` on the same names and types (EDNS on, as
    zonesync asks), or None when it printed no figure."""
    data = workdir / "dnsperf.txt"
    data.write_text("".join(f"{name} {rtype}\n" for name, rtype in queries))
    out = subprocess.run([dnsperf, "-s", host, "-p", str(port), "-d", str(data), "-e",
                          "-l", f"{seconds:g}", "-c", "4", "-q", "200"],
                         capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"Queries per second:\s*([\d.]+)", out.stdout)
    return float(match.group(1)) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="domains (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="verify passes; best reported")
    parser.add_argument("--mode", choices=("batch", "zone"), default="batch")
    parser.add_argument("--seconds", type=float, default=3.0, help="dnsperf run length")
    parser.add_argument("--servers", default="pdns,bind", help="pdns, bind or both")
    parser.add_argument("--no-dnsperf", action="store_true")
    parser.add_argument("--pdns-no-cache", action="store_true",
                        help="PowerDNS caches off, as the tests run it")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    dnsperf = None if args.no_dnsperf else (
        shutil.which("dnsperf") or shutil.which("dnsperf", path="/usr/bin:/usr/local/bin"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="zonesync-verify-bench-") as tmp, \
            contextlib.ExitStack() as running:
        workdir = Path(tmp)
        zones = compile_zones(args.n, workdir)
        queries = query_set(zones)
        started = []
        for server in wanted:
            if server == "pdns":
                extra = {} if args.pdns_no_cache else {
                    "cache-ttl": "20", "negquery-cache-ttl": "60", "query-cache-ttl": "20",
                    "zone-cache-refresh-interval": "300"}
                proc = PowerDnsServer(workdir / "pdns", extra_config=extra)
                running.callback(proc.stop)
                proc.start()
                fill_powerdns(proc.database, zones)
                if not args.pdns_no_cache:  # the zone cache was filled at start: reload it
                    proc.stop()
                    proc.start()
                started.append(("PowerDNS", proc.address, proc.dns_port))
            elif server == "bind":
                texts = {zone.rstrip("."): zone_file(zone, records)
                         for zone, records in zones.items()}
                proc = BindServer(texts, workdir / "bind", startup_timeout=120)
                running.callback(proc.stop)
                proc.start()
                started.append(("BIND", proc.address, proc.port))
            else:
                raise SystemExit(f"unknown server {server!r}: pdns or bind")
        measured = [(label, [f"{host}:{port}"], (host, port)) for label, host, port in started]
        if len(started) > 1:  # what a sync does: every zone on every server, in one call
            measured.append(("both", [f"{h}:{p}" for _l, h, p in started], None))
        for label, nameservers, address in measured:
            runs = [run_verify(nameservers, zones, args.mode)
                    for _ in range(max(1, args.repeat))]
            seconds, checks, cpu = min(runs)
            qps = (run_dnsperf(dnsperf, *address, queries, args.seconds, workdir)
                   if dnsperf and address else None)
            rows.append((label, args.n, checks, seconds, checks / seconds, qps,
                         [r[0] for r in runs], cpu))
    print(f"{'server':<9} {'N':>6} {'RRset checks':>13} {'seconds':>8} {'checks/s':>9} "
          f"{'dnsperf q/s':>12} {'ratio':>7} {'CPU s':>6}   ({args.mode}; every pass, s)")
    for label, n, checks, seconds, rate, qps, passes, cpu in rows:
        perf = f"{qps:>12.0f}" if qps else f"{'n/a':>12}"
        ratio = f"{rate / qps:>7.3f}" if qps else f"{'n/a':>7}"
        shown = ", ".join(f"{s:.2f}" for s in passes)
        print(f"{label:<9} {n:>6} {checks:>13} {seconds:>8.2f} {rate:>9.0f} {perf} {ratio}"
              f" {cpu:>6.2f}   ({shown})")
    if dnsperf is None and not args.no_dnsperf:
        print("(dnsperf not found: `make bench-deps` installs it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
