"""Plan: desired records for one zone vs the live zone on one provider → changes, as data.

zonesync owns only what it marked (``ownership``). To keep octoDNS from deleting everything
absent from the desired zone, the desired zone handed to ``provider.plan()`` is the *live*
zone with only zonesync's RRsets replaced: foreign records go in unchanged, so octoDNS sees
no difference for them. octoDNS still does what it is good at (provider quirks, diffing,
thresholds); every change it proposes is then checked against ownership once more, and one
that would touch a foreign RRset is dropped with a warning. Unmarked RRsets zonesync wants are
"adopt" items, applied only with adoption allowed (SPEC O3).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable, Literal

from octodns.provider.plan import Plan as OctoPlan
from octodns.record import Record as OctoRecord
from octodns.record.rr import Rrset
from octodns.zone import Zone

from . import ownership
from .ownership import Key, Ownership
from .providers.config import ProviderConfig, ProviderError, scrub
from .records import Record, rrsets

OctoRecord.enable_validators({"strict", "best-practice"})

Action = Literal["create", "update", "delete", "adopt", "conflict"]
CHANGING: tuple[Action, ...] = ("create", "update", "delete")


@dataclass(frozen=True)
class RRset:
    """One RRset as plans show it: rdata in presentation form, normalised by octoDNS."""

    name: str
    type: str
    ttl: int
    rdatas: tuple[str, ...]

    @property
    def key(self) -> Key:
        return (self.name, self.type)

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.rdatas)}

    @classmethod
    def from_json(cls, data: dict) -> "RRset":
        return cls(data["name"], data["type"], data["ttl"], tuple(data["values"]))

    def lines(self) -> list[str]:
        return [f"{self.name} {self.ttl} IN {self.type} {r}" for r in self.rdatas]


@dataclass(frozen=True)
class Change:
    action: Action
    old: RRset | None
    new: RRset | None
    marker: bool = False   # the change is to an ownership marker, not a SIP record
    note: str = ""

    @property
    def key(self) -> Key:
        return (self.new or self.old).key

    def to_json(self) -> dict:
        name, rtype = self.key
        return {"action": self.action, "name": name, "type": rtype, "marker": self.marker,
                "old": self.old.to_json() if self.old else None,
                "new": self.new.to_json() if self.new else None, "note": self.note or None}


@dataclass
class ZonePlan:
    """The plan for one zone on one provider."""

    zone: str
    provider: str
    exists: bool = True
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    checksum: str = ""
    octo: OctoPlan | None = field(default=None, repr=False)
    before: list[RRset] = field(default_factory=list, repr=False)  # owned RRsets, live

    @property
    def changing(self) -> list[Change]:
        return [c for c in self.changes if c.action in CHANGING]

    @property
    def pending_adoption(self) -> list[Change]:
        return [c for c in self.changes if c.action == "adopt"]

    def counts(self) -> dict[str, int]:
        out = {a: 0 for a in ("create", "update", "delete", "adopt", "conflict")}
        for change in self.changes:
            if not change.marker:
                out[change.action] += 1
        return out

    def to_json(self) -> dict:
        return {"zone": self.zone, "provider": self.provider, "exists": self.exists,
                "checksum": self.checksum, "error": self.error, "warnings": self.warnings,
                "counts": self.counts(), "changes": [c.to_json() for c in self.changes]}


# --- conversions -------------------------------------------------------------------------------

def _octo_parsed(zone: Zone, rrset: RRset) -> OctoRecord:
    return OctoRecord.from_rrset(zone, Rrset(rrset.name, rrset.type, rrset.ttl, list(rrset.rdatas)))


def _octo_record(zone: Zone, rrset: RRset) -> OctoRecord:
    data = _octo_data(rrset)
    if data is None:
        return _octo_parsed(zone, rrset)
    name = ownership.relative(rrset.name, zone.name)
    return OctoRecord.new(zone, name, data, lenient=False)


def _octo_data(rrset: RRset) -> dict | None:
    """octoDNS's data for an RRset of a type zonesync compiles, read from the presentation form
    without dnspython's tokenizer (half of building the record); None: let octoDNS parse it."""
    values: list = []
    for text in rrset.rdatas:
        if "\\" in text:
            return None
        if rrset.type in ("A", "AAAA"):
            values.append(text)
        elif rrset.type == "SRV":
            priority, weight, port, target = text.split()
            values.append({"priority": int(priority), "weight": int(weight), "port": int(port),
                           "target": target})
        elif rrset.type == "NAPTR":
            head, flags, _, service, _, regexp, replacement = text.split('"')
            order, preference = head.split()
            values.append({"order": int(order), "preference": int(preference), "flags": flags,
                           "service": service, "regexp": regexp,
                           "replacement": replacement.strip()})
        elif rrset.type == "TXT" and text.count('"') == 2 and text[0] == text[-1] == '"' \
                and ";" not in text:
            values.append(text[1:-1])
        else:
            return None
    return {"type": rrset.type, "ttl": rrset.ttl, "values": values}


def _rrset_of(record: OctoRecord) -> RRset:
    rr = record.to_rrset()
    return RRset(rr.name.lower(), rr._type, rr.ttl, tuple(sorted(rr.rdatas)))


def desired_rrsets(records: Iterable[Record], zone: str, owner: str) -> dict[Key, RRset]:
    """Compiled records → RRsets in the form octoDNS reads them back, plus a marker for each
    (SPEC O2). The normal form is computed here, not by building octoDNS records (a third of a
    plan's time when it was): `tests/test_properties.py` checks it equals octoDNS's for every
    compiled record. Values outside the fast path's reach go through octoDNS."""
    out: dict[Key, RRset] = {}
    for (name, rtype), group in rrsets(records).items():
        out[(name, rtype)] = RRset(name, rtype, group[0].ttl,
                                   tuple(sorted(_normal_text(rtype, r.value) for r in group)))
    marker = _marker_rdatas(zone, owner)
    for key in list(out):
        out[(ownership.marker_name(key, zone), "TXT")] = RRset(
            ownership.marker_name(key, zone), "TXT", 300, marker)
    return out


def octo_rrsets(records: Iterable[Record], zone: str, owner: str) -> dict[Key, RRset]:
    """``desired_rrsets`` the slow way, through octoDNS records (the reference it must match)."""
    scratch = Zone(zone, [])
    out: dict[Key, RRset] = {}
    for (name, rtype), group in rrsets(records).items():
        rrset = RRset(name, rtype, group[0].ttl, tuple(r.value.to_text() for r in group))
        out[rrset.key] = _rrset_of(_octo_parsed(scratch, rrset))
    for key in list(out):
        marker = RRset(ownership.marker_name(key, zone), "TXT", 300,
                       (f'"{ownership.marker_value(owner)}"',))
        out[marker.key] = _rrset_of(_octo_parsed(scratch, marker))
    return out


def _normal_text(rtype: str, value) -> str:
    """octoDNS's presentation of one compiled value: NAPTR flags upper-case (octoDNS's
    normalisation), everything else as compiled. Escaped strings take octoDNS's own path."""
    if rtype == "NAPTR":
        if any(c in field for field in value[2:5] for c in '\\"'):
            return _octo_text(rtype, value.to_text())
        return value._replace(flags=value.flags.upper()).to_text()
    return value.to_text()


@functools.lru_cache(maxsize=64)
def _marker_rdatas(zone: str, owner: str) -> tuple[str, ...]:
    scratch = Zone(zone, [])
    marker = RRset(f"_zonesync.{zone}", "TXT", 300, (f'"{ownership.marker_value(owner)}"',))
    return _rrset_of(_octo_record(scratch, marker)).rdatas


def _octo_text(rtype: str, text: str) -> str:
    scratch = Zone("invalid.", [])
    return _rrset_of(_octo_record(scratch, RRset("x.invalid.", rtype, 300, (text,)))).rdatas[0]


# --- planning ------------------------------------------------------------------------------------

def plan_zone(zone: str, records: Iterable[Record], provider: ProviderConfig, *, owner: str,
              adopt: bool = False) -> ZonePlan:
    """Plan one zone on one provider. Errors (unreachable provider, missing zone) are values."""
    zone = zone.rstrip(".") + "."
    result = ZonePlan(zone, provider.name)
    try:
        instance = provider.instance()
        live_zone = Zone(zone, [])
        result.exists = bool(instance.populate(live_zone, target=True, lenient=True))
    except ProviderError as exc:
        result.error = str(exc)
        return result
    except Exception as exc:  # noqa: BLE001 - a provider's failure, reported with its cause
        result.error = scrub(f"{provider.name}: reading zone {zone} failed: "
                             f"{type(exc).__name__}: {exc}")
        return result
    live = {(r.fqdn.lower(), r._type): r for r in live_zone.records}
    live_sets = {key: _rrset_of(r) for key, r in live.items()}
    owned = ownership.classify({k: v.rdatas for k, v in live_sets.items()}, zone, owner)
    wanted = desired_rrsets(records, zone, owner)
    if not result.exists and not provider.create_zones and wanted:
        result.error = (f"zone {zone} does not exist on provider {provider.name}; nothing was "
                        f"planned there. Create it, or set `create_zones: true` in {provider.file}")
        return result
    decisions = _decide(zone, wanted, live_sets, owned, adopt)
    result.changes = [c for c in decisions if c.action in ("adopt", "conflict")]
    result.before = [live_sets[k] for k in sorted(owned.owned | owned.markers) if k in live_sets]
    managed = _managed_keys(zone, wanted, owned, decisions)
    if any(wanted.get(key) != live_sets.get(key) for key in managed):
        try:
            desired_zone = _desired_zone(zone, live, wanted, managed)
        except Exception as exc:  # noqa: BLE001 - octoDNS's validators rejecting a compiled record
            result.error = f"zone {zone}: octoDNS rejects the compiled records: {exc}"
            return result
        _plan_with_octodns(result, instance, desired_zone, live_zone, managed)
    # else every RRset zonesync manages is live as wanted: octoDNS would plan nothing for them
    # (and a change it proposed elsewhere would be dropped), so it is not asked.
    result.checksum = _checksum(zone, wanted, live_sets, managed)
    return result


def _decide(zone: str, wanted: dict[Key, RRset], live: dict[Key, RRset], owned: Ownership,
            adopt: bool) -> list[Change]:
    """Per wanted RRset: ours to write, or someone else's (adopt / conflict)."""
    out = []
    for key, rrset in wanted.items():
        is_marker = ownership.marked_key(key[0], zone) is not None
        if is_marker or key not in live or key in owned.owned:
            continue
        if not ownership.may_own(key, zone):
            out.append(Change("conflict", live[key], rrset, note="zonesync never manages this type"))
        elif key in owned.foreign:
            out.append(Change("conflict", live[key], rrset,
                              note=f"owned by another installation ({owned.foreign[key]})"))
        elif not adopt:
            out.append(Change("adopt", live[key], rrset,
                              note="exists without a zonesync marker; apply with --adopt "
                                   "(or `adopt: true`) to take it over"))
    return out


def _managed_keys(zone: str, wanted: dict[Key, RRset], owned: Ownership,
                  decisions: list[Change]) -> set[Key]:
    """RRsets this plan may touch: wanted ones not left to others, and owned ones (incl. markers)."""
    blocked = {c.key for c in decisions}
    blocked |= {(ownership.marker_name(k, zone), "TXT") for k in blocked}
    return (set(wanted) - blocked) | owned.owned | owned.markers


def _desired_zone(zone: str, live: dict[Key, OctoRecord], wanted: dict[Key, RRset],
                  managed: set[Key]) -> Zone:
    """The live zone with only managed RRsets replaced by what is wanted (or removed)."""
    desired = Zone(zone, [])
    for key, record in live.items():
        if key not in managed:
            desired.add_record(record.copy(zone=desired), lenient=True)
    for key in managed & set(wanted):
        desired.add_record(_octo_record(desired, wanted[key]), replace=True, lenient=True)
    return desired


def _plan_with_octodns(result: ZonePlan, instance, desired: Zone, live_zone: Zone,
                       managed: set[Key]) -> None:
    try:
        with _reuse_populate(instance, live_zone, result.exists):
            octo = instance.plan(desired)
    except Exception as exc:  # noqa: BLE001
        result.error = scrub(f"{result.provider}: planning zone {result.zone} failed: "
                             f"{type(exc).__name__}: {exc}")
        return
    if octo is None:
        return
    kept = []
    for change in octo.changes:
        key = (change.record.fqdn.lower(), change.record._type)
        if key not in managed:
            result.warnings.append(f"{result.provider} proposed a change to {key[0]} {key[1]}, "
                                   "which zonesync does not own: left alone")
            continue
        kept.append(change)
        result.changes.append(_change_of(change, result.zone))
    if kept:
        result.octo = OctoPlan(octo.existing, octo.desired, kept, octo.exists,
                               octo.update_pcent_threshold, octo.delete_pcent_threshold,
                               meta=octo.meta)


@contextlib.contextmanager
def _reuse_populate(instance, live_zone: Zone, exists: bool):
    """Let ``provider.plan()`` take the zone just read instead of reading it a second time:
    its populate is served from ``live_zone`` for the duration (the provider's own populate
    already ran once on this instance, so its side effects are in place)."""

    def populate(zone, target=False, lenient=False):
        for record in live_zone.records:
            zone.add_record(record.copy(zone=zone), replace=True, lenient=True)
        return exists

    instance.populate = populate
    try:
        yield
    finally:
        del instance.populate     # the class's method again


def _change_of(change, zone: str) -> Change:
    kind = type(change).__name__.lower()
    old = _rrset_of(change.existing) if getattr(change, "existing", None) else None
    new = _rrset_of(change.new) if getattr(change, "new", None) else None
    key = (new or old).key
    return Change(kind, old, new, marker=ownership.marked_key(key[0], zone) is not None)


def _checksum(zone: str, wanted: dict[Key, RRset], live: dict[Key, RRset], managed: set[Key]) -> str:
    """Over the desired and the live managed RRsets: a saved plan is stale when either moved."""
    body = {"zone": zone,
            "desired": [wanted[k].to_json() for k in sorted(wanted)],
            "live": [live[k].to_json() for k in sorted(managed) if k in live]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# --- whole runs --------------------------------------------------------------------------------

@dataclass
class Plan:
    """A run's plan: one ZonePlan per (zone, provider)."""

    zones: list[ZonePlan]
    owner: str
    adopt: bool = False

    @property
    def checksum(self) -> str:
        parts = sorted(f"{z.zone}|{z.provider}|{z.checksum}" for z in self.zones)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    @property
    def has_changes(self) -> bool:
        return any(z.changing for z in self.zones)

    @property
    def errors(self) -> list[str]:
        return [z.error for z in self.zones if z.error]

    def to_json(self) -> dict:
        return {"version": 1, "owner": self.owner, "adopt": self.adopt, "checksum": self.checksum,
                "zones": [z.to_json() for z in self.zones]}
