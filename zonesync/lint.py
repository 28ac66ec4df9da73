"""Lint (SPEC §3): the rules a valid schema cannot express, as Findings. Pure.

``lint_description`` checks one description; ``lint_estate`` checks what only shows across
files (two files for one domain, one host with two addresses, one SRV owner with two target
sets). Schema-level rules (ranges, names, IP targets) are raised by ``model`` with the same ids.
Each finding carries the field path; ``estate`` turns paths into file lines.
"""

from __future__ import annotations

from typing import Collection, Iterable, NamedTuple

from . import findings as F
from .compile import entry_record, naptr_for, srv_for, unavailable_srv
from .findings import Finding
from .model import TRANSPORTS, Description, Entry
from .names import is_within
from .records import fqdn

SIP_BASELINE = ("SIP+D2U", "SIP+D2T", "SIPS+D2T")
MAX_TARGETS = 8
_PROTO_OF = {info.owner: t for t, info in TRANSPORTS.items()}


def lint_description(desc: Description, known_hosts: Collection[str] = frozenset()) -> list[Finding]:
    """Every finding about one description. ``known_hosts``: names whose address zonesync
    knows from other descriptions (a set: it is only asked, never copied, so that checking an
    estate stays linear in its size)."""
    entries = desc.entries()
    known = _Known(desc.hosts, known_hosts)
    out = _zone_rules(desc, entries)
    for entry in entries:
        out += _entry_rules(desc, entry, known)
    out += _owner_conflicts(desc, entries)
    if desc.naptr and entries:
        out += _naptr_rules(desc, entries)
    return out


# --- zone membership ----------------------------------------------------------------------------

def _zone_rules(desc: Description, entries: list[Entry]) -> list[Finding]:
    zone, out = desc.zone_name, []
    if not is_within(desc.domain, zone):
        out.append(F.make("domain-outside-zone", f"{desc.domain} is not inside zone {zone}",
                          path="domain"))
    for host in desc.hosts:
        if not is_within(host, zone):
            out.append(F.make("host-outside-zone", f"{host} is not inside zone {zone}",
                              path=f"hosts[{host!r}]"))
    for entry in entries:
        if entry.owner is None:
            out.append(F.make("name-invalid", entry.owner_problem or "invalid SRV owner",
                              path=f"{entry.path}.srv"))
        elif not is_within(entry.owner, zone):
            out.append(F.make("srv-owner-outside-zone", f"{entry.owner} is not inside zone {zone}",
                              path=f"{entry.path}.srv", record=entry_record(desc, entry).to_text()))
    return out


# --- one entry: its owner and its targets ---------------------------------------------------------

class _Known:
    """Membership in this description's hosts or the estate's, without building their union."""

    def __init__(self, own, others: Collection[str]):
        self.own, self.others = own, others

    def __contains__(self, name: str) -> bool:
        return name in self.own or name in self.others


def _entry_rules(desc: Description, entry: Entry, known: _Known) -> list[Finding]:
    if entry.owner is None:
        return []
    return (_owner_rules(desc, entry) + _target_rules(desc, entry, known)
            + _websocket_rule(desc, entry))


def _owner_rules(desc: Description, entry: Entry) -> list[Finding]:
    labels = entry.owner.split(".", 2)
    prefix = ".".join(labels[:2])
    expected = TRANSPORTS[entry.transport].owner
    written = desc.sip[entry.index].srv
    doubled = (written and not written.endswith(".")
               and entry.owner.endswith(f".{desc.domain}.{desc.domain}"))
    if prefix == expected and not doubled and entry.default_owner:
        return []   # the common case: nothing to say, so no record text to build
    path, out = f"{entry.path}.srv", []
    record = entry_record(desc, entry).to_text()
    if prefix == "_sips._udp":
        out.append(F.make("sips-over-udp", f"SRV owner {entry.owner} offers SIPS over UDP",
                          path=path, record=record))
    elif prefix != expected:
        implied = _PROTO_OF.get(prefix)
        why = (f"it names transport {implied}" if implied
               else "it does not start with the _service._proto labels RFC 2782 requires")
        out.append(F.make("srv-owner-transport-mismatch",
                          f"SRV owner {entry.owner} does not fit transport {entry.transport} "
                          f"(expected {expected}.…): {why}", path=path, record=record))
    if doubled:
        out.append(F.make("srv-owner-doubled", f"`{written}` is relative, so the owner is "
                          f"{entry.owner}", path=path, record=record,
                          fix=f"write `{written[: -len(desc.domain) - 1]}` or `{written}.`"))
    if not entry.default_owner:
        if desc.naptr:
            out.append(F.make("srv-naptr-only", f"{entry.owner} is not the default owner for "
                              f"{entry.transport} ({expected}.{desc.domain}): only NAPTR-following "
                              "clients reach it", path=path, record=record))
        else:
            out.append(F.make("srv-unreachable", f"{entry.owner} is not the default owner for "
                              f"{entry.transport} and NAPTR is off: no client looks there",
                              path=path, record=record))
    return out


def _target_rules(desc: Description, entry: Entry, known: _Known) -> list[Finding]:
    out: list[Finding] = []
    dots = [t for t in entry.targets if t.host == "."]
    real = [(i, t) for i, t in enumerate(entry.targets) if t.host != "."]
    path = f"{entry.path}.targets"
    if dots and real:
        out.append(F.make("srv-dot-target-mixed", f"{entry.owner} lists '.' together with "
                          f"{len(real)} real target(s)", path=path,
                          record=srv_for(desc, entry, dots[0]).to_text()))
    elif dots and desc.naptr:
        out.append(F.make("naptr-to-disabled", f"the NAPTR for {entry.transport} points at "
                          f"{entry.owner}, which says the service is not available",
                          path=path, record=naptr_for(desc, entry).to_text()))
    if len(entry.targets) > MAX_TARGETS:
        out.append(F.make("srv-too-many-targets", f"{entry.owner} has {len(entry.targets)} targets",
                          path=path, record=entry_record(desc, entry).to_text()))
    seen: dict[tuple[int, int], int] = {}
    secure = entry.owner.startswith("_sips.")
    zone = desc.zone_name
    for i, target in real:
        port, pw = target.port, (target.priority, target.weight)
        if (port != 0 and port != (5060 if secure else 5061) and pw not in seen
                and (is_within(target.host, zone) or target.host in known)):
            seen[pw] = i
            continue   # the common case: nothing to say, so no record text to build
        tpath, record = f"{path}[{i}]", srv_for(desc, entry, target).to_text()
        if port == 0:
            out.append(F.make("srv-port-zero", f"target {target.host} has port 0",
                              path=f"{tpath}.port", record=record))
        if (secure and port == 5060) or (not secure and port == 5061):
            out.append(F.make("srv-port-swapped", f"port {port} on "
                              f"{'a SIPS' if secure else 'a SIP'} owner ({entry.owner})",
                              path=f"{tpath}.port", record=record))
        if pw in seen:
            out.append(F.make("srv-equal-priority-weight", f"targets {seen[pw]} and {i} of "
                              f"{entry.owner} share priority {pw[0]} and weight {pw[1]}: the order "
                              "between them is random, which stateless proxies cannot repeat",
                              path=tpath, record=record))
        seen.setdefault(pw, i)
        if not is_within(target.host, zone) and target.host not in known:
            out.append(F.make("srv-target-no-address", f"{target.host} is outside zone "
                              f"{zone} and no description gives its address",
                              path=f"{tpath}.host", record=record))
    return out


def _websocket_rule(desc: Description, entry: Entry) -> list[Finding]:
    if entry.transport not in ("ws", "wss"):
        return []
    return [F.make("srv-websocket", f"{entry.transport} published at {entry.owner}",
                   path=f"{entry.path}.transport", record=entry_record(desc, entry).to_text())]


def _owner_conflicts(desc: Description, entries: list[Entry]) -> list[Finding]:
    """SPEC C3: entries naming the same owner must agree; `disabled` may not collide with them."""
    out: list[Finding] = []
    first: dict[str, Entry] = {}
    naptrs: dict[tuple, Entry] = {}
    for entry in entries:
        if entry.owner is None:
            continue
        prior = first.setdefault(entry.owner, entry)
        if prior is not entry and set(prior.targets) != set(entry.targets):
            odd = [t for t in entry.targets if t not in prior.targets] or list(entry.targets)
            out.append(F.make("srv-owner-conflict", f"{entry.owner} is given different targets in "
                              f"{prior.path} and {entry.path}", path=f"{entry.path}.targets",
                              record=srv_for(desc, entry, odd[0]).to_text()))
        key = (entry.order, entry.preference, entry.service, entry.owner)
        if desc.naptr and naptrs.setdefault(key, entry) is not entry:
            out.append(F.make("naptr-duplicate", f"{entry.path} repeats {naptrs[key].path}",
                              path=entry.path, record=naptr_for(desc, entry).to_text()))
    for i, (transport, owner) in enumerate(desc.disabled_owners()):
        if owner in first:
            out.append(F.make("srv-owner-conflict", f"{transport} is disabled, but "
                              f"{first[owner].path} publishes targets at {owner}",
                              path=f"disabled[{desc.disabled.index(transport)}]",
                              record=unavailable_srv(desc, owner).to_text()))
    return out


# --- NAPTR set as a whole -------------------------------------------------------------------------

def _naptr_rules(desc: Description, entries: list[Entry]) -> list[Finding]:
    out: list[Finding] = []
    # One pass over the entries: their services, the best (lowest order, first) secure and
    # plain entries, and the entries sharing an (order, preference) rank.
    services = set()
    best_secure = best_plain = None
    by_rank: dict[tuple[int, int], list[Entry]] = {}
    for entry in entries:
        services.add(entry.service)
        if TRANSPORTS[entry.transport].secure:
            if best_secure is None or entry.order < best_secure.order:
                best_secure = entry
        elif best_plain is None or entry.order < best_plain.order:
            best_plain = entry
        rank = (entry.order, entry.preference)
        group = by_rank.get(rank)
        if group is None:
            by_rank[rank] = [entry]
        else:
            group.append(entry)
    # A transport listed under `disabled:` is absent on purpose: no warning for it.
    services.update(TRANSPORTS[t].service for t in desc.disabled)
    missing = [s for s in SIP_BASELINE if s not in services]
    if missing:
        out.append(F.make("naptr-missing-service", f"NAPTR at {desc.domain} has no "
                          f"{', '.join(missing)}: clients that use those transports fall back "
                          "or fail", path="sip"))
    if best_secure is not None and best_plain is not None \
            and best_secure.order >= best_plain.order:
        out.append(F.make("sips-not-first", f"SIPS order {best_secure.order} "
                          f"({best_secure.transport}) is not lower than SIP order "
                          f"{best_plain.order} ({best_plain.transport})",
                          path=f"{best_secure.path}.order",
                          record=naptr_for(desc, best_secure).to_text()))
    if len(by_rank) == len(entries):
        return out   # every rank its own: no tie (the common case)
    for (order, pref), group in by_rank.items():
        transports = sorted({e.transport for e in group})
        if len(transports) > 1:
            later = group[-1]
            out.append(F.make("naptr-order-tie", f"{' and '.join(transports)} share order {order} "
                              f"and preference {pref}", path=f"{later.path}.order",
                              record=naptr_for(desc, later).to_text()))
    return out


# --- across files -------------------------------------------------------------------------------

def lint_estate(items: list[tuple[str, Description]]) -> list[tuple[str, Finding]]:
    """Findings that need every description: (file, finding) pairs, the file they belong to."""
    out: list[tuple[str, Finding]] = []
    out += _duplicate_domains(items)
    out += _host_conflicts(items)
    out += _shared_owner_conflicts(items)
    return out


def _duplicate_domains(items) -> list[tuple[str, Finding]]:
    first: dict[str, str] = {}
    out = []
    for file, desc in items:
        other = first.setdefault(desc.domain, file)
        if other != file:
            out.append((file, F.make("domain-duplicate", f"{desc.domain} is also described in "
                                     f"{other}", path="domain")))
    return out


def _host_conflicts(items) -> list[tuple[str, Finding]]:
    # host -> (file, addresses, TTL, their set once a second file names the host): most hosts
    # are named once, and then no set is ever made.
    first: dict[str, list] = {}
    out = []
    for file, desc in items:
        ttl = desc.ttl
        for host, addresses in desc.hosts.items():
            other = first.get(host)
            if other is None:
                first[host] = [file, addresses, ttl, None]
                continue
            if other[0] == file:
                continue
            if other[3] is None:
                other[3] = frozenset(other[1])
            mine = frozenset(addresses)
            if (other[3], other[2]) != (mine, ttl):
                out.append((file, F.make("host-conflict", f"{host} has addresses "
                                         f"{sorted(mine)} (TTL {ttl}) here but "
                                         f"{sorted(other[3])} (TTL {other[2]}) in {other[0]}",
                                         path=f"hosts[{host!r}]")))
    return out


def _shared_owner_conflicts(items) -> list[tuple[str, Finding]]:
    """C3/C4 across files: one owner in a zone is one RRset, whichever files publish it."""
    # owner -> [the first file's SRV set, its record keys once a second file publishes there]
    first: dict[str, list] = {}
    out: list[tuple[str, Finding]] = []
    for file, desc in items:
        for entry in desc.entries():
            if entry.owner is not None:
                _shared_owner(first, out, _SrvSet(file, desc, entry, None), entry.owner)
        for transport, owner in desc.disabled_owners():
            _shared_owner(first, out, _SrvSet(file, desc, None, transport), owner)
    return out


def _shared_owner(first: dict, out: list, mine: "_SrvSet", owner: str) -> None:
    prior = first.get(owner)
    if prior is None:
        first[owner] = [mine, None]
        return
    if prior[0].file == mine.file:
        return
    if prior[1] is None:
        prior[1] = frozenset(prior[0].keys())
    keys = frozenset(mine.keys())
    if prior[1] != keys:
        records = mine.records()
        odd = [r for r in records if r.key() not in prior[1]] or records
        out.append((mine.file, F.make("srv-owner-conflict", f"{owner} is also published "
                                      f"by {prior[0].file} with different targets or TTL",
                                      path=mine.path(), record=odd[0].to_text())))


class _SrvSet(NamedTuple):
    """One SRV RRset a description publishes: a `sip` entry's, or a `disabled` transport's
    (a '.' from one file and real targets from another would merge into one broken RRset)."""

    file: str
    desc: Description
    entry: Entry | None
    transport: str | None

    def records(self) -> list:
        if self.entry is not None:
            return [srv_for(self.desc, self.entry, t) for t in self.entry.targets]
        return [unavailable_srv(self.desc, self._disabled_owner())]

    def keys(self) -> list:
        """``Record.key()`` of each record, without building the records (see srv_for)."""
        if self.entry is None:
            return [r.key() for r in self.records()]
        name, ttl = fqdn(self.entry.owner), self.desc.ttl
        return [(name, ttl, "SRV", (t.priority, t.weight, t.port, fqdn(t.host)))
                for t in self.entry.targets]

    def path(self) -> str:
        if self.entry is not None:
            return f"{self.entry.path}.srv"
        return f"disabled[{self.desc.disabled.index(self.transport)}]"

    def _disabled_owner(self) -> str:
        return dict(self.desc.disabled_owners())[self.transport]


def known_hosts(descriptions: Iterable[Description]) -> set[str]:
    return {host for desc in descriptions for host in desc.hosts}
