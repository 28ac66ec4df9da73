"""The embedded authoritative responder: serves the local provider's zone files (SPEC §6).

``zonesync dns-serve`` answers for every ``*.zone`` file in a directory (RFC 1035 master files,
one zone a file, origin = the file stem, or the SOA owner when the stem has none) on UDP and TCP.
Its answers are BIND's for the same files: BIND 9.18 with ``recursion no; minimal-responses
no;`` (tests/dnsservers.BindServer) is the reference, and tests/test_dnsserve.py compares the two
query by query, byte-compatible down to name compression (BIND 9.18 compresses a name only
against an earlier name that equals it or it minus one label), because that decides what fits
in a UDP answer. In short:

* AA on authoritative answers; the zone's NS RRset in the authority section of positive answers,
  and in the additional section the A/AAAA of NS, MX, SRV targets and of "a" NAPTRs, the SRV
  RRsets of "s" NAPTRs with their targets' addresses, all from the zone of the query only.
  UDP clients offering an EDNS buffer of 512 or less get no NS and no additional data (BIND).
* NODATA and NXDOMAIN carry the SOA with TTL min(SOA TTL, minimum) (RFC 2308), TTL 0 for an
  NXDOMAIN to an SOA query; empty non-terminals are NODATA; wildcards (RFC 4592) and DNAME
  (RFC 6672) are synthesised (wildcard owners lower-cased, as BIND writes them).
* CNAME/DNAME chains are followed inside the zone of the query name only (BIND does not leave
  the first zone when recursion is off), at most 12 lookups, then SERVFAIL (EDE "max. restarts
  reached").
* Delegations: referral without AA, glue (addresses at or below a cut) only. DS at a cut, or at
  the apex of a child zone whose parent is served too, is answered from the parent.
* Names in no zone: REFUSED. A zone whose file never loaded: SERVFAIL (BIND: "not loaded").
* EDNS0: OPT (payload 1232, DO echoed, COOKIE answered with a server cookie) when the query had
  one; BADVERS for version > 0; FORMERR for a malformed OPT or cookie.
* UDP size: 512 without EDNS, else the client's payload capped at 1232. Too big: TC, and, like
  BIND, with EDNS only the question (and OPT) is sent, without EDNS the RRs that fit are kept.
  Over TCP (RFC 7766 framing, several queries a connection, idle timeout) everything is sent.
* AXFR over TCP (IXFR too: AXFR-style, or the SOA alone when the client is current) to loopback
  clients by default, REFUSED to others; AXFR over UDP is FORMERR and a name that is no zone
  apex NOTAUTH, as in BIND.
* ANY: every RRset at the name (BIND's default ``minimal-any no``), no additional section.
* Opcodes other than QUERY: NOTIMP, except NOTIFY and UPDATE, answered as BIND answers them for
  a primary zone that takes no updates (NOTIFY: NOERROR+AA, UPDATE: REFUSED; NOTAUTH outside
  our zones). Class CH: REFUSED; HS: REFUSED (EDE 18); ANY/NONE: FORMERR; other classes:
  NOTIMP. MAILA/MAILB: NOTIMP; OPT/TSIG/TKEY as QTYPE: FORMERR. A TSIG-signed request:
  NOTAUTH with BADKEY (no keys are configured). Responses and runts get no answer.

Known differences from BIND: no CHAOS ``version.bind``/``hostname.bind`` (REFUSED); RRsets are
sent in zone order, not rotated; DNSSEC data in a signed file is served as plain data (no RRSIG
added for DO, no NSEC proofs); ``$INCLUDE`` is refused; files must be UTF-8.

Zone files are re-read when their mtime, size or inode change (checked at most every 0.5 s, on
the next query, or on demand with ``ZoneStore.refresh(force=True)``). A file that fails to load
keeps its previous good version served and logs one error line per broken version. The load
checks are named's for a primary zone: syntax, SOA and NS at the apex, SOA elsewhere, CNAME and
other data, several RRs of a singleton type, check-names (fail), and addresses for in-zone apex
NS names (check-integrity); an RRset keeps the TTL of its first record, as in named.

Per-query lines are logged at DEBUG only.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import logging
import secrets
import selectors
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tokenizer
import dns.wire
import dns.zone
import dns.zonefile
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.TSIG import TSIG

log = logging.getLogger("zonesync.dnsserve")

EDNS_PAYLOAD = 1232          # what we advertise, and the most we send over UDP (BIND 9.18)
MIN_UDP = 512
MAX_LOOKUPS = 12             # BIND 9.18: the query name plus 11 restarts (CNAME/DNAME steps)
RELOAD_INTERVAL = 0.5        # seconds between two checks of the zone directory
TCP_IDLE_TIMEOUT = 30.0      # BIND's tcp-idle-timeout default
MAX_TCP_CLIENTS = 150        # BIND's tcp-clients default
XFR_MESSAGE_SIZE = 65535

_IN = dns.rdataclass.IN
T = dns.rdatatype
_QR, _AA, _TC, _RD, _CD = (dns.flags.QR, dns.flags.AA, dns.flags.TC, dns.flags.RD, dns.flags.CD)
_SINGLETONS = {T.SOA, T.CNAME, T.DNAME}
_WITH_CNAME = {T.CNAME, T.RRSIG, T.NSEC, T.KEY}   # may share a name with a CNAME
_COOKIE_SECRET = secrets.token_bytes(16)

Key = tuple  # lower-cased labels of an absolute name, root label (b"") included


def _key(name: dns.name.Name) -> Key:
    return tuple(label.lower() for label in name.labels)


class ZoneLoadError(Exception):
    """A zone file that named would refuse to load."""


# --- zone files ---------------------------------------------------------------------------------

class _RawTransaction(dns.zonefile.RRsetsReaderTransaction):
    """Collects every (name, ttl, rdata) the zone-file reader produces, unmerged, so that the
    loader can apply named's rules (first TTL wins, singleton types, CNAME and other data)."""

    def add(self, *args):  # the reader always calls add(name, ttl, rdata)
        name, ttl, rdata = args
        self.manager.records.append((name, ttl, rdata))


class _RawManager(dns.zonefile.RRSetsReaderManager):
    def __init__(self, origin: dns.name.Name):
        super().__init__(origin, False, _IN)
        self.records: list[tuple[dns.name.Name, int, dns.rdata.Rdata]] = []

    def writer(self, replacement=False):
        return _RawTransaction(self, True, False)


def _read_records(text: str, origin: dns.name.Name, filename: str):
    manager = _RawManager(origin)
    with manager.writer(True) as txn:
        tok = dns.tokenizer.Tokenizer(text, filename)
        reader = dns.zonefile.Reader(tok, _IN, txn, allow_include=False)
        reader.read()
    return manager.records


def _is_hostname(name: dns.name.Name, wildcard: bool = False) -> bool:
    """BIND's dns_name_ishostname: LDH labels, letter/digit at both ends, '*' first if allowed."""
    labels = list(name.labels[:-1] if name.is_absolute() else name.labels)
    if wildcard and labels and labels[0] == b"*":
        labels = labels[1:]
    for label in labels:
        last = len(label) - 1
        for i, c in enumerate(label):
            alnum = 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122
            if not (alnum or (c == 45 and 0 < i < last)):
                return False
    return True


def _is_mailbox(name: dns.name.Name) -> bool:
    labels = name.labels
    if len(labels) <= 1:
        return True
    if any(not 0x20 < c < 0x7F for c in labels[0]):
        return False
    return _is_hostname(dns.name.Name(labels[1:]))


_REVERSE = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."),
            dns.name.from_text("ip6.int."))


# check-names: the rdata fields that must be host names, and those that are mailboxes.
_HOST_FIELDS = {T.MX: ("exchange",), T.NS: ("target",), T.SRV: ("target",), T.KX: ("exchange",),
                T.AFSDB: ("hostname",), T.RT: ("exchange",), T.SOA: ("mname",)}
_MAILBOX_FIELDS = {T.SOA: ("rname",), T.RP: ("mbox",), T.MINFO: ("rmailbx", "emailbx")}


def _check_names(name: dns.name.Name, rd: dns.rdata.Rdata) -> str | None:
    """named's check-names for a primary zone ("fail"); the error text, or None."""
    t = rd.rdtype
    if t in (T.A, T.AAAA, T.MX, T.WKS) and not _is_hostname(name, wildcard=True):
        return f"{name}: bad owner name (check-names)"
    targets = [getattr(rd, field) for field in _HOST_FIELDS.get(t, ())]
    mailboxes = [getattr(rd, field) for field in _MAILBOX_FIELDS.get(t, ())]
    if t == T.PTR and any(name.is_subdomain(r) for r in _REVERSE):
        targets = [rd.target]
    for target in targets:
        if not _is_hostname(target):
            return f"{name}/{T.to_text(t)} '{target}': bad name (check-names)"
    for box in mailboxes:
        if not _is_mailbox(box):
            return f"{name}/{T.to_text(t)} '{box}': bad name (check-names)"
    return None


def _rtype_key(rd_or_set) -> int:
    """Index key of an RRset at a node: its type, RRSIGs split by the type they cover."""
    if rd_or_set.rdtype == T.RRSIG:
        return (T.RRSIG << 16) | rd_or_set.covers()
    return rd_or_set.rdtype


class _Zone:
    """One loaded zone, indexed for lookups by lower-cased label tuples."""

    def __init__(self, origin: dns.name.Name, rrsets: list[dns.rrset.RRset], path: Path | None,
                 broken: str | None = None):
        self.origin = origin
        self.okey = _key(origin)
        self.depth = len(self.okey)
        self.path = path
        self.broken = broken            # never loaded: every query gets SERVFAIL
        self.data: dict[Key, dict[int, dns.rrset.RRset]] = {}
        self.names: set[Key] = set()
        self.cuts: set[Key] = set()
        self.dnames: set[Key] = set()
        self.rrsets = rrsets
        self._zone: dns.zone.Zone | None = None
        for rrset in rrsets:
            k = _key(rrset.name)
            self.data.setdefault(k, {})[_rtype_key(rrset)] = rrset
            for i in range(len(k) - self.depth + 1):
                self.names.add(k[i:])
            if rrset.rdtype == T.NS and k != self.okey:
                self.cuts.add(k)
            elif rrset.rdtype == T.DNAME:
                self.dnames.add(k)
        self.walk = bool(self.cuts or self.dnames)
        apex = self.data.get(self.okey, {})
        self.soa = apex.get(T.SOA)
        self.apex_ns = apex.get(T.NS)
        if self.soa is not None:
            soa = self.soa[0]
            self.serial = soa.serial
            self.neg_soa = dns.rrset.from_rdata_list(self.soa.name, min(self.soa.ttl, soa.minimum),
                                                     list(self.soa))
            self.neg_soa0 = dns.rrset.from_rdata_list(self.soa.name, 0, list(self.soa))
        else:
            self.serial = None

    @property
    def zone(self) -> dns.zone.Zone:
        """The zone as a dnspython Zone (built on first use)."""
        if self._zone is None:
            zone = dns.zone.Zone(self.origin, _IN, relativize=False)
            for rrset in self.rrsets:
                node = zone.find_node(rrset.name, create=True)
                node.replace_rdataset(rrset.to_rdataset())
            self._zone = zone
        return self._zone

    def axfr_rrsets(self) -> list[dns.rrset.RRset]:
        """Every RRset, apex SOA first (and to be repeated last by the caller)."""
        rest = [r for r in self.rrsets if not (r.rdtype == T.SOA and _key(r.name) == self.okey)]
        rest.sort(key=lambda r: (tuple(reversed(_key(r.name))), r.rdtype, r.covers))
        return [self.soa] + rest

    # -- lookups --

    def find(self, key: Key, qtype: int):
        """("cut", cut_key) | ("dname", dname_key) | ("node", owner, rdatasets, wildcard)
        | ("ent",) | ("nx",) for ``key`` inside this zone."""
        length = len(key)
        apex_i = length - self.depth
        encloser = apex_i
        if self.walk:
            names, cuts, dnames = self.names, self.cuts, self.dnames
            for i in range(apex_i, -1, -1):
                k = key[i:]
                if k not in names:
                    break
                encloser = i
                if i < apex_i and k in cuts and not (i == 0 and qtype == T.DS):
                    return ("cut", k)
                if i > 0 and k in dnames:
                    return ("dname", k)
        node = self.data.get(key)
        if node is not None:
            return ("node", None, node, False)
        if key in self.names:
            return ("ent",)
        if not self.walk:
            for i in range(1, apex_i + 1):
                if key[i:] in self.names:
                    encloser = i
                    break
        wild = self.data.get((b"*",) + key[encloser:])
        if wild is not None:
            return ("node", None, wild, True)
        return ("nx",)

    def authoritative_node(self, key: Key):
        """The RRsets at ``key`` for additional-section processing: authoritative data only
        (no glue, nothing below a DNAME), wildcards applied; (rdatasets, wildcard) or None."""
        found = self.find(key, T.A)
        if found[0] != "node":
            return None
        return found[2], found[3]

    def glue_node(self, key: Key):
        """The RRsets at ``key`` when it lies at or below a delegation (glue), else None."""
        if not self.cuts:
            return None
        for i in range(len(key) - self.depth - 1, -1, -1):
            if key[i:] in self.cuts:
                return self.data.get(key)
        return None


def _load_zone(path: Path) -> _Zone:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ZoneLoadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    filename = str(path)
    try:
        origin = dns.name.from_text(path.stem)
        records = _read_records(text, origin, filename)
        if not any(rd.rdtype == T.SOA and name == origin for name, _, rd in records):
            owners = {name for name, _, rd in _read_records(text, dns.name.root, filename)
                      if rd.rdtype == T.SOA}
            if len(owners) == 1:
                origin = owners.pop()
                records = _read_records(text, origin, filename)
    except dns.exception.SyntaxError as exc:
        raise ZoneLoadError(str(exc).replace(f"{filename}:", "line ", 1)) from None
    except (dns.exception.DNSException, ValueError) as exc:
        raise ZoneLoadError(f"{exc.__class__.__name__}: {exc}") from None
    return _build_zone(origin, records, path)


def _build_zone(origin: dns.name.Name, records, path: Path | None) -> _Zone:
    okey = _key(origin)
    rrsets: dict[tuple, dns.rrset.RRset] = {}
    for name, ttl, rd in records:
        k = (_key(name), _rtype_key(rd))
        rrset = rrsets.get(k)
        if rrset is None:
            rrset = rrsets[k] = dns.rrset.RRset(name, _IN, rd.rdtype, rd.covers())
            rrset.add(rd, ttl)
            continue
        if rd in rrset:
            continue
        if rd.rdtype in _SINGLETONS:
            raise ZoneLoadError(f"{name}: multiple RRs of singleton type")
        rrset.add(rd)  # named keeps the first TTL of an RRset ("TTL set to prior TTL")
    by_name: dict[Key, dict[int, dns.rrset.RRset]] = {}
    for (k, tk), rrset in rrsets.items():
        by_name.setdefault(k, {})[tk] = rrset
    for k, node in by_name.items():
        name = next(iter(node.values())).name
        if T.CNAME in node and any(r.rdtype not in _WITH_CNAME for r in node.values()):
            raise ZoneLoadError(f"{name}: CNAME and other data")
        if T.SOA in node and k != okey:
            raise ZoneLoadError(f"{name}: SOA record not at top of zone")
    apex = by_name.get(okey, {})
    if T.SOA not in apex:
        raise ZoneLoadError(f"no SOA record at the zone apex {origin}")
    if T.NS not in apex:
        raise ZoneLoadError(f"no NS records at the zone apex {origin}")
    for rrset in rrsets.values():
        for rd in rrset:
            problem = _check_names(rrset.name, rd)
            if problem:
                raise ZoneLoadError(problem)
    zone = _Zone(origin, list(rrsets.values()), path)
    for rd in zone.apex_ns:  # check-integrity: in-zone NS names need addresses
        target = rd.target
        if not target.is_subdomain(origin):
            continue
        found = zone.find(_key(target), T.A)
        if found[0] == "dname":
            raise ZoneLoadError(f"NS '{target}' is below a DNAME (illegal)")
        node = found[2] if found[0] == "node" else (
            zone.data.get(_key(target)) if found[0] == "cut" else None)
        if node and T.CNAME in node:
            raise ZoneLoadError(f"NS '{target}' is a CNAME (illegal)")
        if not node or (T.A not in node and T.AAAA not in node):
            raise ZoneLoadError(f"NS '{target}' has no address records (A or AAAA)")
    return zone


@dataclass
class _FileState:
    signature: tuple
    good: _Zone | None = None
    error: str | None = None


class ZoneStore:
    """Every ``*.zone`` file of ``directory``, reloaded when a file changes.

    The check runs at most every ``interval`` seconds (from ``maybe_refresh``, which the server
    calls for each query) and on demand (``refresh(force=True)``). A file that fails to load keeps
    its previous good version served, and one error line is logged for each broken version."""

    def __init__(self, directory: Path | str, interval: float = RELOAD_INTERVAL):
        self.directory = Path(directory)
        self.interval = interval
        self._lock = threading.Lock()
        self._files: dict[Path, _FileState] = {}
        self._zones: dict[Key, _Zone] = {}
        self._next_check = 0.0
        self._dir_error: str | None = None
        self.refresh(force=True)

    # -- public --

    def find_zone(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        """The loaded zone with the longest origin containing ``qname`` (None: no such zone,
        or its file never loaded)."""
        self.maybe_refresh()
        zone = self.best(_key(qname))
        return zone.zone if zone is not None and not zone.broken else None

    def serials(self) -> dict[str, int | None]:
        """origin text → serial served (None: the file never loaded)."""
        return {z.origin.to_text(): z.serial for z in self._zones.values()}

    def maybe_refresh(self) -> None:
        if time.monotonic() >= self._next_check:
            self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Re-read changed, new and removed files; True when the served zones changed."""
        if force:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return False  # another thread is checking right now
        try:
            if not force and time.monotonic() < self._next_check:
                return False
            changed = self._scan()
            self._next_check = time.monotonic() + self.interval
            return changed
        finally:
            self._lock.release()

    # -- internals --

    def exact(self, key: Key) -> _Zone | None:
        return self._zones.get(key)

    def best(self, key: Key) -> _Zone | None:
        zones = self._zones
        for i in range(len(key)):
            zone = zones.get(key[i:])
            if zone is not None:
                return zone
        return None

    def _scan(self) -> bool:
        try:
            paths = sorted(p for p in self.directory.glob("*.zone") if p.is_file())
            if self._dir_error is not None:
                log.info("zone directory %s is readable again", self.directory)
                self._dir_error = None
        except OSError as exc:
            paths = []
            if self._dir_error != str(exc):
                log.error("cannot read the zone directory %s: %s", self.directory, exc)
                self._dir_error = str(exc)
        changed = False
        seen = set()
        for path in paths:
            try:
                st = path.stat()
            except OSError:
                continue
            seen.add(path)
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
            state = self._files.get(path)
            if state is not None and state.signature == signature:
                continue
            changed |= self._load(path, signature, state)
        for path in list(self._files):
            if path not in seen:
                state = self._files.pop(path)
                if state.good is not None:
                    log.info("zone %s: %s was removed; no longer served",
                             state.good.origin.to_text(), path)
                changed = True
        if changed:
            self._rebuild()
        return changed

    def _load(self, path: Path, signature: tuple, state: _FileState | None) -> bool:
        try:
            zone = _load_zone(path)
        except (ZoneLoadError, OSError) as exc:
            message = str(exc)
            if state is None:
                state = self._files[path] = _FileState(signature)
                first = True
            else:
                first = False
                state.signature = signature
            if state.good is not None:
                log.error("zone file %s not loaded: %s; still serving %s serial %s",
                          path, message, state.good.origin.to_text(), state.good.serial)
            else:
                log.error("zone file %s not loaded: %s; the zone is not served (SERVFAIL)",
                          path, message)
            state.error = message
            return first
        if state is None:
            state = self._files[path] = _FileState(signature)
        state.signature, state.error = signature, None
        old = state.good
        state.good = zone
        if old is None or old.serial != zone.serial or old.origin != zone.origin:
            log.info("zone %s serial %s loaded from %s", zone.origin.to_text(), zone.serial, path)
        return True

    def _rebuild(self) -> None:
        zones: dict[Key, _Zone] = {}
        for path, state in sorted(self._files.items()):
            zone = state.good
            if zone is None:
                try:
                    origin = dns.name.from_text(path.stem)
                except dns.exception.DNSException:
                    continue
                zone = _Zone(origin, [], path, broken=state.error or "not loaded")
            key = zone.okey
            other = zones.get(key)
            if other is not None and not other.broken:
                if zone.broken:
                    continue
                log.error("zone %s is in both %s and %s; serving the first",
                          zone.origin.to_text(), other.path, path)
                continue
            zones[key] = zone
        self._zones = zones


# --- answering ------------------------------------------------------------------------------------

@dataclass
class _Edns:
    do: bool = False
    options: list = field(default_factory=list)


@dataclass
class _Reply:
    id: int
    opcode: int
    flags: int                      # QR plus the copied RD/CD
    rcode: int = dns.rcode.NOERROR
    question: tuple | None = None   # (name, rdtype, rdclass)
    answer: list = field(default_factory=list)
    authority: list = field(default_factory=list)
    additional: list = field(default_factory=list)
    edns: _Edns | None = None
    tsig: dns.rrset.RRset | None = None
    seen: set = field(default_factory=set)

    def add(self, section: list, rrset: dns.rrset.RRset) -> bool:
        k = (_key(rrset.name), _rtype_key(rrset))
        if k in self.seen:
            return False
        self.seen.add(k)
        section.append(rrset)
        return True


class _Compressor:
    """BIND 9.18's name compression, on label tuples: a name is compressed only against an
    earlier name spelt the same (case-sensitive) that equals it or it minus its first label, and
    of each name written at most its first two suffixes are remembered, including names BIND
    writes in full (SRV, NAPTR, DNAME... targets). Matching BIND byte for byte matters because
    truncation (TC, how many RRs fit) depends on the exact size."""

    __slots__ = ("table",)

    def __init__(self):
        self.table: dict[tuple, int] = {}

    def write(self, buf: bytearray, labels: tuple, compress: bool = True) -> None:
        pos = len(buf)
        table = self.table
        count = len(labels) - 1  # labels before the root
        if compress and count > 0:
            ptr = table.get(labels)
            if ptr is not None:
                buf += _POINTER.pack(0xC000 | ptr)
                return
            if count >= 2:
                ptr = table.get(labels[1:])
                if ptr is not None:
                    first = labels[0]
                    buf.append(len(first))
                    buf += first
                    buf += _POINTER.pack(0xC000 | ptr)
                    if pos < 0x4000:
                        table.setdefault(labels, pos)
                    return
        for label in labels:
            buf.append(len(label))
            buf += label
        if count >= 1 and pos < 0x4000:
            table.setdefault(labels, pos)
            second = pos + 1 + len(labels[0])
            if count >= 2 and second < 0x4000:
                table.setdefault(labels[1:], second)

    def rollback(self, where: int) -> None:
        for k in [k for k, v in self.table.items() if v >= where]:
            del self.table[k]


_POINTER = struct.Struct("!H")
_RR_HEAD = struct.Struct("!HHIH")


def _rdata_to_wire(rd: dns.rdata.Rdata, buf: bytearray, comp: _Compressor) -> None:
    """RDATA as BIND writes it: NS, CNAME, PTR, MX, SOA names compressed; the names of SRV,
    NAPTR, DNAME, KX, RT, AFSDB written in full but remembered for later compression."""
    t = rd.rdtype
    if t == T.SRV:
        buf += struct.pack("!HHH", rd.priority, rd.weight, rd.port)
        comp.write(buf, rd.target.labels, False)
    elif t == T.NAPTR:
        buf += struct.pack("!HH", rd.order, rd.preference)
        for text in (rd.flags, rd.service, rd.regexp):
            buf.append(len(text))
            buf += text
        comp.write(buf, rd.replacement.labels, False)
    elif t in (T.NS, T.CNAME, T.PTR):
        comp.write(buf, rd.target.labels)
    elif t == T.MX:
        buf += _POINTER.pack(rd.preference)
        comp.write(buf, rd.exchange.labels)
    elif t == T.SOA:
        comp.write(buf, rd.mname.labels)
        comp.write(buf, rd.rname.labels)
        buf += struct.pack("!5I", rd.serial, rd.refresh, rd.retry, rd.expire, rd.minimum)
    elif t == T.DNAME:
        comp.write(buf, rd.target.labels, False)
    elif t in (T.KX, T.RT):
        buf += _POINTER.pack(rd.preference)
        comp.write(buf, rd.exchange.labels, False)
    elif t == T.AFSDB:
        buf += _POINTER.pack(rd.subtype)
        comp.write(buf, rd.hostname.labels, False)
    else:
        buf += rd.to_wire()


class _Writer:
    """A DNS message under construction, at most ``limit`` bytes; whole RRsets or nothing."""

    def __init__(self, qid: int, flags: int, limit: int):
        self.buf = bytearray(12)
        self.qid, self.flags, self.limit = qid, flags, limit
        self.counts = [0, 0, 0, 0]
        self.comp = _Compressor()

    def question(self, name: dns.name.Name, rdtype: int, rdclass: int) -> None:
        self.comp.write(self.buf, name.labels)
        self.buf += struct.pack("!HH", rdtype, rdclass)
        self.counts[0] += 1

    def rrset(self, section: int, rrset: dns.rrset.RRset, limit: int | None = None) -> bool:
        """Add the whole RRset, or nothing (False) when it would pass ``limit``."""
        buf, comp = self.buf, self.comp
        start = len(buf)
        owner, rdtype, rdclass, ttl = rrset.name.labels, rrset.rdtype, rrset.rdclass, rrset.ttl
        for rd in rrset:
            comp.write(buf, owner)
            buf += _RR_HEAD.pack(rdtype, rdclass, ttl, 0)
            at = len(buf)
            _rdata_to_wire(rd, buf, comp)
            _POINTER.pack_into(buf, at - 2, len(buf) - at)
        if len(buf) > (self.limit if limit is None else limit):
            del buf[start:]
            comp.rollback(start)
            return False
        self.counts[section] += len(rrset)
        return True

    def opt(self, edns: "_Edns", rcode: int) -> None:
        options = b"".join(struct.pack("!HH", o.otype, len(w)) + w
                           for o in edns.options for w in [o.to_wire()])
        ttl = ((rcode >> 4) << 24) | (dns.flags.DO if edns.do else 0)
        self.buf += b"\0" + _RR_HEAD.pack(T.OPT, EDNS_PAYLOAD, ttl, len(options)) + options
        self.counts[3] += 1

    def tsig(self, rrset: dns.rrset.RRset) -> None:
        out = io.BytesIO()
        rrset.to_wire(out)
        self.buf += out.getvalue()
        self.counts[3] += 1

    def wire(self) -> bytes:
        struct.pack_into("!6H", self.buf, 0, self.qid, self.flags, *self.counts)
        return bytes(self.buf)


def _opt_size(edns: _Edns) -> int:
    return 11 + sum(4 + len(o.to_wire()) for o in edns.options)


def _additional_order(rrsets: list) -> list:
    """BIND renders the additional section in passes: A, then AAAA, then the rest."""
    return ([r for r in rrsets if r.rdtype == T.A] + [r for r in rrsets if r.rdtype == T.AAAA]
            + [r for r in rrsets if r.rdtype not in (T.A, T.AAAA)])


def _render(reply: _Reply, limit: int, partial: bool) -> bytes:
    """Wire format within ``limit`` bytes, truncated the way BIND's ns_client_send does."""
    flags = reply.flags | (reply.opcode << 11) | (reply.rcode & 0xF)
    room = limit - (_opt_size(reply.edns) if reply.edns is not None else 0)
    w = _Writer(reply.id, flags, limit)
    if reply.question is not None:
        w.question(*reply.question)
    truncated = False
    for section, rrsets in ((1, reply.answer), (2, reply.authority)):
        for rrset in rrsets:
            if w.rrset(section, rrset, room):
                continue
            truncated = True
            if partial:  # no OPT: BIND keeps the RRs that fit
                for rd in rrset:
                    if not w.rrset(section, dns.rrset.from_rdata(rrset.name, rrset.ttl, rd), room):
                        break
            break
        if truncated:
            break
    if not truncated:
        for rrset in _additional_order(reply.additional):
            if not w.rrset(3, rrset, room):
                break  # not required: dropped, and the rest with it, without TC
    if truncated:
        flags |= _TC
        if reply.edns is not None or reply.tsig is not None:
            # BIND: a truncated message that carries an OPT keeps only the question
            w = _Writer(reply.id, flags, limit)
            if reply.question is not None:
                w.question(*reply.question)
        w.flags = flags
    if reply.edns is not None:
        w.opt(reply.edns, reply.rcode)
    if reply.tsig is not None:
        w.tsig(reply.tsig)
    return w.wire()


def _cookie(client: bytes, peer: str | None) -> dns.edns.CookieOption:
    """An RFC 7873/9018 style server cookie: version 1, timestamp, keyed hash."""
    head = bytes((1, 0, 0, 0)) + struct.pack("!I", int(time.time()) & 0xFFFFFFFF)
    mac = hashlib.blake2b(client + head + (peer or "").encode(), key=_COOKIE_SECRET,
                          digest_size=8).digest()
    return dns.edns.CookieOption(client, head + mac)


def _request_edns(msg: dns.message.Message, peer: str | None) -> _Edns | None:
    if msg.edns < 0:
        return None
    options = []
    for option in msg.options:
        if option.otype == dns.edns.OptionType.COOKIE:
            options = [_cookie(option.client, peer)]
    return _Edns(do=bool(msg.ednsflags & dns.flags.DO), options=options)


def _scan_opt(wire: bytes) -> tuple[bool, int]:
    """(whether the additional section has exactly one well-placed OPT, its EDNS flags) of a
    message dnspython could not parse, so that FORMERR echoes EDNS like BIND."""
    try:
        parser = dns.wire.Parser(wire)
        counts = struct.unpack("!4H", wire[4:12])
        parser.seek(12)
        for _ in range(counts[0]):
            dns.name.from_wire_parser(parser)
            parser.get_struct("!HH")
        opts = []
        for section in range(3):
            for _ in range(counts[section + 1]):
                name = dns.name.from_wire_parser(parser)
                rdtype, _rdclass, ttl, rdlen = parser.get_struct("!HHIH")
                parser.seek(parser.current + rdlen)
                if rdtype == T.OPT:
                    opts.append((section, name, ttl))
        if len(opts) == 1 and opts[0][0] == 2 and opts[0][1] == dns.name.root:
            return True, opts[0][2]
    except Exception:
        pass
    return False, 0


def _question_of(wire: bytes):
    """The question of a message whose other sections do not parse (None when it has not
    exactly one question that parses)."""
    try:
        msg = dns.message.from_wire(wire, question_only=True)
    except Exception:
        return None
    if len(msg.question) != 1:
        return None
    q = msg.question[0]
    return (q.name, q.rdtype, q.rdclass)


def handle(query_wire: bytes, store: ZoneStore, *, tcp: bool, peer: str | None = None,
           allow_transfer: Callable[[str | None], bool] | None = None) -> bytes | list[bytes]:
    """One request → the response wire (a list of messages for AXFR/IXFR over TCP; ``b""``
    when no response is due: shorter than a header, or a response itself).

    ``peer`` is the client's IP address (None: an in-process caller, treated as loopback);
    ``allow_transfer(peer)`` decides zone transfers (default: loopback clients only)."""
    try:
        return _handle(query_wire, store, tcp, peer, allow_transfer or loopback_only)
    except Exception:  # never let one request take a server thread down
        log.exception("internal error answering a request; SERVFAIL sent")
        if len(query_wire) < 12:
            return b""
        qid, qflags = struct.unpack("!HH", query_wire[:4])
        reply = _Reply(qid, (qflags >> 11) & 0xF, _QR | (qflags & (_RD | _CD)),
                       dns.rcode.SERVFAIL, question=_question_of(query_wire))
        return _render(reply, MIN_UDP if not tcp else 65535, partial=False)


def loopback_only(peer: str | None) -> bool:
    if peer is None:
        return True
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _udp_limit(msg: dns.message.Message | None) -> int:
    if msg is None or msg.edns < 0:
        return MIN_UDP
    return max(MIN_UDP, min(msg.payload, EDNS_PAYLOAD))


def _handle(wire: bytes, store: ZoneStore, tcp: bool, peer, allow_transfer):
    if len(wire) < 12:
        return b""
    qid, qflags = struct.unpack("!HH", wire[:4])
    if qflags & _QR:
        return b""
    opcode = (qflags >> 11) & 0xF
    copied = qflags & (_RD | _CD) if opcode == dns.opcode.QUERY else 0
    limit = 65535
    try:
        msg = dns.message.from_wire(wire, ignore_trailing=True, keyring=False)
    except Exception as exc:
        has_opt, ednsflags = _scan_opt(wire)
        reply = _Reply(qid, opcode, _QR | copied, dns.rcode.FORMERR, question=_question_of(wire))
        if has_opt:
            reply.edns = _Edns(do=bool(ednsflags & dns.flags.DO))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s FORMERR: %s", peer, exc)
        return _render(reply, limit if tcp else MIN_UDP, partial=False)
    if not tcp:
        limit = _udp_limit(msg)
    partial = msg.edns < 0
    edns = _request_edns(msg, peer)
    reply = _Reply(qid, opcode, _QR | copied, edns=edns)
    if msg.tsig is not None:
        tsig = msg.tsig[0]
        reply.rcode = dns.rcode.NOTAUTH
        reply.question = _question_of(wire)
        reply.edns = None
        reply.tsig = dns.rrset.from_rdata(msg.tsig.name, 0, TSIG(
            dns.rdataclass.ANY, T.TSIG, tsig.algorithm, int(time.time()), tsig.fudge, b"",
            qid, dns.rcode.BADKEY, b""))
        return _render(reply, limit, partial)
    if msg.edns > 0:
        reply.rcode = dns.rcode.BADVERS
        reply.edns = _Edns(do=bool(msg.ednsflags & dns.flags.DO))
        if len(msg.question) == 1:
            q = msg.question[0]
            reply.question = (q.name, q.rdtype, q.rdclass)
        return _render(reply, limit, partial)
    if opcode != dns.opcode.QUERY:
        return _render(_other_opcode(msg, reply, store), limit, partial)
    if len(msg.question) != 1:
        reply.rcode = dns.rcode.FORMERR
        return _render(reply, limit, partial)
    q = msg.question[0]
    qname, qtype, qclass = q.name, q.rdtype, q.rdclass
    reply.question = (qname, qtype, qclass)
    if qclass != _IN:
        if qclass in (dns.rdataclass.CH, dns.rdataclass.HS):
            reply.rcode = dns.rcode.REFUSED
            if qclass == dns.rdataclass.HS and reply.edns is not None:
                # BIND: no view for class HS, EDE 18 (Prohibited)
                reply.edns.options.append(dns.edns.EDEOption(dns.edns.EDECode.PROHIBITED))
        elif qclass in (dns.rdataclass.ANY, dns.rdataclass.NONE):
            reply.rcode = dns.rcode.FORMERR
        else:
            reply.rcode = dns.rcode.NOTIMP
        return _render(reply, limit, partial)
    if qtype in (T.OPT, T.TSIG, T.TKEY):
        reply.rcode = dns.rcode.FORMERR
        return _render(reply, limit, partial)
    if qtype in (T.MAILA, T.MAILB):
        reply.rcode = dns.rcode.NOTIMP
        return _render(reply, limit, partial)
    store.maybe_refresh()
    qkey = _key(qname)
    if qtype in (T.AXFR, T.IXFR):
        return _transfer(msg, reply, store, qkey, tcp, peer, allow_transfer, limit, partial)
    zone = store.best(qkey)
    if qtype == T.DS and zone is not None and zone.okey == qkey and len(qkey) > 1:
        parent = store.best(qkey[1:])  # DS lives in the parent zone, when we serve it
        zone = parent if parent is not None and not parent.broken else zone
    if zone is None:
        reply.rcode = dns.rcode.REFUSED
    elif zone.broken:
        reply.rcode = dns.rcode.SERVFAIL
    else:
        # BIND answers minimally (no NS, no additional data for positive answers) to UDP
        # clients that offer an EDNS buffer of 512 bytes or less
        minimal = not tcp and msg.edns >= 0 and msg.payload <= MIN_UDP
        _query(zone, store, qname, qkey, qtype, reply, minimal)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s %s %s → %s%s", "tcp" if tcp else "udp", peer, qname,
                  T.to_text(qtype), dns.rcode.to_text(reply.rcode),
                  "" if reply.flags & _AA else " (not authoritative)")
    return _render(reply, limit, partial)


def _other_opcode(msg: dns.message.Message, reply: _Reply, store: ZoneStore) -> _Reply:
    question = msg.question  # NOTIFY: the question; UPDATE: the zone section
    if reply.opcode not in (dns.opcode.NOTIFY, dns.opcode.UPDATE):
        reply.rcode = dns.rcode.NOTIMP
        return reply
    if len(question) != 1:
        reply.rcode = dns.rcode.FORMERR
        return reply
    q = question[0]
    reply.question = (q.name, q.rdtype, q.rdclass)
    if q.rdclass != _IN and reply.opcode == dns.opcode.NOTIFY:
        reply.rcode = dns.rcode.NOTIMP
        return reply
    if q.rdtype != T.SOA:
        reply.rcode = dns.rcode.FORMERR
        return reply
    store.maybe_refresh()
    zone = store.exact(_key(q.name)) if q.rdclass == _IN else None
    if zone is None or zone.broken:
        reply.rcode = dns.rcode.NOTAUTH
    elif reply.opcode == dns.opcode.NOTIFY:
        reply.flags |= _AA  # a primary acknowledges and ignores it, as BIND does
    else:
        reply.rcode = dns.rcode.REFUSED  # no updates are accepted here
    return reply


def _serial_ge(a: int, b: int) -> bool:
    """RFC 1982: a >= b in serial number arithmetic."""
    return a == b or 0 < ((a - b) & 0xFFFFFFFF) < 0x80000000


def _transfer(msg, reply: _Reply, store: ZoneStore, qkey: Key, tcp: bool, peer, allow_transfer,
              limit: int, partial: bool):
    qtype = reply.question[1]
    client_serial = None
    zone = store.exact(qkey)
    if zone is None or zone.broken:
        reply.rcode = dns.rcode.NOTAUTH if zone is None else dns.rcode.SERVFAIL
        return _render(reply, limit, partial)
    if qtype == T.IXFR:
        soas = [r for r in msg.authority if r.rdtype == T.SOA]
        if len(soas) != 1 or len(soas[0]) != 1:
            reply.rcode = dns.rcode.FORMERR
            return _render(reply, limit, partial)
        client_serial = soas[0][0].serial
    elif not tcp:
        reply.rcode = dns.rcode.FORMERR  # BIND: AXFR over UDP is a format error
        return _render(reply, limit, partial)
    if not allow_transfer(peer):
        reply.rcode = dns.rcode.REFUSED
        log.info("zone transfer of %s refused to %s", zone.origin.to_text(), peer)
        return _render(reply, limit, partial)
    if not tcp:  # IXFR over UDP: the SOA only ("use TCP" or "you are current")
        reply.answer = [zone.soa]
        return _render(reply, limit, partial)
    reply.flags = (reply.flags & ~(_RD | _CD)) | _AA
    if client_serial is not None and _serial_ge(client_serial, zone.serial):
        reply.answer = [zone.soa]
        return [_render(reply, XFR_MESSAGE_SIZE, False)]
    log.debug("zone transfer of %s serial %s to %s", zone.origin.to_text(), zone.serial, peer)
    return list(_xfr_messages(reply, zone.axfr_rrsets() + [zone.soa]))


def _xfr_messages(reply: _Reply, rrsets: list) -> Iterator[bytes]:
    """AXFR-style messages of at most 64 KiB, the question in the first one only."""
    pending = list(rrsets)
    question = reply.question
    flags = reply.flags | (reply.opcode << 11)
    room = XFR_MESSAGE_SIZE - (_opt_size(reply.edns) if reply.edns is not None else 0)
    while pending:
        w = _Writer(reply.id, flags, XFR_MESSAGE_SIZE)
        if question is not None:
            w.question(*question)
            question = None
        sent = 0
        for rrset in pending:
            if not w.rrset(1, rrset, room):
                break
            sent += 1
        if sent == 0:  # an RRset larger than a message: send it RR by RR
            big = pending.pop(0)
            if len(big) == 1:
                raise RuntimeError(f"{big.name} {T.to_text(big.rdtype)} does not fit a message")
            pending[:0] = [dns.rrset.from_rdata(big.name, big.ttl, rd) for rd in big]
            continue
        pending = pending[sent:]
        if reply.edns is not None:
            w.opt(reply.edns, dns.rcode.NOERROR)
        yield w.wire()


# -- the authoritative lookup (BIND's query_find for a zone without recursion) --

def _synth(rrset: dns.rrset.RRset, owner: dns.name.Name) -> dns.rrset.RRset:
    out = dns.rrset.RRset(owner, rrset.rdclass, rrset.rdtype, rrset.covers)
    out.update(rrset)
    return out


def _lower(name: dns.name.Name) -> dns.name.Name:
    return dns.name.Name([label.lower() for label in name.labels])


def _query(zone: _Zone, store: ZoneStore, qname: dns.name.Name, qkey: Key, qtype: int,
           reply: _Reply, minimal: bool = False) -> None:
    reply.flags |= _AA
    name, key = qname, qkey
    positive = False
    for step in range(MAX_LOOKUPS):
        found = zone.find(key, qtype)
        kind = found[0]
        if kind == "cut":
            if step == 0:
                reply.flags &= ~_AA
            ns = zone.data[found[1]][T.NS]
            reply.add(reply.authority, ns)
            _add_glue(zone, reply, ns)
            return
        if kind == "dname":
            dname = zone.data[found[1]][T.DNAME]
            reply.add(reply.answer, dname)
            owner = dname.name
            try:
                target = name.relativize(owner).concatenate(dname[0].target)
            except dns.name.NameTooLong:
                reply.rcode = dns.rcode.YXDOMAIN
                return
            cname = dns.rrset.from_rdata(name, dname.ttl, CNAME(_IN, T.CNAME, target))
            reply.add(reply.answer, cname)
            if qtype in (T.CNAME, T.ANY):
                positive = True  # the synthesised CNAME is the answer
                break
            if store.best(_key(target)) is not zone:
                return
            name, key = target, _key(target)
            continue
        if kind == "ent":
            reply.add(reply.authority, zone.neg_soa)
            return
        if kind == "nx":
            reply.rcode = dns.rcode.NXDOMAIN
            reply.add(reply.authority, zone.neg_soa0 if qtype == T.SOA else zone.neg_soa)
            return
        node, wildcard = found[2], found[3]
        owner = _lower(name) if wildcard else None
        if qtype == T.ANY:
            for rrset in node.values():
                reply.add(reply.answer, _synth(rrset, owner) if owner else rrset)
            if not minimal and not any(r.rdtype == T.NS and _key(r.name) == zone.okey
                                       for r in reply.answer):
                reply.add(reply.authority, zone.apex_ns)
            return
        if qtype == T.RRSIG:
            found_sets = [r for t, r in node.items() if t >> 16 == T.RRSIG]
        else:
            found_sets = [node[qtype]] if qtype in node else []
        if found_sets:
            for rrset in found_sets:
                reply.add(reply.answer, _synth(rrset, owner) if owner else rrset)
            positive = True
            break
        cname = node.get(T.CNAME)
        if cname is not None and qtype != T.CNAME:
            cname = _synth(cname, owner) if owner else cname
            reply.add(reply.answer, cname)
            target = cname[0].target
            tkey = _key(target)
            if store.best(tkey) is not zone:
                return  # BIND does not follow an alias out of the zone without recursion
            name, key = target, tkey
            continue
        reply.add(reply.authority, zone.neg_soa)
        return
    else:
        reply.rcode = dns.rcode.SERVFAIL
        reply.authority.clear()
        if reply.edns is not None:  # as BIND says it
            reply.edns.options.append(
                dns.edns.EDEOption(dns.edns.EDECode.OTHER, "max. restarts reached"))
        return
    if positive and not minimal:
        if not any(r.rdtype == T.NS and _key(r.name) == zone.okey for r in reply.answer):
            reply.add(reply.authority, zone.apex_ns)
        if qtype != T.ANY:
            _add_additional(zone, store, reply)


def _targets(rrset: dns.rrset.RRset) -> Iterator[tuple[dns.name.Name, int]]:
    """(name, kind) that BIND's additional-data processing looks up for an RRset: kind A means
    A and AAAA, kind SRV means the SRV RRset and then its targets' addresses."""
    t = rrset.rdtype
    for rd in rrset:
        if t == T.NS:
            yield rd.target, T.A
        elif t in (T.MX, T.KX, T.RT):
            yield rd.exchange, T.A
        elif t == T.SRV:
            yield rd.target, T.A
        elif t == T.AFSDB:
            yield rd.hostname, T.A
        elif t == T.NAPTR:
            for c in rd.flags.lower():
                if c == ord("s"):
                    yield rd.replacement, T.SRV
                    break
                if c == ord("a"):
                    yield rd.replacement, T.A
                    break


def _add_additional(zone: _Zone, store: ZoneStore, reply: _Reply) -> None:
    work = [(name, kind) for rrset in reply.answer + reply.authority
            for name, kind in _targets(rrset)]
    for name, kind in work:
        _additional_for(zone, store, reply, name, kind, depth=0)


def _additional_for(zone: _Zone, store: ZoneStore, reply: _Reply, name: dns.name.Name,
                    kind: int, depth: int) -> None:
    key = _key(name)
    if store.best(key) is not zone:
        return  # BIND looks for additional data in the query's zone only
    found = zone.authoritative_node(key)
    if found is None:
        return
    node, wildcard = found
    owner = _lower(name) if wildcard else None
    types = (T.A, T.AAAA) if kind == T.A else (T.SRV,)
    for t in types:
        rrset = node.get(t)
        if rrset is None:
            continue
        rrset = _synth(rrset, owner) if owner else rrset
        if reply.add(reply.additional, rrset) and t == T.SRV and depth == 0:
            for target, k in _targets(rrset):
                _additional_for(zone, store, reply, target, k, depth + 1)


def _add_glue(zone: _Zone, reply: _Reply, ns: dns.rrset.RRset) -> None:
    for rd in ns:
        node = zone.glue_node(_key(rd.target))
        if node is None:
            continue
        for t in (T.A, T.AAAA):
            if t in node:
                reply.add(reply.additional, node[t])


# --- the server ---------------------------------------------------------------------------------

def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class DnsServer:
    """The responder on ``address``:``port`` (UDP and TCP, same port; port 0 picks a free one,
    then ``port`` tells which), serving in daemon threads until ``stop()``."""

    def __init__(self, directory: Path | str, address: str = "127.0.0.1", port: int = 5353, *,
                 store: ZoneStore | None = None,
                 allow_transfer: Callable[[str | None], bool] | Iterable[str] | None = None,
                 tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
                 max_tcp_clients: int = MAX_TCP_CLIENTS):
        self.directory = Path(directory)
        self.address = address
        self.port = port
        self.store = store
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_tcp_clients = max_tcp_clients
        if allow_transfer is None or callable(allow_transfer):
            self.allow_transfer = allow_transfer or loopback_only
        else:
            networks = [ipaddress.ip_network(n, strict=False) for n in allow_transfer]
            self.allow_transfer = lambda peer: peer is None or any(
                ipaddress.ip_address(peer.split("%", 1)[0]) in n for n in networks)
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        self._conn_lock = threading.Lock()
        self._stopping = threading.Event()

    # -- lifecycle --

    def start(self) -> "DnsServer":
        if self._udp is not None:
            raise RuntimeError("DnsServer already started")
        if self.store is None:
            self.store = ZoneStore(self.directory)
        self._bind()
        self._stopping.clear()
        self._wake_r, self._wake_w = socket.socketpair()
        thread = threading.Thread(target=self._io_loop, name=f"dns-serve:{self.port}",
                                  daemon=True)
        thread.start()
        self._threads.append(thread)
        log.info("answering for %d zone(s) from %s on %s (UDP and TCP)",
                 len(self.store.serials()), self.directory, self.endpoint)
        return self

    @property
    def endpoint(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else \
            f"{self.address}:{self.port}"

    def _bind(self) -> None:
        family = _family(self.address)
        attempts = 20 if self.port == 0 else 1
        last: OSError | None = None
        for _ in range(attempts):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                udp.bind((self.address, self.port))
                port = udp.getsockname()[1]
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.address, port))
                tcp.listen(64)
            except OSError as exc:
                udp.close()
                tcp.close()
                last = exc
                continue
            self._udp, self._tcp, self.port = udp, tcp, port
            return
        raise OSError(last.errno if last else 0,
                      f"cannot listen on {self.endpoint} (UDP and TCP): "
                      f"{last.strerror if last else 'no free port'}")

    def stop(self) -> None:
        if self._udp is None:
            return
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        for thread in self._threads:
            thread.join(timeout=5)
        with self._conn_lock:
            conns, threads = list(self._conns), list(self._conn_threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout=5)
        self._threads.clear()
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = self._wake_r = self._wake_w = None

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- serving --

    def _io_loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "tcp")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stopping.is_set():
                for sk, _ in sel.select():
                    if sk.data == "udp":
                        self._udp_one()
                    elif sk.data == "tcp":
                        self._accept()
                    else:
                        return
        finally:
            sel.close()

    def _udp_one(self) -> None:
        try:
            wire, client = self._udp.recvfrom(65535)
        except OSError:
            return
        try:
            response = handle(wire, self.store, tcp=False, peer=client[0],
                              allow_transfer=self.allow_transfer)
            if response:
                self._udp.sendto(response if isinstance(response, bytes) else response[0],
                                 client)
        except Exception:
            log.exception("UDP request from %s failed", client[0])

    def _accept(self) -> None:
        try:
            conn, client = self._tcp.accept()
        except OSError:
            return
        with self._conn_lock:
            if len(self._conns) >= self.max_tcp_clients:
                log.warning("too many TCP clients (%d); closing a connection from %s",
                            len(self._conns), client[0])
                conn.close()
                return
            self._conns.add(conn)
        thread = threading.Thread(target=self._tcp_conn, args=(conn, client[0]),
                                  name=f"dns-serve-tcp:{client[0]}", daemon=True)
        with self._conn_lock:
            self._conn_threads.add(thread)
        thread.start()

    def _tcp_conn(self, conn: socket.socket, peer: str) -> None:
        try:
            conn.settimeout(self.tcp_idle_timeout)
            while not self._stopping.is_set():
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                (length,) = struct.unpack("!H", head)
                wire = _recv_exact(conn, length) if length else b""
                if wire is None:
                    return
                response = handle(wire, self.store, tcp=True, peer=peer,
                                  allow_transfer=self.allow_transfer)
                if not response:
                    continue
                messages = [response] if isinstance(response, bytes) else response
                conn.sendall(b"".join(struct.pack("!H", len(m)) + m for m in messages))
        except (socket.timeout, OSError):
            pass
        except Exception:
            log.exception("TCP connection from %s failed", peer)
        finally:
            with self._conn_lock:
                self._conns.discard(conn)
                self._conn_threads.discard(threading.current_thread())
            try:
                conn.close()
            except OSError:
                pass


class _CallbackHandler(logging.Handler):
    def __init__(self, callback: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.callback(self.format(record))
        except Exception:
            self.handleError(record)


def serve_forever(directory: Path | str, address: str = "127.0.0.1", port: int = 5353,
                  log: Callable[[str], None] | logging.Logger | None = None) -> None:
    """Serve until SIGINT or SIGTERM (or KeyboardInterrupt), then stop cleanly.

    ``log`` gets every INFO-and-above line of the server (zone loads, load errors, start and
    stop): a callable such as ``click.echo``, a Logger (its ``info``), or None to leave the
    ``zonesync.dnsserve`` logger as the application configured it. Binding errors raise
    OSError with the address in the message."""
    module_log = logging.getLogger("zonesync.dnsserve")
    callback = log.info if isinstance(log, logging.Logger) else log
    handler = None
    saved = (module_log.level, module_log.propagate)
    if callback is not None:
        handler = _CallbackHandler(callback)
        handler.setFormatter(logging.Formatter("%(message)s"))
        module_log.addHandler(handler)
        if module_log.getEffectiveLevel() > logging.INFO:
            module_log.setLevel(logging.INFO)
        module_log.propagate = False
    stop = threading.Event()
    previous = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())
        server = DnsServer(directory, address, port).start()
        try:
            while not stop.wait(0.5):
                server.store.maybe_refresh()
        except KeyboardInterrupt:
            pass
        finally:
            module_log.info("stopping the responder on %s", server.endpoint)
            server.stop()
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        if handler is not None:
            module_log.removeHandler(handler)
            module_log.setLevel(saved[0])
            module_log.propagate = saved[1]
