"""Where DNS answers come from: an in-memory record set, or live servers via dnspython.

The RFC 3263 resolver (``resolve``) asks a ``DnsSource`` and nothing else, so the same resolver
runs against compiled records (pure, property-testable) and against authoritative servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal, Protocol

from .records import Record

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
