"""A minimal DNS wire layer for verification's fast path (RFC 1035 §4).

Only what the common answer needs, in plain ``struct`` code: query messages built once per
question (the id is patched in at send time), the header and question of a response, and the
answer section's (owner, type, class, TTL, raw rdata) when every owner is the question name.
Everything else — truncation, CNAME chains, referrals, odd rcodes, compressed or differently
cased rdata names — is left to dnspython's full parse by the caller (``dnssource``).

``rdata_wire`` gives the uncompressed wire form of a ``Record``'s rdata, so that a live RRset
can be compared with the expected one byte for byte; a mismatch only means "parse it fully",
never "different".
"""

from __future__ import annotations

import socket
import struct

from .records import Naptr, Record, Srv

TYPE_CODES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
              "AAAA": 28, "SRV": 33, "NAPTR": 35, "DNAME": 39, "OPT": 41, "ANY": 255}
CLASS_IN = 1
FLAG_QR, FLAG_AA, FLAG_TC, FLAG_RD = 0x8000, 0x0400, 0x0200, 0x0100
RCODE_NOERROR, RCODE_NXDOMAIN = 0, 3

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

_name_cache: dict[str, bytes | None] = {}


def type_code(rtype: str) -> int | None:
    code = TYPE_CODES.get(rtype.upper())
    if code is None:
        import dns.rdatatype
        try:
            code = int(dns.rdatatype.from_text(rtype))
        except Exception:  # noqa: BLE001 - unknown type: no fast path
            return None
    return code


def name_wire(name: str) -> bytes | None:
    """The uncompressed, lower-case wire form of an absolute name written in plain letters,
    digits, '-' and '_' (what zonesync's names are); None for anything needing presentation
    escapes (left to dnspython)."""
    found = _name_cache.get(name)
    if found is not None or name in _name_cache:
        return found
    wire: bytes | None
    if name == ".":
        wire = b"\x00"
    elif not name.endswith(".") or "\\" in name or ".." in name or not name.isascii():
        wire = None
    else:
        parts = []
        for label in name[:-1].lower().split("."):
            raw = label.encode("ascii")
            if not 0 < len(raw) < 64:
                parts = None
                break
            parts.append(bytes((len(raw),)) + raw)
        wire = None if parts is None or sum(map(len, parts)) > 254 else b"".join(parts) + b"\x00"
    if len(_name_cache) > 200_000:
        _name_cache.clear()
    _name_cache[name] = wire
    return wire


def _charstr(text: str) -> bytes | None:
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return bytes((len(raw),)) + raw if len(raw) < 256 else None


def rdata_wire(rec: Record) -> bytes | None:
    """The rdata of ``rec`` as a server sends it for zonesync's types (A, AAAA, SRV, NAPTR:
    names uncompressed, RFC 2782 / RFC 3403), or None when there is no simple form."""
    value = rec.value
    try:
        if rec.type == "A":
            return socket.inet_pton(socket.AF_INET, str(value))
        if rec.type == "AAAA":
            return socket.inet_pton(socket.AF_INET6, str(value))
    except (OSError, ValueError):
        return None
    if rec.type == "SRV" and isinstance(value, Srv):
        target = name_wire(value.target)
        if target is None:
            return None
        return struct.pack("!HHH", value.priority, value.weight, value.port) + target
    if rec.type == "NAPTR" and isinstance(value, Naptr):
        parts = [_charstr(value.flags), _charstr(value.service), _charstr(value.regexp),
                 name_wire(value.replacement)]
        if any(p is None for p in parts):
            return None
        return struct.pack("!HH", value.order, value.preference) + b"".join(parts)
    return None


def edns_opt(payload: int) -> bytes:
    """An OPT pseudo-RR (RFC 6891): root owner, the UDP payload size, no options."""
    return b"\x00" + _RR.pack(TYPE_CODES["OPT"], payload, 0, 0)


def question(name: str, rtype: str) -> bytes | None:
    """The question section for (``name``, ``rtype``, IN), or None if not simply encodable."""
    wire, code = name_wire(name), type_code(rtype)
    if wire is None or code is None:
        return None
    return wire + struct.pack("!HH", code, CLASS_IN)


def query_body(qsection: bytes, flags: int, payload: int) -> bytes:
    """A query message without its first two bytes (the id): header rest, question, OPT."""
    return _HEADER.pack(0, flags, 1, 0, 0, 1)[2:] + qsection + edns_opt(payload)


class Header:
    """The fixed header of a response, and where the answer section starts."""

    __slots__ = ("id", "flags", "qd", "an", "ns", "ar")

    def __init__(self, wire: bytes):
        self.id, self.flags, self.qd, self.an, self.ns, self.ar = _HEADER.unpack_from(wire)

    @property
    def rcode(self) -> int:
        return self.flags & 0x000F


def response_id(wire: bytes) -> int | None:
    return _U16.unpack_from(wire)[0] if len(wire) >= 12 else None


def question_matches(wire: bytes, qsection: bytes) -> bool:
    """Does the response echo our question (owner compared case-insensitively)?"""
    end = 12 + len(qsection)
    return len(wire) >= end and wire[4:6] == b"\x00\x01" and wire[12:end].lower() == qsection


def skip_name(wire: bytes, offset: int) -> int:
    """The offset just past the (possibly compressed) name at ``offset``."""
    while True:
        length = wire[offset]
        if length == 0:
            return offset + 1
        if length >= 0xC0:
            return offset + 2
        offset += 1 + length


def simple_answers(wire: bytes, qlen: int, an: int) -> list[tuple[int, int, int, bytes]] | None:
    """(type, class, ttl, rdata) of each answer RR when every owner is a pointer to the
    question name (offset 12, the common form); None otherwise (the caller parses fully)."""
    offset = 12 + qlen
    out = []
    for _ in range(an):
        if wire[offset] != 0xC0 or wire[offset + 1] != 12:
            return None
        rtype, rclass, ttl, rdlen = _RR.unpack_from(wire, offset + 2)
        start = offset + 12
        end = start + rdlen
        if end > len(wire):
            return None
        out.append((rtype, rclass, ttl, wire[start:end]))
        offset = end
    return out


def soa_serial(wire: bytes, qlen: int, an: int) -> int | None:
    """The serial of a SOA answer whose owner is the question name (pointer form), else None."""
    if an < 1:
        return None
    offset = 12 + qlen
    if wire[offset] != 0xC0 or wire[offset + 1] != 12:
        return None
    rtype, rclass, _ttl, _rdlen = _RR.unpack_from(wire, offset + 2)
    if rtype != TYPE_CODES["SOA"] or rclass != CLASS_IN:
        return None
    offset = skip_name(wire, skip_name(wire, offset + 12))  # MNAME, RNAME
    return _U32.unpack_from(wire, offset)[0]
