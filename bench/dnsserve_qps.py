"""Queries per second of zonesync's DnsServer and of BIND serving the same zone files.

    .venv/bin/python bench/dnsserve_qps.py [--seconds 3] [--window 16]

Loopback only; one client process (dnspython builds the queries once, raw UDP sockets send
them); each run lasts ``--seconds`` (at most 30). Two client shapes: one query in flight
(latency-bound) and ``--window`` queries in flight (throughput). The query mix is the golden
zones' NAPTR, SRV, A and AAAA lookups plus NODATA and NXDOMAIN. Needs ``named`` (bind9) for
the BIND column; without it only DnsServer is measured.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dns.message  # noqa: E402

from tests.dnsservers import BindServer, golden_zones  # noqa: E402
from zonesync.dnsserve import DnsServer  # noqa: E402

QUERIES = [
    ("acme.example", "NAPTR"), ("_sips._tcp.acme.example", "SRV"), ("sbc1.acme.example", "A"),
    ("sbc1.acme.example", "AAAA"), ("mysite.ru", "NAPTR"), ("_sip._udp.srvonly.example", "SRV"),
    ("acme.example", "A"), ("nope.acme.example", "A"),
]


def run(port: int, seconds: float, window: int) -> tuple[float, int]:
    """(queries answered per second, unanswered) over ``seconds`` with ``window`` in flight."""
    wires = [dns.message.make_query(n, t, use_edns=0).to_wire() for n, t in QUERIES]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        sock.settimeout(1.0)
        sent = answered = lost = 0
        deadline = time.monotonic() + seconds
        start = time.monotonic()
        in_flight = 0
        while time.monotonic() < deadline:
            while in_flight < window:
                sock.send(wires[sent % len(wires)])
                sent += 1
                in_flight += 1
            try:
                sock.recv(65535)
                answered += 1
            except socket.timeout:
                lost += in_flight  # give up on everything outstanding
                in_flight = 1
            in_flight -= 1
        elapsed = time.monotonic() - start
        sock.settimeout(0.2)
        for _ in range(in_flight):  # drain
            try:
                sock.recv(65535)
                answered += 1
            except socket.timeout:
                lost += 1
    return answered / elapsed, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=16)
    args = parser.parse_args()
    seconds = max(0.5, min(args.seconds, 30.0))
    window = max(1, min(args.window, 256))
    results: dict[str, dict[int, tuple[float, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="zonesync-bench-") as tmp:
        workdir = Path(tmp)
        named = shutil.which("named") or shutil.which("named", path="/usr/sbin:/sbin")
        bind = BindServer(golden_zones(), workdir, named=named) if named else None
        if bind is None:
            workdir.mkdir(exist_ok=True)
            for origin, text in golden_zones().items():
                (workdir / f"{origin}.zone").write_text(text)
        try:
            if bind is not None:
                bind.start()
                results["BIND (named -n 1)"] = {w: run(bind.port, seconds, w) for w in (1, window)}
            with DnsServer(workdir, port=0) as ours:
                results["zonesync DnsServer"] = {w: run(ours.port, seconds, w)
                                                 for w in (1, window)}
        finally:
            if bind is not None:
                bind.stop()
    print(f"{'server':<22} {'1 in flight':>14} {f'{window} in flight':>16}   lost")
    for server, by_window in results.items():
        lost = sum(v[1] for v in by_window.values())
        print(f"{server:<22} {by_window[1][0]:>10.0f} q/s {by_window[window][0]:>12.0f} q/s"
              f"   {lost}")
    if bind is None:
        print("(named not found: install bind9 for the BIND column)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
