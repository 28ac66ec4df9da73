"""Where DNS answers come from: an in-memory record set, or live servers via dnspython.

``LiveSource`` asks one question at a time; ``BatchSource`` (verification's fast path) asks one
server many at once, pipelined on one UDP socket, reading the common replies with ``wire``'s
few struct calls and everything unusual with dnspython, so both give the same Answers.

The RFC 3263 resolver (``resolve``) asks a ``DnsSource`` and nothing else, so the same resolver
runs against compiled records (pure, property-testable) and against authoritative servers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Iterable, Literal, Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from .records import Record, from_rrset

Status = Literal["ok", "nodata", "nxdomain", "servfail", "timeout", "refused"]


@dataclass(frozen=True)
class Answer:
    """The outcome of one query.

    ``status``: ok (records present), nodata (name exists, no such type), nxdomain (no such
    name), or an indeterminate failure (servfail, timeout, refused) which RFC 3263 clients must
    not treat as "absent" (SPEC R10). ``cname`` is the alias target when the name is a CNAME.
    """

    status: Status
    records: tuple[Record, ...] = ()
    cname: str | None = None
    detail: str = ""

    @property
    def indeterminate(self) -> bool:
        return self.status in ("servfail", "timeout", "refused")


class DnsSource(Protocol):
    def query(self, name: str, rtype: str) -> Answer:
        """Answer for an absolute, lower-case ``name`` (trailing dot) and a type name."""
        ...


@dataclass
class MemorySource:
    """Answers from a record collection, as an authoritative server holding exactly them would."""

    records: Iterable[Record]
    _index: dict[tuple[str, str], tuple[Record, ...]] = field(init=False, repr=False)
    _names: set[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[Record]] = {}
        names: set[str] = set()
        for rec in self.records:
            index.setdefault((rec.name, rec.type), []).append(rec)
            names.add(rec.name)
            # Empty non-terminals exist too (RFC 8020): _udp.example. exists if _sip._udp.example. does.
            labels = rec.name.split(".")
            for i in range(1, len(labels) - 1):
                names.add(".".join(labels[i:]))
        self._index = {k: tuple(v) for k, v in index.items()}
        self._names = names

    def query(self, name: str, rtype: str) -> Answer:
        name = name.lower()
        found = self._index.get((name, rtype.upper()))
        if found:
            return Answer("ok", found)
        cname = self._index.get((name, "CNAME"))
        if cname:
            return Answer("ok", (), cname=str(cname[0].value))
        return Answer("nodata" if name in self._names else "nxdomain")


# --- live servers -------------------------------------------------------------------------------

EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 default: no fragmentation on common paths


def parse_nameserver(text: str) -> tuple[str, int]:
    """``"host[:port]"`` → (IP address, port). IPv6 is ``"[::1]:5353"`` or bare ``"::1"``;
    the port defaults to 53. Raises ValueError with a clear message."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise ValueError("empty nameserver: expected an IP address, optionally with :port")
    host, port = raw, "53"
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"nameserver {raw!r}: expected [IPv6]:port, e.g. [::1]:5353")
        port = rest[1:] if rest else "53"
    elif raw.count(":") == 1:
        host, port = raw.split(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"nameserver {raw!r}: {host!r} is not an IP address "
                         "(write host[:port], IPv6 as [::1]:5353)") from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"nameserver {raw!r}: port {port!r} is not a number in 1–65535")
    return str(address), int(port)


def system_nameservers(path: str = "/etc/resolv.conf") -> list[str]:
    """The ``nameserver`` lines of a resolv.conf (glibc's 127.0.0.1 when there are none)."""
    servers = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "nameserver":
                    servers.append(fields[1] if ":" not in fields[1] else f"[{fields[1]}]")
    except OSError:
        pass
    return servers or ["127.0.0.1"]


@dataclass
class LiveSource:
    """Answers from DNS servers over the network (dnspython): UDP with EDNS0 (payload 1232),
    TCP when the answer is truncated. Each server is tried in turn, ``1 + retries`` rounds;
    the first definite answer (ok, nodata, nxdomain) wins. ``None`` → /etc/resolv.conf."""

    nameservers: list[str] | None = None
    timeout: float = 2.0
    retries: int = 2
    servers: list[tuple[str, int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = self.nameservers if self.nameservers is not None else system_nameservers()
        if not names:
            raise ValueError("LiveSource needs at least one nameserver")
        self.servers = [parse_nameserver(name) for name in names]

    def query(self, name: str, rtype: str) -> Answer:
        return self._first_definite(lambda host, port: self._query_one(name, rtype, host, port))

    def zone_query(self, zone: str, rtype: Literal["SOA", "NS"]) -> "ZoneAnswer":
        """The SOA serial or the NS names of ``zone``, asked without recursion (RD clear), as
        ``query`` tries the servers. A referral's NS set counts for NS (a parent's answer)."""
        return self._first_definite(lambda host, port: self._zone_query_one(zone, rtype, host, port))

    def _first_definite(self, ask):
        """Each server in turn, ``1 + retries`` rounds: the first definite answer, or the last
        failure with every server's reason in ``detail``."""
        failures = []
        for _round in range(1 + max(0, self.retries)):
            for host, port in self.servers:
                answer = ask(host, port)
                if not answer.indeterminate:
                    return answer
                failures.append(answer)
        detail = "; ".join(dict.fromkeys(f.detail for f in failures))
        return replace(failures[-1], detail=detail)

    def _exchange(self, request: dns.message.Message, host: str, port: int):
        """(response, None) or (None, (status, detail)): UDP, then TCP when truncated."""
        where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        try:
            response = dns.query.udp(request, host, timeout=self.timeout, port=port,
                                     ignore_unexpected=True)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(request, host, timeout=self.timeout, port=port)
        except dns.exception.Timeout:
            return None, ("timeout", f"no answer from {where} in {self.timeout:g}s")
        except (OSError, dns.exception.DNSException) as exc:
            return None, ("timeout", f"{where}: {exc.__class__.__name__}: {exc}")
        return response, where

    def _zone_query_one(self, zone: str, rtype: str, host: str, port: int) -> "ZoneAnswer":
        request = dns.message.make_query(zone, rtype, use_edns=0, payload=EDNS_PAYLOAD,
                                         flags=0)
        response, where = self._exchange(request, host, port)
        if response is None:
            return ZoneAnswer(where[0], detail=where[1])
        return zone_answer_from_message(response, zone, rtype, where)

    def _query_one(self, name: str, rtype: str, host: str, port: int) -> Answer:
        request = dns.message.make_query(name, rtype, use_edns=0, payload=EDNS_PAYLOAD)
        response, where = self._exchange(request, host, port)
        if response is None:
            return Answer(where[0], detail=where[1])
        return answer_from_message(response, name, rtype, where)


_RCODES = {dns.rcode.NXDOMAIN: "nxdomain", dns.rcode.SERVFAIL: "servfail",
           dns.rcode.REFUSED: "refused"}


def answer_from_message(response: dns.message.Message, name: str, rtype: str,
                        where: str = "") -> Answer:
    """A DNS response as an Answer: rcode mapped, CNAME chain in the answer followed."""
    rcode = response.rcode()
    qname = dns.name.from_text(name)
    qtype = dns.rdatatype.from_text(rtype)
    records, cname = _follow_chain(response, qname, qtype)
    if rcode != dns.rcode.NOERROR and not (cname and rcode == dns.rcode.NXDOMAIN):
        status = _RCODES.get(rcode, "servfail")
        detail = "" if status == "nxdomain" else f"{where}: {dns.rcode.to_text(rcode)}"
        return Answer(status, detail=detail)  # type: ignore[arg-type]
    if records or cname:
        return Answer("ok", tuple(records), cname=cname)
    if _is_referral(response):
        return Answer("refused", detail=f"{where}: referral, not authoritative for {name}")
    return Answer("nodata")


def _follow_chain(response: dns.message.Message, qname: dns.name.Name,
                  qtype: int) -> tuple[list[Record], str | None]:
    """Records of ``qtype`` at the end of the CNAME chain starting at ``qname``, and the first
    CNAME target (None when ``qname`` is not an alias)."""
    first: str | None = None
    current, seen = qname, set()
    while current not in seen:
        seen.add(current)
        rrset = _find(response, current, qtype)
        if rrset is not None:
            return from_rrset(rrset), first
        alias = _find(response, current, dns.rdatatype.CNAME)
        if alias is None or qtype == dns.rdatatype.CNAME:
            break
        current = alias[0].target
        first = first or current.to_text().lower()
    return [], first


def _find(response: dns.message.Message, name: dns.name.Name, rdtype: int):
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN:
            return rrset
    return None


def _is_referral(response: dns.message.Message) -> bool:
    aa = bool(response.flags & dns.flags.AA)
    has_ns = any(r.rdtype == dns.rdatatype.NS for r in response.authority)
    has_soa = any(r.rdtype == dns.rdatatype.SOA for r in response.authority)
    return not aa and has_ns and not has_soa


# --- zone-level questions: SOA serial, NS set (verification, SPEC V1 and V4) ------------------

@dataclass(frozen=True)
class ZoneAnswer:
    """A zone's SOA serial or NS set as one server gives it.

    ``status`` as for ``Answer``. For NS, ``authoritative`` is False when the names come from a
    referral (a parent's authority section: the delegation). A referral in answer to SOA means
    the server is not authoritative for the zone: status "refused" (indeterminate)."""

    status: Status
    serial: int | None = None
    ns: tuple[str, ...] = ()
    authoritative: bool = False
    detail: str = ""

    @property
    def indeterminate(self) -> bool:
        return self.status in ("servfail", "timeout", "refused")


def zone_answer_from_message(response: dns.message.Message, zone: str, rtype: str,
                             where: str = "") -> ZoneAnswer:
    """A response to ``zone SOA`` / ``zone NS`` as a ZoneAnswer (pure)."""
    rcode = response.rcode()
    aa = bool(response.flags & dns.flags.AA)
    if rcode == dns.rcode.NXDOMAIN:
        return ZoneAnswer("nxdomain", authoritative=aa, detail=f"{where}: {zone} does not exist")
    if rcode != dns.rcode.NOERROR:
        return ZoneAnswer(_RCODES.get(rcode, "servfail"),  # type: ignore[arg-type]
                          detail=f"{where}: {dns.rcode.to_text(rcode)}")
    qname = dns.name.from_text(zone)
    rdtype = dns.rdatatype.from_text(rtype)
    found = _find(response, qname, rdtype)
    if found is not None:
        if rdtype == dns.rdatatype.SOA:
            return ZoneAnswer("ok", serial=found[0].serial, authoritative=aa)
        return ZoneAnswer("ok", ns=_target_names(found), authoritative=aa)
    if not aa:
        for rrset in response.authority:
            if rrset.rdtype != dns.rdatatype.NS:
                continue
            if rrset.name == qname and rdtype == dns.rdatatype.NS:
                return ZoneAnswer("ok", ns=_target_names(rrset), authoritative=False,
                                  detail=f"{where}: referral")
            return ZoneAnswer("refused", ns=_target_names(rrset),
                              detail=f"{where}: referral to {rrset.name.to_text().lower()}, "
                                     f"not authoritative for {zone}")
    return ZoneAnswer("nodata", authoritative=aa, detail=f"{where}: no {rtype} at {zone}")


def _target_names(rrset) -> tuple[str, ...]:
    return tuple(sorted({r.target.derelativize(dns.name.root).to_text().lower()
                         for r in rrset}))


# --- the compiled view over a live zone (SPEC V2) ---------------------------------------------

@dataclass
class OverlaySource:
    """What a zone holding the compiled records would answer, everything else being live.

    ``records`` answer for their (name, type) RRsets; ``absent`` (name, type) RRsets do not
    exist (NODATA, or NXDOMAIN when the name exists neither in ``records`` nor live); every
    other question goes to ``fallback`` (customer-owned records, e.g. the A record of an SRV
    target zonesync does not own, are real). A name that owns records, or lies above one (an
    empty non-terminal), exists: the fallback's NXDOMAIN or CNAME there becomes NODATA."""

    records: Iterable[Record]
    absent: Iterable[tuple[str, str]]
    fallback: DnsSource
    _memory: MemorySource = field(init=False, repr=False)
    _absent: frozenset[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.records = tuple(self.records)
        self._memory = MemorySource(
            [rec if rec.name == rec.name.lower() else
             Record(rec.name.lower(), rec.ttl, rec.type.upper(), rec.value)
             for rec in self.records])
        self._absent = frozenset((name.lower(), rtype.upper()) for name, rtype in self.absent)

    def query(self, name: str, rtype: str) -> Answer:
        name, rtype = name.lower(), rtype.upper()
        found = self._memory._index.get((name, rtype))
        if found:
            return Answer("ok", found)
        exists = name in self._memory._names
        if (name, rtype) in self._absent:
            if exists:
                return Answer("nodata")
            live = self.fallback.query(name, rtype)
            return Answer("nxdomain" if live.status == "nxdomain" else "nodata")
        live = self.fallback.query(name, rtype)
        if exists and (live.status == "nxdomain" or live.cname):
            return Answer("nodata")
        return live


# --- many questions to one server at once (verification's fast path) ------------------------

class Expected:
    """What one owned RRset must look like on the wire: the desired ``records`` (one owner and
    type), the TTL a server must show (after the provider's rounding) and each record's rdata
    in uncompressed wire form. ``BatchSource.query_many`` returns the Expected itself, instead
    of an Answer, when the server's answer is exactly that RRset (same rdata bytes, every TTL
    equal, nothing else in the answer section)."""

    __slots__ = ("records", "ttl", "rdatas")

    def __init__(self, records: tuple[Record, ...], ttl: int, rdatas: frozenset[bytes]):
        self.records, self.ttl, self.rdatas = records, ttl, rdatas

    @classmethod
    def of(cls, records: Iterable[Record], ttl: int) -> "Expected | None":
        """None when a record has no simple wire form (then the answer is parsed fully)."""
        from .wire import rdata_wire

        records = tuple(records)
        rdatas = set()
        for rec in records:
            wire = rdata_wire(rec)
            if wire is None:
                return None
            rdatas.add(wire)
        if not records or len(rdatas) != len(records):
            return None
        return cls(records, ttl, frozenset(rdatas))

    def answer(self) -> Answer:
        """The Answer a full parse of the matching response would give."""
        ttl = self.ttl
        return Answer("ok", tuple(rec if rec.ttl == ttl else Record(rec.name, ttl, rec.type,
                                                                    rec.value)
                                  for rec in self.records))


BATCH_WINDOW = 100   # questions in flight on one socket (a burst must fit the server's
                     # socket buffer: ~200 KiB by default on Linux, ~1 KiB a datagram)
BATCH_TRIES = 4      # sends of one question within ``timeout``
INITIAL_RTO = 0.25   # seconds before the first resend, until replies give an RTT estimate
MIN_RTO = 0.1       # a shared machine's scheduler alone can hold a reply for tens of ms
_NODATA = Answer("nodata")
_NXDOMAIN = Answer("nxdomain")


class BatchSource:
    """Answers from one DNS server, many questions at a time (``query_many``,
    ``zone_query_many``) and the same Answers / ZoneAnswers as ``LiveSource`` with
    ``retries=0``; ``query`` / ``zone_query`` make it a ``DnsSource`` too.

    How: every question's message is built once (``wire``: the id patched in at send time),
    up to ``window`` of them are in flight on one non-blocking UDP socket connected to the
    server, replies are matched by id *and* echoed question (late, duplicate or foreign
    replies are ignored), and a question still unanswered after the retransmission timeout is
    sent again (``_exchange_many``), ``timeout`` seconds in all (then: "timeout",
    indeterminate). A reply is read with
    ``wire``'s few struct calls when it is the common case — NOERROR with exactly the expected
    RRset, NODATA or NXDOMAIN with the AA bit, a SOA serial — and otherwise parsed fully by
    dnspython (``answer_from_message``: CNAME chains, referrals, SERVFAIL/REFUSED, an RRset
    that differs); a truncated reply is asked again over TCP. ``stats`` counts what happened. One BatchSource may be used by several
    threads at once (each call has its own socket); ``stats`` is then approximate.
    """

    def __init__(self, server: str, timeout: float = 2.0, window: int = BATCH_WINDOW,
                 tries: int = BATCH_TRIES, payload: int = EDNS_PAYLOAD):
        self.host, self.port = parse_nameserver(server)
        self.where = f"{self.host}:{self.port}" if ":" not in self.host else \
            f"[{self.host}]:{self.port}"
        self.timeout, self.window = float(timeout), max(1, min(int(window), 60000))
        self.tries, self.payload = max(1, int(tries)), payload
        self.stats: dict[str, int] = dict.fromkeys(
            ("sent", "resent", "fast", "full", "tcp", "timeout", "stray"), 0)
        self._single = LiveSource([server], timeout=timeout, retries=0)

    # DnsSource
    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower(), rtype.upper())
        found = self.query_many([key])[key]
        return found.answer() if isinstance(found, Expected) else found

    def zone_query(self, zone: str, rtype: Literal["SOA", "NS"]) -> ZoneAnswer:
        return self.zone_query_many([zone], rtype)[zone]

    def _questions(self, items: list, question_of, flags: int) -> tuple[list, list, list, list]:
        """(question sections, query bodies, the items asked that way, the items the wire
        module cannot phrase: those go through dnspython one by one)."""
        from . import wire

        sections, bodies, asked, slow = [], [], [], []
        for item in items:
            section = question_of(item)
            if section is None:
                slow.append(item)
                continue
            sections.append(section)
            bodies.append(wire.query_body(section, flags, self.payload))
            asked.append(item)
        return sections, bodies, asked, slow

    def query_many(self, keys: Iterable[tuple[str, str]],
                   expected: "dict[tuple[str, str], Expected] | None" = None
                   ) -> dict[tuple[str, str], "Answer | Expected"]:
        """An Answer for each (name, type) — or, where ``expected`` has the key and the server
        served exactly that RRset, the Expected itself (its ``answer()`` is the Answer)."""
        from . import wire

        keys = list(dict.fromkeys((n.lower(), t.upper()) for n, t in keys))
        expected = expected or {}
        out: dict[tuple[str, str], Answer | Expected] = {}
        sections, bodies, asked, slow = self._questions(keys, lambda key: wire.question(*key),
                                                        wire.FLAG_RD)
        replies = self._exchange_many(sections, bodies)
        tcp = []
        for key, section, reply in zip(asked, sections, replies):
            if reply is None:
                out[key] = Answer("timeout", detail=f"no answer from {self.where} in "
                                                    f"{self.timeout:g}s")
                continue
            found = self._fast_answer(reply, len(section), key, expected.get(key))
            if found == "tcp":
                tcp.append(key)
            elif found is not None:
                self.stats["fast"] += 1
                out[key] = found
            else:
                self.stats["full"] += 1
                out[key] = self._full_answer(reply, key)
        self.stats["tcp"] += len(tcp)
        for key, answer in self._each_single(tcp, self._tcp_query):
            out[key] = answer
        for key, answer in self._each_single(slow, self._single.query):
            out[key] = answer
        return {key: out[key] for key in keys}

    def zone_query_many(self, zones: Iterable[str], rtype: Literal["SOA", "NS"]
                        ) -> dict[str, ZoneAnswer]:
        """``LiveSource.zone_query`` for each zone (RD clear), pipelined."""
        from . import wire

        zones = list(dict.fromkeys(zones))
        out: dict[str, ZoneAnswer] = {}
        sections, bodies, asked, slow = self._questions(
            zones, lambda zone: wire.question(zone.lower(), rtype), 0)
        replies = self._exchange_many(sections, bodies)
        tcp = []
        for zone, section, reply in zip(asked, sections, replies):
            if reply is None:
                out[zone] = ZoneAnswer("timeout", detail=f"no answer from {self.where} in "
                                                         f"{self.timeout:g}s")
                continue
            head = wire.Header(reply)
            if head.flags & wire.FLAG_TC:
                tcp.append(zone)
                continue
            if (rtype == "SOA" and head.rcode == wire.RCODE_NOERROR
                    and head.flags & wire.FLAG_AA):
                try:
                    serial = wire.soa_serial(reply, len(section), head.an)
                except Exception:  # noqa: BLE001 - malformed: dnspython decides
                    serial = None
                if serial is not None:
                    self.stats["fast"] += 1
                    out[zone] = ZoneAnswer("ok", serial=serial, authoritative=True)
                    continue
            self.stats["full"] += 1
            try:
                message = dns.message.from_wire(reply)
            except Exception as exc:  # noqa: BLE001 - as LiveSource: a bad reply is no answer
                out[zone] = ZoneAnswer("timeout", detail=f"{self.where}: "
                                                         f"{exc.__class__.__name__}: {exc}")
                continue
            out[zone] = zone_answer_from_message(message, zone, rtype, self.where)
        self.stats["tcp"] += len(tcp)
        for zone, answer in self._each_single(tcp, lambda z: self._tcp_query(z, rtype, True)):
            out[zone] = answer
        for zone, answer in self._each_single(slow,
                                              lambda z: self._single.zone_query(z, rtype)):
            out[zone] = answer
        return {zone: out[zone] for zone in zones}

    def _tcp_query(self, name: str, rtype: str, zone: bool = False):
        """A question whose UDP reply was truncated, asked again over TCP (as LiveSource)."""
        flags = {"flags": 0} if zone else {}
        request = dns.message.make_query(name, rtype, use_edns=0, payload=self.payload,
                                         **flags)
        try:
            response = dns.query.tcp(request, self.host, timeout=self.timeout, port=self.port)
        except dns.exception.Timeout:
            detail = f"no answer from {self.where} in {self.timeout:g}s"
            return ZoneAnswer("timeout", detail=detail) if zone else \
                Answer("timeout", detail=detail)
        except (OSError, dns.exception.DNSException) as exc:
            detail = f"{self.where}: {exc.__class__.__name__}: {exc}"
            return ZoneAnswer("timeout", detail=detail) if zone else \
                Answer("timeout", detail=detail)
        if zone:
            return zone_answer_from_message(response, name, rtype, self.where)
        return answer_from_message(response, name, rtype, self.where)

    # --- internals ----------------------------------------------------------------------------

    @staticmethod
    def _each_single(items, ask):
        """The rare questions dnspython asks one by one (truncated → TCP, unusual names)."""
        items = list(items)
        if len(items) <= 1:
            return [(item, ask(*item) if isinstance(item, tuple) else ask(item))
                    for item in items]
        from concurrent.futures import ThreadPoolExecutor

        def one(item):
            return item, ask(*item) if isinstance(item, tuple) else ask(item)

        with ThreadPoolExecutor(min(8, len(items)), thread_name_prefix="dns-single") as pool:
            return list(pool.map(one, items))

    def _fast_answer(self, reply: bytes, qlen: int, key: tuple[str, str],
                     expected: Expected | None):
        """The Answer (or the matched Expected) when the reply is a common case; "tcp" when
        truncated; None when it needs dnspython."""
        from .wire import FLAG_AA, FLAG_TC, simple_answers, type_code

        try:
            flags = (reply[2] << 8) | reply[3]
            if flags & FLAG_TC:
                return "tcp"
            rcode = flags & 0x000F
            an = (reply[6] << 8) | reply[7]
            if rcode == 0:  # NOERROR
                if an == 0:
                    return _NODATA if flags & FLAG_AA else None
                if expected is None or an != len(expected.rdatas):
                    return None
                rrs = simple_answers(reply, qlen, an)
                if rrs is None:
                    return None
                code, ttl, rdatas = type_code(key[1]), expected.ttl, expected.rdatas
                seen = set()
                for rtype, rclass, rttl, rdata in rrs:
                    if rtype != code or rclass != 1 or rttl != ttl or rdata not in rdatas:
                        return None
                    seen.add(rdata)
                return expected if len(seen) == len(rdatas) else None
            if rcode == 3 and an == 0 and flags & FLAG_AA:  # NXDOMAIN
                return _NXDOMAIN
        except Exception:  # noqa: BLE001 - malformed: dnspython decides
            return None
        return None

    def _full_answer(self, reply: bytes, key: tuple[str, str]) -> Answer:
        try:
            message = dns.message.from_wire(reply)
        except Exception as exc:  # noqa: BLE001 - as LiveSource: a bad reply is no answer
            return Answer("timeout", detail=f"{self.where}: {exc.__class__.__name__}: {exc}")
        return answer_from_message(message, key[0], key[1], self.where)

    def _exchange_many(self, sections: list[bytes], bodies: list[bytes]) -> list[bytes | None]:
        """Send every query (``bodies``: messages without their id), ``window`` in flight;
        the reply to each, or None when none came within ``timeout``.

        A question is sent again (same id) when unanswered after the retransmission timeout —
        ``2 srtt + 4 rttvar`` of this exchange's replies (after RFC 6298, Karn's rule), 0.25 s
        before the first reply, at least 0.1 s, doubled at each resend — at most ``tries``
        times, and given up ``timeout`` seconds after its first send; a resend also shrinks the
        window by a third (a lost datagram usually means a full socket buffer). A lost
        datagram thus costs a tenth of a second on a fast server, not the whole timeout. A
        server that answers nothing at all within ``timeout`` gets every question it was not
        asked yet counted as timed out too (a dead server costs ``timeout``, not one per
        window)."""
        import heapq
        import random
        import select
        import socket
        import time as _time

        from .wire import FLAG_QR, question_matches

        n = len(bodies)
        replies: list[bytes | None] = [None] * n
        if not n:
            return replies
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            except OSError:
                pass
            sock.connect((self.host, self.port))
            sock.setblocking(False)
            timeout, tries = self.timeout, self.tries
            ceiling = max(MIN_RTO, timeout / 2)
            rto = min(INITIAL_RTO, ceiling)
            srtt: float | None = None
            rttvar = 0.0
            window = min(self.window, 65000)
            calm = 0.0
            in_flight: dict[int, list] = {}  # id → [index, first send, last send, sends, rto, gen]
            due: list = []                   # heap of (time, generation, id)
            next_index = done = generation = 0
            next_id = random.randrange(0x10000)
            stats = self.stats
            clock = _time.monotonic
            recv, send = sock.recv, sock.send
            push, pop = heapq.heappush, heapq.heappop
            while done < n:
                now = clock()
                while next_index < n and len(in_flight) < window:
                    while next_id in in_flight:
                        next_id = (next_id + 1) & 0xFFFF
                    qid = next_id
                    next_id = (next_id + 1) & 0xFFFF
                    try:
                        send(qid.to_bytes(2, "big") + bodies[next_index])
                    except BlockingIOError:
                        break
                    except OSError:
                        pass  # e.g. ICMP port unreachable from an earlier send: it times out
                    stats["sent"] += 1
                    generation += 1
                    in_flight[qid] = [next_index, now, now, 1, rto, generation]
                    push(due, (now + rto, generation, qid))
                    next_index += 1
                while due and due[0][0] <= now:
                    _when, gen, qid = pop(due)
                    state = in_flight.get(qid)
                    if state is None or state[5] != gen:
                        continue
                    deadline = state[1] + timeout
                    if now >= deadline:
                        del in_flight[qid]
                        done += 1
                        stats["timeout"] += 1
                        if srtt is None:  # not one reply in ``timeout``: the server is down,
                            stats["timeout"] += n - done  # do not wait for every question
                            in_flight.clear()
                            due.clear()
                            next_index = done = n
                            break
                        continue
                    generation += 1
                    state[5] = generation
                    if state[3] < tries:
                        try:
                            send(qid.to_bytes(2, "big") + bodies[state[0]])
                        except OSError:
                            pass
                        stats["resent"] += 1
                        if srtt is not None and now >= calm:  # a loss: fewer in flight
                            window = max(8, window * 2 // 3)
                            calm = now + rto
                        state[2], state[3] = now, state[3] + 1
                        state[4] = min(state[4] * 2, ceiling)
                        push(due, (min(now + state[4], deadline), generation, qid))
                    else:
                        push(due, (deadline, generation, qid))
                if done >= n:
                    break
                wait = max(0.0, due[0][0] - now) if due else 0.0
                if next_index < n and len(in_flight) < window:
                    wait = 0.0
                readable, _, _ = select.select([sock], [], [], wait)
                if not readable:
                    continue
                now = clock()
                while True:
                    try:
                        data = recv(65535)
                    except BlockingIOError:
                        break
                    except OSError:
                        break  # ICMP error surfaced on the socket: the queries time out
                    if len(data) < 12:
                        stats["stray"] += 1
                        continue
                    qid = (data[0] << 8) | data[1]
                    state = in_flight.get(qid)
                    if (state is None or not data[2] & (FLAG_QR >> 8)
                            or not question_matches(data, sections[state[0]])):
                        stats["stray"] += 1
                        continue
                    replies[state[0]] = data
                    del in_flight[qid]
                    done += 1
                    if state[3] == 1:  # Karn: only unambiguous samples
                        sample = now - state[2]
                        if srtt is None:
                            srtt, rttvar = sample, sample / 2
                        else:
                            rttvar = 0.75 * rttvar + 0.25 * abs(srtt - sample)
                            srtt = 0.875 * srtt + 0.125 * sample
                        rto = min(max(2 * srtt + 4 * rttvar, MIN_RTO), ceiling)
        finally:
            sock.close()
        return replies
