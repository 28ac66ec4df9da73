"""Real DNS servers for tests: BIND (``named``) and PowerDNS (``pdns_server``) on loopback.

``BindServer`` starts ``named -g`` with a throw-away configuration (state, pid file and zone
files in a temp directory, no rndc), waits until it answers an SOA query and kills it on exit.
``extra_options`` / ``zone_options`` add raw named.conf text; ``tsig=TsigKey(...)`` declares the
key and lets its holder send RFC 2136 updates and AXFR the zones (what octodns-bind needs).

``PowerDnsServer`` starts ``pdns_server`` in the foreground with a fresh gsqlite3 database, the
HTTP API on loopback and every cache off, so a read right after a write sees the write.

``require_binary`` fails under ``CI=true`` (the CI image must have the package) and skips
elsewhere with the package to install.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import sqlite3
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.update
import pytest
import requests

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


def query(address: str, port: int, name: str, rdtype: str | int,
          timeout: float = 2.0) -> dns.message.Message:
    """One non-recursive query straight at ``address``:``port`` (UDP, retried over TCP when
    truncated); the raw response, whatever its rcode."""
    request = dns.message.make_query(name, rdtype)
    request.flags &= ~dns.flags.RD
    response = dns.query.udp(request, address, timeout=timeout, port=port)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(request, address, timeout=timeout, port=port)
    return response


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: ``name``, ``secret`` (base64) and ``algorithm`` (BIND's spelling, which is
    also dnspython's). The secret defaults to 32 random bytes and is kept out of ``repr`` so
    that pytest's assertion rewriting never prints it."""

    name: str = "zonesync"
    secret: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode(),
                        repr=False)
    algorithm: str = "hmac-sha256"

    def keyring(self) -> dict:
        """A dnspython keyring: {name: ``dns.tsig.Key``} carrying the algorithm."""
        name = dns.name.from_text(self.name)
        return {name: dns.tsig.Key(name, self.secret, self.algorithm)}

    def named_conf(self) -> str:
        """The top-level named.conf ``key`` statement."""
        return (f'key "{self.name}" {{ algorithm {self.algorithm}; '
                f'secret "{self.secret}"; }};\n')

    def provider_kwargs(self) -> dict[str, str]:
        """``key_name`` / ``key_secret`` / ``key_algorithm`` for octodns-bind's providers."""
        return {"key_name": self.name, "key_secret": self.secret,
                "key_algorithm": self.algorithm}


def tsig_config(key: TsigKey, update: bool = True, transfer: bool = True,
                update_policy: str | None = None) -> tuple[str, str]:
    """(top-level statements, zone options) letting ``key`` update (RFC 2136) and AXFR a
    primary zone. ``update_policy`` (e.g. ``"grant zonesync zonesub ANY;"``) replaces the
    blanket ``allow-update``."""
    zone = []
    if update_policy is not None:
        zone.append(f"update-policy {{ {update_policy} }};")
    elif update:
        zone.append(f'allow-update {{ key "{key.name}"; }};')
    zone.append(f'allow-transfer {{ key "{key.name}"; }};' if transfer
                else "allow-transfer { none; };")
    return key.named_conf(), " ".join(zone)


class _ServerProcess:
    """A server binary run in the foreground by a test: its log, stop, and `with` support.
    Subclasses set ``workdir`` and ``log`` (Paths) and define ``start`` and ``_wait_ready``."""

    process = None

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

    def _write_config(self, name: str, text: str) -> Path:
        """The server's config file, readable by its owner only (it holds secrets)."""
        conf = self.workdir / name
        conf.write_text(text)
        conf.chmod(0o600)
        return conf

    def _launch(self, argv: list[str]):
        """Start ``argv`` in the foreground with its output in ``log``; wait until it answers
        (``_wait_ready``), stopping it again if it never does."""
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=self.workdir)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class BindServer(_ServerProcess):
    """``named -g`` serving ``zones`` (origin → zone text) on ``address``:``port``.

    With ``tsig`` the key is declared and (``allow_update`` / ``allow_transfer``) may update
    and transfer every zone; zone files and their journals live in ``workdir``."""

    def __init__(self, zones: Mapping[str, str], workdir: Path, address: str = "127.0.0.1",
                 port: int | None = None, extra_options: str = "", zone_options: str = "",
                 named: str | None = None, startup_timeout: float = 20.0, *,
                 tsig: TsigKey | None = None, allow_update: bool = True,
                 allow_transfer: bool = True, update_policy: str | None = None,
                 extra_config: str = ""):
        self.zones, self.workdir, self.address = dict(zones), Path(workdir), address
        self.port = port or free_port(address)
        self.extra_options, self.zone_options = extra_options, zone_options
        self.extra_config = extra_config
        self.tsig = tsig
        if tsig is not None:
            top, zone = tsig_config(tsig, update=allow_update, transfer=allow_transfer,
                                    update_policy=update_policy)
            self.extra_config = top + self.extra_config
            self.zone_options = f"{zone} {self.zone_options}".strip()
        self.named = named or require_binary("named", "bind9")
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log = self.workdir / "named.log"
        self._started = False

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
            "controls { };\n" + self.extra_config + zones)

    def _zone_file(self, origin: str) -> Path:
        return self.workdir / f"{origin.rstrip('.')}.zone"

    def start(self) -> "BindServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self._started:
            # The first start writes the zones; a restart (start() after stop()) keeps the zone
            # files and journals, i.e. every dynamic update accepted before the stop.
            for origin, text in self.zones.items():
                zone_file = self._zone_file(origin)
                zone_file.write_text(text)
                # a journal left in the directory by someone else would not match the file:
                # named would refuse the zone ("journal out of sync")
                Path(f"{zone_file}.jnl").unlink(missing_ok=True)
            self._started = True
        conf = self._write_config("named.conf", self.config())  # it may hold a TSIG secret
        return self._launch([self.named, "-g", "-n", "1", "-c", str(conf)])

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


    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.port}"

    def query(self, name: str, rdtype: str | int, timeout: float = 2.0) -> dns.message.Message:
        return query(self.address, self.port, name, rdtype, timeout)

    def update(self, origin: str) -> dns.update.UpdateMessage:
        """An RFC 2136 update for ``origin``, TSIG-signed when the server has a key."""
        if self.tsig is None:
            return dns.update.UpdateMessage(origin)
        return dns.update.UpdateMessage(origin, keyring=self.tsig.keyring(),
                                        keyname=self.tsig.name)

    def send_update(self, update: dns.update.UpdateMessage,
                    timeout: float = 5.0) -> dns.message.Message:
        """Send ``update`` over TCP; raise unless the server answers NOERROR."""
        response = dns.query.tcp(update, self.address, timeout=timeout, port=self.port)
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"update refused: {dns.rcode.to_text(response.rcode())}")
        return response


class PowerDnsServer(_ServerProcess):
    """``pdns_server`` (Debian's pdns-server + pdns-backend-sqlite3) on loopback: a fresh
    gsqlite3 database, the HTTP API at ``api_url`` (header ``X-API-Key: api_key``), DNS at
    ``nameserver``; packet, query and zone caches off. Never calls out (security polling off),
    never drops privileges, keeps every file in ``workdir``."""

    SCHEMA_CANDIDATES = (
        Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
        Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
    )

    def __init__(self, workdir: Path, address: str = "127.0.0.1", dns_port: int | None = None,
                 api_port: int | None = None, api_key: str | None = None,
                 pdns_server: str | None = None, startup_timeout: float = 20.0,
                 extra_config: Mapping[str, str] | None = None,
                 default_soa_content: str = "ns1.@ hostmaster.@ 0 10800 3600 604800 300"):
        self.workdir, self.address = Path(workdir), address
        self.dns_port = dns_port or free_port(address)
        self.api_port = api_port or free_port("127.0.0.1")
        self.api_key = api_key if api_key is not None else secrets.token_urlsafe(24)
        self.pdns_server = pdns_server or require_binary("pdns_server", "pdns-server")
        self.schema = self._schema()
        self.startup_timeout = startup_timeout
        self.extra_config = dict(extra_config or {})
        self.default_soa_content = default_soa_content
        self.process: subprocess.Popen | None = None
        self.log = self.workdir / "pdns.log"
        self._started = False
        self.database = self.workdir / "pdns.sqlite3"
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = self.api_key

    def _schema(self) -> Path:
        for path in self.SCHEMA_CANDIDATES:
            if path.is_file():
                return path
        listed = subprocess.run(["dpkg", "-L", "pdns-backend-sqlite3"], capture_output=True,
                                text=True).stdout.split()
        found = [Path(p) for p in listed if p.endswith("/schema.sqlite3.sql")]
        require(bool(found), "the gsqlite3 schema is missing: install Debian package "
                             "pdns-backend-sqlite3 (apt-get install -y pdns-backend-sqlite3)")
        return found[0]

    def settings(self) -> dict[str, str]:
        d = self.workdir
        settings = {
            "launch": "gsqlite3",
            "gsqlite3-database": str(self.database),
            "gsqlite3-pragma-synchronous": "0",
            "api": "yes",
            "api-key": self.api_key,
            "webserver": "yes",
            "webserver-address": "127.0.0.1",
            "webserver-port": str(self.api_port),
            "webserver-allow-from": "127.0.0.0/8",
            "webserver-loglevel": "normal",
            "local-address": self.address,
            "local-port": str(self.dns_port),
            "security-poll-suffix": "",  # empty: no security status query to the internet
            "default-soa-content": self.default_soa_content,
            # tests read right after writing: no packet cache, no negative cache, no zone cache
            "cache-ttl": "0",
            "negquery-cache-ttl": "0",
            "query-cache-ttl": "0",
            "zone-cache-refresh-interval": "0",
            "zone-metadata-cache-ttl": "0",
            "socket-dir": str(d),
            "disable-syslog": "yes",
            "log-timestamp": "no",
            "loglevel": "6",
            "distributor-threads": "1",
            "receiver-threads": "1",
        }
        settings.update(self.extra_config)
        return settings

    def start(self) -> "PowerDnsServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self._started:
            # a fresh database on the first start; a restart keeps the data
            self.database.unlink(missing_ok=True)
            db = sqlite3.connect(self.database)
            try:
                db.executescript(self.schema.read_text())
                db.commit()
            finally:
                db.close()
            self._started = True
        self._write_config("pdns.conf", "".join(f"{k}={v}\n" for k, v in self.settings().items()))
        return self._launch([self.pdns_server, "--daemon=no", "--guardian=no",
                             f"--config-dir={self.workdir}"])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        api_ok = dns_ok = False
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"pdns_server exited with {self.process.returncode}:\n{self.tail()}")
            if not api_ok:
                try:
                    api_ok = self.session.get(f"{self.api_url}/servers/localhost",
                                              timeout=0.5).status_code == 200
                except requests.RequestException:
                    pass
            if api_ok and not dns_ok:
                try:  # no zone yet: REFUSED is an answer too
                    self.query(".", "SOA", timeout=0.3)
                    dns_ok = True
                except (dns.exception.Timeout, OSError):
                    pass
            if api_ok and dns_ok:
                return
            time.sleep(0.1)
        raise RuntimeError(f"pdns_server did not answer (API {self.api_url}, DNS "
                           f"{self.nameserver}):\n{self.tail()}")

    def __exit__(self, *exc) -> None:
        self.stop()
        self.session.close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/v1"

    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.dns_port}"

    def query(self, name: str, rdtype: str | int, timeout: float = 2.0) -> dns.message.Message:
        return query(self.address, self.dns_port, name, rdtype, timeout)

    def api(self, method: str, path: str, json: Any = None) -> Any:
        """``method`` ``/api/v1/servers/localhost/<path>``; the decoded JSON (None when empty);
        raises ``requests.HTTPError`` (with PowerDNS's error text) on a 4xx/5xx."""
        url = f"{self.api_url}/servers/localhost/{path.lstrip('/')}".rstrip("/")
        response = self.session.request(method, url, json=json, timeout=10)
        if response.status_code >= 400:
            raise requests.HTTPError(f"{method} {path}: {response.status_code} "
                                     f"{response.text}", response=response)
        return response.json() if response.content else None

    def create_zone(self, name: str, kind: str = "Native",
                    nameservers: Iterable[str] | None = None, **extra: Any) -> dict:
        """Create ``name`` through the API: SOA from ``default-soa-content`` and root NS
        ``nameservers`` (default ``ns1.<name>``; pass ``()`` for none). ``extra`` goes into the
        request body (e.g. ``soa_edit_api="DEFAULT"``)."""
        fqdn = name.rstrip(".") + "."
        ns = [f"ns1.{fqdn}"] if nameservers is None else [n.rstrip(".") + "." for n in nameservers]
        return self.api("POST", "zones", {"name": fqdn, "kind": kind, "nameservers": ns, **extra})

    def zone(self, name: str) -> dict:
        return self.api("GET", f"zones/{name.rstrip('.')}.")

    def patch_rrsets(self, name: str, rrsets: list[dict]) -> None:
        """PATCH ``rrsets`` (PowerDNS API shape: name, type, ttl, changetype, records)."""
        self.api("PATCH", f"zones/{name.rstrip('.')}.", {"rrsets": rrsets})
