"""Real DNS servers for tests: BIND (``named``) on loopback, zone files from record sets.

``BindServer`` starts ``named -g`` with a throw-away configuration (state, pid file and zone
files in a temp directory, no rndc), waits until it answers an SOA query and kills it on exit.
``extra_options`` / ``zone_options`` let later tests add e.g. ``allow-update`` (RFC 2136).

``require_binary`` fails under ``CI=true`` (the CI image must have the package) and skips
elsewhere with the package to install.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Mapping

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from zonesync.records import Record, parse_records, sorted_records

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_ZONES = ("acme.example", "mysite.ru", "srvonly.example")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip outside CI, fail under CI=true: CI must never silently skip a real-server test."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this must not be skipped)", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, package: str) -> str:
    """The path of ``name`` (also looked up in /usr/sbin), or fail/skip naming the package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    require(path is not None,
            f"{name} not found: install Debian package {package} (apt-get install -y {package})")
    return path  # type: ignore[return-value]


def free_port(address: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``address`` (best effort: it is released again)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 0))
            port = udp.getsockname()[1]
            if port < 1024:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((address, port))
                except OSError:
                    continue
            return port
    raise RuntimeError(f"no free port on {address}")


def port_in_use(address: str, port: int) -> bool:
    """True when UDP or TCP ``port`` on ``address`` cannot be bound."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return True
    return False


@contextmanager
def loopback_address(address: str):
    """Make ``address`` (a 127/8 address) an address of ``lo`` for the duration, so that BIND,
    which listens only on interface addresses, can bind it; removed again if it was added here.
    Needs root (CAP_NET_ADMIN) and ``ip`` from iproute2."""
    ip = require_binary("ip", "iproute2")
    shown = subprocess.run([ip, "-o", "-4", "addr", "show", "dev", "lo"], capture_output=True,
                           text=True, check=True).stdout
    if re.search(rf"inet {re.escape(address)}/", shown):
        yield address
        return
    added = subprocess.run([ip, "addr", "add", f"{address}/32", "dev", "lo"],
                           capture_output=True, text=True)
    require(added.returncode == 0,
            f"cannot add {address} to lo (needs root): {added.stderr.strip()}")
    try:
        yield address
    finally:
        subprocess.run([ip, "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True)


def zone_text(origin: str, records: Iterable[Record], serial: int = 1,
              ns_address: str = "127.0.0.1") -> str:
    """An RFC 1035 zone file: SOA, NS (ns.<origin> with an A glue record) and ``records``,
    which must all lie in the zone."""
    origin = origin.lower().rstrip(".") + "."
    lines = [
        f"$ORIGIN {origin}",
        f"{origin} 3600 IN SOA ns.{origin} hostmaster.{origin} {serial} 3600 600 86400 300",
        f"{origin} 3600 IN NS ns.{origin}",
        f"ns.{origin} 3600 IN A {ns_address}",
    ]
    for rec in sorted_records(records):
        if rec.name != origin and not rec.name.endswith("." + origin):
            raise ValueError(f"{rec.name} is outside the zone {origin}")
        lines.append(rec.to_text())
    return "\n".join(lines) + "\n"


# Extra zones for cases the golden examples do not cover (shared by the live tests).
EXTRA_ZONES = {
    # The only NAPTR points at an SRV owner that does not exist: a NAPTR dead end (R7).
    "deadend.example": """
deadend.example. 3600 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.gone.deadend.example.
_sip._tcp.deadend.example. 3600 IN SRV 10 50 5060 pbx.deadend.example.
pbx.deadend.example. 3600 IN A 192.0.2.50
""",
    # An "a"-flag NAPTR at the lowest order (RFC 3263 uses "s" only; sip-dig follows it).
    "aflag.example": """
aflag.example. 3600 IN NAPTR 10 50 "a" "SIP+D2U" "" host.aflag.example.
aflag.example. 3600 IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp.aflag.example.
_sip._tcp.aflag.example. 3600 IN SRV 10 50 5060 host.aflag.example.
host.aflag.example. 3600 IN A 192.0.2.60
host.aflag.example. 3600 IN AAAA 2001:db8::60
""",
}


def extra_records(name: str) -> list[Record]:
    return parse_records(EXTRA_ZONES[name])


def golden_records(name: str) -> list[Record]:
    return parse_records((GOLDEN / f"{name}.records").read_text())


def golden_zones(extra: bool = True) -> dict[str, str]:
    """origin → zone text for every golden example (and ``EXTRA_ZONES``)."""
    zones = {name: zone_text(name, golden_records(name)) for name in GOLDEN_ZONES}
    if extra:
        zones.update((name, zone_text(name, extra_records(name))) for name in EXTRA_ZONES)
    return zones


def all_records() -> list[Record]:
    """Every record ``golden_zones()`` serves, minus SOA/NS: what a MemorySource should hold."""
    return ([r for name in GOLDEN_ZONES for r in golden_records(name)]
            + [r for name in EXTRA_ZONES for r in extra_records(name)])


class BindServer:
    """``named -g`` serving ``zones`` (origin → zone text) on ``address``:``port``."""

    def __init__(self, zones: Mapping[str, str], workdir: Path, address: str = "127.0.0.1",
                 port: int | None = None, extra_options: str = "", zone_options: str = "",
                 named: str | None = None, startup_timeout: float = 20.0):
        self.zones, self.workdir, self.address = dict(zones), Path(workdir), address
        self.port = port or free_port(address)
        self.extra_options, self.zone_options = extra_options, zone_options
        self.named = named or require_binary("named", "bind9")
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log = self.workdir / "named.log"

    def config(self) -> str:
        zones = "".join(
            f'zone "{origin}" {{ type primary; file "{self._zone_file(origin)}"; '
            f"{self.zone_options} }};\n" for origin in self.zones)
        d = self.workdir
        return (
            "options {\n"
            f'  directory "{d}";\n  pid-file "{d}/named.pid";\n'
            f'  session-keyfile "{d}/session.key";\n  managed-keys-directory "{d}";\n'
            f"  listen-on port {self.port} {{ {self.address}; }};\n"
            "  listen-on-v6 { none; };\n  recursion no;\n  dnssec-validation no;\n"
            "  notify no;\n  minimal-responses no;\n"
            f"  {self.extra_options}\n}};\n"
            "controls { };\n" + zones)

    def _zone_file(self, origin: str) -> Path:
        return self.workdir / f"{origin.rstrip('.')}.zone"

    def start(self) -> "BindServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        for origin, text in self.zones.items():
            self._zone_file(origin).write_text(text)
        conf = self.workdir / "named.conf"
        conf.write_text(self.config())
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [self.named, "-g", "-n", "1", "-c", str(conf)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        origin = next(iter(self.zones), ".")
        query = dns.message.make_query(origin, "SOA")
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"named exited with {self.process.returncode}:\n{self.tail()}")
            try:
                response = dns.query.udp(query, self.address, timeout=0.3, port=self.port)
                if response.rcode() == dns.rcode.NOERROR and response.answer:
                    return
            except (dns.exception.Timeout, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"named did not answer on {self.address}:{self.port}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> "BindServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.port}"

