"""Where DNS answers come from: an in-memory record set, or live servers via dnspython.

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
