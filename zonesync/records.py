"""The record value type every stage shares.

Records are plain, hashable values (no dnspython objects) so that compiled record sets can be
compared as sets, hashed, cached and generated in property tests cheaply. dnspython is used only
at the edges: to parse presentation text (``parse_record``) and to render zone files.

Names in records are absolute, lower-case and end in ".". Names in descriptions (``model``)
have no trailing dot; ``fqdn`` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class Naptr(NamedTuple):
    """NAPTR rdata (RFC 3403 §4.1). Flags and service are compared case-insensitively."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str  # absolute name, or "." when the regexp is used

    def to_text(self) -> str:
        return (
            f"{self.order} {self.preference} {quote(self.flags)} {quote(self.service)} "
            f"{quote(self.regexp)} {self.replacement}"
        )

    def key(self) -> tuple:
        """Identity used for set comparison: flags and service are case-insensitive."""
        return (self.order, self.preference, self.flags.lower(), self.service.upper(),
                self.regexp, self.replacement)


class Srv(NamedTuple):
    """SRV rdata (RFC 2782). A target of "." means "service decidedly not available"."""

    priority: int
    weight: int
    port: int
    target: str

    def to_text(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"

    def key(self) -> tuple:
        return tuple(self)

    @property
    def unavailable(self) -> bool:
        return self.target == "."


class Address(str):
    """An A or AAAA address in canonical text form (``ipaddress`` normalised)."""

    def to_text(self) -> str:
        return str(self)

    def key(self) -> str:
        return str(self)


Value = Naptr | Srv | Address


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record: owner name, TTL, type and a typed value."""

    name: str
    ttl: int
    type: str
    value: Value

    def to_text(self) -> str:
        return f"{self.name} {self.ttl} IN {self.type} {self.value.to_text()}"

    def key(self) -> tuple:
        """(owner, TTL, type, rdata) with NAPTR flags folded: the contract's set identity."""
        return (self.name, self.ttl, self.type, self.value.key())

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.to_text()


def quote(text: str) -> str:
    """A <character-string> in presentation form: quotes and backslashes escaped (RFC 1035 §5.1)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def fqdn(name: str) -> str:
    """A description name (no trailing dot) as an absolute record name."""
    if name == "." or name.endswith("."):
        return name.lower()
    return name.lower() + "."


def rrsets(records: Iterable[Record]) -> dict[tuple[str, str], list[Record]]:
    """Group records by (owner, type), each group sorted for stable output."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for rec in records:
        groups.setdefault((rec.name, rec.type), []).append(rec)
    for group in groups.values():
        group.sort(key=sort_key)
    return groups


TYPE_ORDER = {"SOA": 0, "NS": 1, "NAPTR": 2, "SRV": 3, "A": 4, "AAAA": 5}


def sort_key(rec: Record) -> tuple:
    """Zone-file order: by name in DNS canonical order, then type, then value."""
    labels = tuple(reversed(rec.name.rstrip(".").split(".")))
    return (labels, TYPE_ORDER.get(rec.type, 9), rec.type, rec.value.key())


def sorted_records(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=sort_key)


def keys(records: Iterable[Record]) -> set[tuple]:
    """The set identity of a record collection (see ``Record.key``)."""
    return {rec.key() for rec in records}


# --- conversion from dnspython (the edges: golden files, live answers) -----------------------

def from_rdata(name: str, ttl: int, rdata: dns.rdata.Rdata) -> Record | None:
    """A dnspython rdata as a Record; None for types zonesync does not model."""
    rtype = dns.rdatatype.to_text(rdata.rdtype)
    if rtype == "NAPTR":
        value: Value = Naptr(
            rdata.order, rdata.preference, rdata.flags.decode("latin-1"),
            rdata.service.decode("latin-1"), rdata.regexp.decode("latin-1"),
            _absolute(rdata.replacement),
        )
    elif rtype == "SRV":
        value = Srv(rdata.priority, rdata.weight, rdata.port, _absolute(rdata.target))
    elif rtype in ("A", "AAAA"):
        value = Address(rdata.address)
    else:
        return None
    return Record(name.lower(), ttl, rtype, value)


def _absolute(name: dns.name.Name) -> str:
    return name.derelativize(dns.name.root).to_text().lower()


def from_rrset(rrset: dns.rrset.RRset) -> list[Record]:
    name = rrset.name.to_text().lower()
    out = []
    for rdata in rrset:
        rec = from_rdata(name, rrset.ttl, rdata)
        if rec is not None:
            out.append(rec)
    return out


def parse_record(line: str) -> Record:
    """One presentation-format line ``owner TTL IN TYPE rdata`` (absolute owner) as a Record."""
    owner, ttl, klass, rtype, rest = line.split(None, 4)
    if klass.upper() != "IN":
        raise ValueError(f"only class IN is supported: {line!r}")
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), rest,
                                origin=dns.name.root, relativize=False)
    rec = from_rdata(owner, int(ttl), rdata)
    if rec is None:
        raise ValueError(f"unsupported record type {rtype}: {line!r}")
    return rec


def parse_records(text: str) -> list[Record]:
    """A ``.records`` file: one record a line; blank lines and ';' comments ignored."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(";"):
            out.append(parse_record(line))
    return out
