"""The SIP domain description (``zones/<domain>.yaml``): schema, defaults, derived values.

The schema is strict: unknown keys, wrong types and out-of-range numbers are errors, because a
typo in a DNS description must never be silently ignored. Names are normalised here (SPEC §1);
cross-field and cross-file rules live in ``lint``. ``Description.entries()`` gives every ``sip``
entry with its defaults applied, the one view compile and lint both read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      PrivateAttr, model_validator)
from pydantic_core import PydanticCustomError

from . import names
from .transports import TRANSPORTS

Transport = Literal["udp", "tcp", "tls", "sctp", "tls-sctp", "ws", "wss"]


DEFAULT_TTL = 3600
DEFAULT_PRIORITY = 10
DEFAULT_WEIGHT = 50
DEFAULT_PREFERENCE = 50
MAX_TTL = 2**31 - 1  # RFC 2181 §8


# --- field types -------------------------------------------------------------------------------

class Range(NamedTuple):
    what: str
    low: int
    high: int


U16_RANGE = Range("the value", 0, 65535)
PORT_RANGE = Range("a port", 0, 65535)
TTL_RANGE = Range("a TTL", 0, MAX_TTL)
RANGES = {"port": PORT_RANGE, "ttl": TTL_RANGE}   # by field name; every other number is a U16


def range_problem(field: Any, value: Any) -> str:
    """The words for a number out of its range (pydantic checks the bounds, natively)."""
    what, low, high = RANGES.get(field, U16_RANGE)
    return f"{what} must be between {low} and {high}, not {value}"


def _range(bounds: Range):
    return Field(ge=bounds.low, le=bounds.high)


def _name_check(func):
    # A name's verdict depends on its text alone, and a description repeats its names (a host
    # is a key of `hosts` and the target of several SRV records): remembered, errors included.
    @functools.lru_cache(maxsize=1 << 12)
    def verdict(value: str) -> tuple[bool, Any]:
        try:
            return True, func(value)
        except names.NameProblem as exc:
            return False, (exc.rule, exc.message)

    def check(value: Any):
        ok, result = verdict(value) if type(value) is str else _verdict_uncached(func, value)
        if ok:
            return result
        raise PydanticCustomError(result[0], "{problem}", {"problem": result[1]})
    return AfterValidator(check)


def _verdict_uncached(func, value: Any) -> tuple[bool, Any]:
    try:
        return True, func(value)
    except names.NameProblem as exc:
        return False, (exc.rule, exc.message)


U16 = Annotated[int, _range(U16_RANGE)]
Port = Annotated[int, _range(PORT_RANGE)]
Ttl = Annotated[int, _range(TTL_RANGE)]
HostName = Annotated[str, _name_check(names.host_name)]
TargetName = Annotated[str, _name_check(names.target_name)]
OwnerName = Annotated[str, _name_check(lambda v: names.owner_text(v))]
AddressText = Annotated[str, _name_check(names.address)]
ProviderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def _one_or_many(value: Any) -> Any:
    """`host: 192.0.2.1` is accepted as shorthand for `host: [192.0.2.1]`."""
    return [value] if isinstance(value, str) else value


Addresses = Annotated[list[AddressText], BeforeValidator(_one_or_many), Field(min_length=1)]


def _distinct_hosts(value: Any) -> Any:
    """`SIP.acme.example` and `sip.acme.example.` are one name: as two `hosts` keys, one of them
    would vanish when the keys are normalised, taking its addresses with it without a word."""
    if not isinstance(value, dict):
        return value
    seen: dict[str, Any] = {}
    for written in value:
        try:
            name = names.host_name(written)
        except names.NameProblem:
            continue   # reported by the key's own validation
        if name in seen:
            raise PydanticCustomError(
                "yaml-duplicate-key", "`{first}` and `{second}` are the same name ({name})",
                {"first": seen[name], "second": written, "name": name, "key": str(written)})
        seen[name] = written
    return value


class _Memo:
    """A value derived from a frozen description, kept beside it: no part of the value itself
    (equal to every other _Memo, never pickled or copied) and keyed by the field it is derived
    from, so that a copy with that field changed never sees a stale one."""

    __slots__ = ("key", "value")

    def __init__(self) -> None:
        self.key: Any = None
        self.value: Any = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Memo)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return (_Memo, ())

    def __repr__(self) -> str:
        return "_Memo()"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Target(_Strict):
    host: TargetName
    port: Port | None = None
    priority: U16 = DEFAULT_PRIORITY
    weight: U16 = DEFAULT_WEIGHT


class SipEntry(_Strict):
    transport: Transport
    order: U16 | None = None
    preference: U16 = DEFAULT_PREFERENCE
    srv: OwnerName | None = None
    targets: Annotated[list[Target], Field(min_length=1)]


class Description(_Strict):
    domain: Annotated[str, _name_check(names.host_name)]
    zone: Annotated[str, _name_check(names.host_name)] | None = None
    ttl: Ttl = DEFAULT_TTL
    providers: list[ProviderName] | None = None
    naptr: bool = True
    adopt: bool = False
    hosts: Annotated[dict[HostName, Addresses], BeforeValidator(_distinct_hosts)] = Field(
        default_factory=dict)
    sip: list[SipEntry] = Field(default_factory=list)
    disabled: list[Transport] = Field(default_factory=list)
    _entries: _Memo = PrivateAttr(default_factory=_Memo)

    @model_validator(mode="after")
    def _something_to_publish(self) -> "Description":
        if not self.sip and not self.disabled:
            raise PydanticCustomError(
                "schema-missing", "a description needs at least one `sip` entry (or `disabled:` "
                "transports)", {"key": "sip"})
        share_fields_sets(self)
        return self

    @property
    def zone_name(self) -> str:
        return self.zone or self.domain

    def entries(self, *, keep: bool = True) -> list["Entry"]:
        """Every `sip` entry with defaults applied (SPEC §1).

        Remembered for the next call (lint asks several times); ``keep=False`` (the last
        reader, the compiler) takes what is remembered and leaves nothing behind: an estate
        of 100,000 descriptions would otherwise hold their entries for as long as it lives."""
        memo = self.__pydantic_private__["_entries"]   # not self._entries: pydantic's slow path
        key = memo.key
        if key is not None and key[0] is self.sip and key[1] == self.domain:
            value = memo.value
            if not keep:
                memo.key = memo.value = None
            return list(value)
        value = tuple([_resolve_entry(self, i, e) for i, e in enumerate(self.sip)])
        if keep:
            memo.key, memo.value = (self.sip, self.domain), value
        return list(value)

    def disabled_owners(self) -> list[tuple[str, str]]:
        """(transport, absolute owner) of every `disabled` transport."""
        return [(t, names.join(TRANSPORTS[t].owner, self.domain)) for t in dict.fromkeys(self.disabled)]


# Every model instance carries the set of field names given in the file (pydantic's
# ``model_fields_set``), a 216-byte set each: ten of them per description, over 2 KiB. The
# models are frozen, so pydantic never changes those sets (a copy gets its own): equal sets
# are shared instead, one per distinct set of names.
_FIELDS_SETS: dict[frozenset, set] = {}


def _shared_set(names: set) -> set:
    key = frozenset(names)
    shared = _FIELDS_SETS.get(key)
    if shared is None:
        if len(_FIELDS_SETS) >= 4096:   # a bound, for estates that use every combination
            return names
        shared = _FIELDS_SETS[key] = names
    return shared


def share_fields_sets(desc: "Description") -> None:
    """Give ``desc`` and its parts the shared fields sets (validation does; a description
    unpickled from another process has its own)."""
    setattr_ = object.__setattr__
    for model in (desc, *desc.sip, *(t for e in desc.sip for t in e.targets)):
        names = model.__pydantic_fields_set__
        shared = _shared_set(names)
        if shared is not names:
            setattr_(model, "__pydantic_fields_set__", shared)


# --- derived view ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EntryTarget:
    host: str          # canonical name, or "." for "not available"
    port: int
    priority: int
    weight: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A `sip` entry with its defaults applied: one NAPTR record and the SRV RRset it names."""

    index: int
    transport: str
    service: str
    order: int
    preference: int
    owner: str | None          # absolute SRV owner (no trailing dot); None if it cannot be formed
    owner_problem: str | None  # why the owner could not be formed
    default_owner: bool
    targets: tuple[EntryTarget, ...]

    @property
    def path(self) -> str:
        return f"sip[{self.index}]"


def _resolve_owner(desc: Description, entry: SipEntry) -> tuple[str | None, str | None, bool]:
    default = TRANSPORTS[entry.transport].owner
    written = entry.srv if entry.srv is not None else default
    try:
        owner = written[:-1] if written.endswith(".") else names.join(written, desc.domain)
    except names.NameProblem as exc:
        return None, exc.message, False
    return owner, None, owner == names.join(default, desc.domain)


def _fast_init(cls):
    """``cls(*values)`` for a frozen slots dataclass, without its __init__'s frame and its
    frozen-guarded setattr per field (the slots are set directly): the same object."""
    new, setters = object.__new__, [getattr(cls, f.name).__set__ for f in fields(cls)]
    pairs = list(enumerate(setters))

    def make(*values):
        obj = new(cls)
        for i, set_ in pairs:
            set_(obj, values[i])
        return obj
    if len(setters) == 4:   # EntryTarget: unrolled
        s0, s1, s2, s3 = setters

        def make(a, b, c, d):  # noqa: F811
            obj = new(cls)
            s0(obj, a), s1(obj, b), s2(obj, c), s3(obj, d)
            return obj
    return make


_entry_target = _fast_init(EntryTarget)
_entry = _fast_init(Entry)


def _resolve_entry(desc: Description, index: int, entry: SipEntry) -> Entry:
    info = TRANSPORTS[entry.transport]
    owner, problem, is_default = _resolve_owner(desc, entry)
    default_port, make = info.port, _entry_target
    targets = tuple([make(t.host, default_port if t.port is None else t.port, t.priority,
                          t.weight) for t in entry.targets])
    order = entry.order if entry.order is not None else 10 * (index + 1)
    return _entry(index, entry.transport, info.service, order, entry.preference, owner, problem,
                  is_default, targets)
