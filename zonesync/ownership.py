"""Ownership: which RRsets in a live zone belong to this zonesync installation (SPEC §6). Pure.

zonesync marks every RRset it manages with a TXT record beside it, as octoDNS's ownership
processor and external-dns's TXT registry do, but under its own prefix so that neither tool
mistakes the other's markers for its own:

    _zonesync.srv._sip._udp.example.com.  TXT  "heritage=zonesync,zonesync/owner=<owner id>"

The owner id (``ZONESYNC_OWNER``, default ``zonesync``) keeps two installations apart. An RRset
without a marker is the customer's; one with another owner's marker is that installation's.
Apex SOA/NS and DNSSEC records are never owned (SPEC O5).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

PREFIX = "_zonesync"
DEFAULT_OWNER = "zonesync"
OWNER_ENV = "ZONESYNC_OWNER"
NEVER_OWNED = frozenset({"SOA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "DS", "CDS",
                         "CDNSKEY"})
_VALUE = re.compile(r"^heritage=zonesync,zonesync/owner=([A-Za-z0-9._-]+)$")
_OWNER_ID = re.compile(r"^[A-Za-z0-9._-]{1,63}$")

Key = tuple[str, str]  # (absolute owner name, type)


def owner_id() -> str:
    """The configured owner id; a bad one is a user error, reported by the caller."""
    value = os.environ.get(OWNER_ENV, DEFAULT_OWNER)
    if not _OWNER_ID.match(value):
        raise ValueError(f"{OWNER_ENV}={value!r} is not a valid owner id: use 1-63 letters, "
                         "digits, '.', '_' or '-'")
    return value


def marker_value(owner: str) -> str:
    return f"heritage=zonesync,zonesync/owner={owner}"


def relative(name: str, zone: str) -> str:
    """``_sip._udp.example.com.`` in ``example.com.`` → ``_sip._udp``; the apex → ``''``."""
    if name == zone:
        return ""
    return name[: -len(zone) - 1]


def marker_name(key: Key, zone: str) -> str:
    """The absolute name of the TXT marker for RRset ``key`` in ``zone``."""
    name, rtype = key
    rel = relative(name, zone)
    return f"{PREFIX}.{rtype.lower()}.{rel}.{zone}" if rel else f"{PREFIX}.{rtype.lower()}.{zone}"


def marked_key(marker: str, zone: str) -> Key | None:
    """The RRset a marker name stands for, or None if ``marker`` is not a marker name."""
    rel = relative(marker, zone)
    parts = rel.split(".", 2)
    if len(parts) < 2 or parts[0] != PREFIX:
        return None
    name = f"{parts[2]}.{zone}" if len(parts) == 3 else zone
    return name, parts[1].upper()


def marker_owner(values) -> str | None:
    """The owner id a marker's TXT values name (None if they are not a zonesync marker)."""
    for value in values:
        match = _VALUE.match(str(value).strip('"'))
        if match:
            return match.group(1)
    return None


def may_own(key: Key, zone: str) -> bool:
    """SPEC O5: never the apex SOA/NS, never DNSSEC."""
    name, rtype = key
    return rtype not in NEVER_OWNED and not (rtype == "NS" and name == zone)


@dataclass
class Ownership:
    """Who owns what in one live zone."""

    owner: str
    owned: set[Key] = field(default_factory=set)             # our marker present
    foreign: dict[Key, str] = field(default_factory=dict)    # another installation's marker
    markers: set[Key] = field(default_factory=set)           # (marker name, TXT) of ours

    def is_marker(self, key: Key) -> bool:
        return key in self.markers


def classify(live: dict[Key, tuple[str, ...]], zone: str, owner: str) -> Ownership:
    """Read the markers of a live zone: ``live`` maps (name, type) to its rdata texts."""
    result = Ownership(owner)
    for key, values in live.items():
        if key[1] != "TXT":
            continue
        target = marked_key(key[0], zone)
        who = marker_owner(values) if target else None
        if target is None or who is None:
            continue
        if who == owner:
            result.owned.add(target)
            result.markers.add(key)
        else:
            result.foreign[target] = who
    # A marker whose RRset is gone still counts as ours: the plan deletes the stray marker.
    return result
