"""Description → records (SPEC §2). Pure: values in, values out, no I/O.

Each `sip` entry gives one NAPTR at the domain (flag "s", empty regexp, replacement = the SRV
owner, RFC 3403 §4.1) and one SRV RRset at its owner; `hosts` give A/AAAA; `disabled`
transports give the RFC 2782 "decidedly not available" record ``SRV 0 0 0 .``. Every RRset
carries the file's one TTL (RFC 2181 §5.2). Call ``compile_description`` only on a description
that lint passed: conflicting entries are lint errors, not compiler decisions.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Iterable

from .model import Description, Entry, EntryTarget, _fast_init
from .records import Address, Naptr, Record, Srv, fqdn, sort_key


def naptr_for(desc: Description, entry: Entry) -> Record:
    """SPEC C2: ``domain NAPTR order preference "s" SERVICE "" owner.``"""
    return Record(fqdn(desc.domain), desc.ttl, "NAPTR",
                  Naptr(entry.order, entry.preference, "s", entry.service, "", fqdn(entry.owner)))


def srv_for(desc: Description, entry: Entry, target: EntryTarget) -> Record:
    """SPEC C3: ``owner SRV priority weight port target.``"""
    return Record(fqdn(entry.owner), desc.ttl, "SRV",
                  Srv(target.priority, target.weight, target.port, fqdn(target.host)))


def unavailable_srv(desc: Description, owner: str) -> Record:
    """RFC 2782: ``owner SRV 0 0 0 .`` — the service is decidedly not available there."""
    return Record(fqdn(owner), desc.ttl, "SRV", Srv(0, 0, 0, "."))


def entry_record(desc: Description, entry: Entry) -> Record:
    """The record a reader knows an entry by: its NAPTR, or its first SRV when NAPTR is off."""
    if desc.naptr:
        return naptr_for(desc, entry)
    return srv_for(desc, entry, entry.targets[0])


_record = _fast_init(Record)   # Record(...) without the frozen dataclass's __init__


class _Names(dict):
    """name → fqdn(name), each absolute name made once per description and shared by every
    record that holds it (a host is an SRV target and an A/AAAA owner several times over)."""

    def __missing__(self, name: str) -> str:
        self[name] = absolute = fqdn(name)
        return absolute


def naptr_records(desc: Description, entries: list[Entry] | None = None,
                  names: _Names | None = None) -> list[Record]:
    if not desc.naptr:
        return []
    if entries is None:
        entries = desc.entries()
    names = _Names() if names is None else names
    domain, ttl = names[desc.domain], desc.ttl
    # naptr_for, with each absolute name made once
    return [_record(domain, ttl, "NAPTR", Naptr(e.order, e.preference, "s", e.service, "",
                                               names[e.owner]))
            for e in entries if e.owner]


def srv_records(desc: Description, entries: list[Entry] | None = None,
                names: _Names | None = None) -> list[Record]:
    out = []
    ttl = desc.ttl
    names = _Names() if names is None else names
    for entry in desc.entries() if entries is None else entries:
        if entry.owner:
            # srv_for, with each absolute name made once
            owner = names[entry.owner]
            out += [_record(owner, ttl, "SRV", Srv(t.priority, t.weight, t.port, names[t.host]))
                    for t in entry.targets]
    for _transport, owner in desc.disabled_owners():
        out.append(unavailable_srv(desc, owner))
    return out


@functools.lru_cache(maxsize=1 << 12)
def _address_type(text: str) -> str:
    return "A" if ipaddress.ip_address(text).version == 4 else "AAAA"


def address_records(desc: Description, names: _Names | None = None) -> list[Record]:
    out = []
    ttl = desc.ttl
    names = _Names() if names is None else names
    for host, addresses in desc.hosts.items():
        name = names[host]
        for text in addresses:
            out.append(_record(name, ttl, _address_type(text), Address(text)))
    return out


def compile_description(desc: Description) -> frozenset[Record]:
    """The exact record set one description publishes (SPEC C1–C4)."""
    entries, names = desc.entries(keep=False), _Names()
    return frozenset(naptr_records(desc, entries, names) + srv_records(desc, entries, names)
                     + address_records(desc, names))


def compile_zone(descriptions: Iterable[Description]) -> frozenset[Record]:
    """Everything a zone must hold from all descriptions in it (SPEC O1): their union."""
    descriptions = list(descriptions)
    if len(descriptions) == 1:
        return compile_description(descriptions[0])
    out: set[Record] = set()
    for desc in descriptions:
        out |= compile_description(desc)
    return frozenset(out)


def to_zone_text(records: Iterable[Record]) -> str:
    """RFC 1035 presentation, one record a line, in zone order (absolute names throughout)."""
    return "".join(rec.to_text() + "\n" for rec in sorted(records, key=sort_key))


def to_json(records: Iterable[Record]) -> list[dict]:
    """Records as JSON objects: name, ttl, type, the rdata text and its fields."""
    out = []
    for rec in sorted(records, key=sort_key):
        value = rec.value
        fields = value._asdict() if hasattr(value, "_asdict") else {"address": str(value)}
        out.append({"name": rec.name, "ttl": rec.ttl, "type": rec.type,
                    "rdata": value.to_text(), **{"value": fields}})
    return out
