"""The main job: which zones go to which providers, then plan → apply → verify for each.

The CLI, the HTTP API and the job runner all call these functions. A target is one zone on
one provider with the records every description in that zone assigns to that provider
(SPEC O1, O6). Zones a provider held before but that no description names any more are
targets too, with nothing desired, so a deleted description's records are removed. A zone is
blocked, not planned, while a description that belongs (or may belong) to it has errors:
planning without it would delete its records.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import state as S
from .apply import ZoneApply, apply_zone
from .compile import compile_zone
from .estate import Estate
from .model import Description
from .names import is_within
from .parallel import map_batches, map_zones
from .plan import Plan, ZonePlan, plan_zone
from .providers.config import ProviderConfig, Providers
from .records import Record


@dataclass
class Target:
    zone: str                      # without trailing dot
    provider: ProviderConfig
    descriptions: list[Description] = field(default_factory=list)
    blocked: str | None = None

    @property
    def domains(self) -> list[str]:
        return [d.domain for d in self.descriptions]

    @property
    def records(self) -> frozenset[Record]:
        return compile_zone(self.descriptions)

    def plan(self, owner: str, adopt: bool = False) -> ZonePlan:
        if self.blocked:
            return ZonePlan(self.zone + ".", self.provider.name, error=self.blocked)
        adopt = adopt or any(d.adopt for d in self.descriptions)
        return plan_zone(self.zone, self.records, self.provider, owner=owner, adopt=adopt)


@dataclass
class Selection:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    everything: bool = True    # no domain or provider filter: every description is in scope


def select(estate: Estate, providers: Providers, state: Path, domains: Iterable[str] = (),
           provider: str | None = None) -> Selection:
    """The targets for ``domains`` (their whole zones) or for everything."""
    domains = list(domains)
    out = Selection(everything=not domains and provider is None)
    if provider and provider not in providers.configs:
        out.errors.append(f"no provider named {provider!r} (files in providers/: "
                          f"{', '.join(sorted(providers.configs)) or 'none'})")
        return out
    by_key: dict[tuple[str, str], Target] = {}
    for loaded in estate.files:
        desc = loaded.description
        if desc is None:
            continue
        unknown = providers.unknown(desc.providers)
        if unknown:
            out.errors.append(f"{loaded.file}: providers {', '.join(unknown)} are not configured "
                              "in providers/")
        for config in providers.for_description(desc.providers):
            by_key.setdefault((desc.zone_name, config.name),
                              Target(desc.zone_name, config)).descriptions.append(desc)
    _add_managed(by_key, providers, state, _named_zones(estate, domains) if domains else None)
    _block_broken(by_key, estate)
    wanted = _wanted_zones(estate, domains, by_key, out)
    out.targets = [t for key, t in sorted(by_key.items())
                   if (wanted is None or t.zone in wanted) and (provider is None or key[1] == provider)]
    return out


def _add_managed(by_key, providers: Providers, state: Path, only: set[str] | None) -> None:
    """Zones a provider holds owned records in, that no description names any more (of
    ``only``, when the selection is for some domains: a request for one domain costs that
    domain, not every managed zone)."""
    for name, zones in S.managed_zones(state).items():
        config = providers.configs.get(name)
        for zone in zones if config else ():
            zone = zone.rstrip(".")
            if only is None or zone in only:
                by_key.setdefault((zone, name), Target(zone, config))


def _named_zones(estate: Estate, domains: list[str]) -> set[str]:
    """Every zone name ``domains`` can select: the names themselves, and their descriptions'
    zones (what ``_wanted_zones`` picks from)."""
    out = set()
    for domain in domains:
        out.add(domain.rstrip(".").lower())
        loaded = estate.find(domain)
        if loaded is not None and loaded.description is not None:
            out.add(loaded.description.zone_name)
    return out


def _block_broken(by_key, estate: Estate) -> None:
    for loaded in estate.files:
        if not any(f.is_error for f in loaded.findings):
            continue
        desc = loaded.description
        guess = desc.zone_name if desc else Path(loaded.file).stem.lower().rstrip(".")
        for target in by_key.values():
            if target.zone == guess or (desc is None and (is_within(guess, target.zone)
                                                          or is_within(target.zone, guess))):
                target.blocked = (f"zone {target.zone} is not planned: {loaded.file} has errors "
                                  "(planning without it could delete its records); fix it and "
                                  "run again (zonesync validate shows the errors)")


def _wanted_zones(estate: Estate, domains: Iterable[str], by_key, out: Selection) -> set[str] | None:
    domains = list(domains)
    if not domains:
        return None
    wanted = set()
    zones = {t.zone for t in by_key.values()}
    for domain in domains:
        loaded = estate.find(domain)
        name = domain.rstrip(".").lower()
        if loaded and loaded.description:
            wanted.add(loaded.description.zone_name)
        elif name in zones:
            wanted.add(name)
        else:
            out.errors.append(f"no description or managed zone for {domain!r}")
    return wanted


# --- the stages over a selection -----------------------------------------------------------------
#
# Zones are independent (each has its own lock), so a large selection is planned and applied
# in worker processes (``parallel.map_zones``). ``progress(label, items)`` returns the function
# each finished item is reported to; the default reports nowhere.

def no_progress(label: str, items) -> Callable[[object], None]:
    return lambda item: None


def plan_all(selection: Selection, owner: str, adopt: bool = False, progress=no_progress) -> Plan:
    plans = map_zones(lambda t: _detached(t.plan(owner, adopt)), selection.targets,
                      progress("planning", selection.targets))
    return Plan(plans, owner, adopt)


def _detached(plan: ZonePlan) -> ZonePlan:
    """A plan as a plain value (it may cross a process boundary): without octoDNS's objects,
    which only an apply in the same breath needs."""
    plan.octo = None
    return plan


def apply_all(selection: Selection, state: Path, owner: str, *, adopt: bool = False,
              force: bool = False, checksums: dict[tuple[str, str], str] | None = None,
              progress=no_progress) -> list[ZoneApply]:
    """Apply every target under its zone lock; ``checksums`` (from a saved plan) must match."""

    def apply(target: Target) -> ZoneApply:
        key = (target.zone + ".", target.provider.name)
        expected = None if checksums is None else checksums.get(key, "missing from the plan")
        result = apply_zone(state, target.provider, target.zone + ".",
                            lambda: target.plan(owner, adopt), force=force,
                            expected_checksum=expected)
        _detached(result.plan)
        return result

    return map_zones(apply, selection.targets, progress("applying", selection.targets))


# --- verify --------------------------------------------------------------------------------------

@dataclass
class TargetVerification:
    target: Target
    result: object | None          # verify.ZoneVerification
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.ok

    def to_json(self) -> dict:
        return {"zone": self.target.zone + ".", "provider": self.target.provider.name,
                "ok": self.ok, "error": self.error, "notes": self.notes,
                "verification": self.result.to_json() if self.result is not None else None}


def verify_target(target: Target, *, wait: float | None = None,
                  absent: Iterable[tuple[str, str]] = ()) -> TargetVerification:
    """SPEC §5 for one zone on one provider: its authoritative servers, then the callers' view."""
    return verify_targets([target], wait=wait, absent={_key(target): list(absent)})[0]


def verify_targets(targets: list[Target], *, wait: float | None = None,
                   absent: dict[tuple[str, str], list] | None = None) -> list[TargetVerification]:
    """``verify_target`` for many zones in one pipelined pass (``verify.verify_zones``)."""
    from .verify import ZoneSpec, verify_zones

    outs = [TargetVerification(t, None) for t in targets]
    specs, verified = [], []
    with contextlib.ExitStack() as stack:
        responders: dict[str, list[str]] = {}
        for out in outs:
            target = out.target
            if target.blocked:
                out.error = target.blocked
                continue
            servers = target.provider.nameservers
            if not servers:
                servers, problem = discover_nameservers(target.zone)
                if problem:
                    out.error = (f"no servers to verify {target.zone} on {target.provider.name}: "
                                 f"{problem}; set verify.nameservers in {target.provider.file}")
                    continue
                out.notes.append(f"servers from the zone's NS records: {', '.join(servers)}")
            if target.provider.is_local:
                name = target.provider.name
                if name not in responders:
                    responders[name] = stack.enter_context(_responder(target, servers, out.notes))
                elif responders[name] != servers:
                    out.notes.append(f"the zone files were served in-process at "
                                     f"{responders[name][0]} for this check")
                servers = responders[name]
            spec = target.provider.spec.verify
            minimum = spec.ttl_minimum
            specs.append(ZoneSpec(
                target.zone + ".", target.records, (absent or {}).get(_key(target), ()),
                target.domains, servers, wait=spec.wait if wait is None else wait,
                ttl_rounding=(lambda ttl, m=minimum: max(ttl, m)) if minimum else None,
                parent_servers=spec.parent_nameservers or None))
            verified.append(out)
        for out, result in zip(verified, verify_zones(specs)):
            out.result = result
    return outs


def verify_all(targets: list[Target], *, wait: float | None = None,
               absent: dict[tuple[str, str], list] | None = None,
               progress=no_progress) -> list[TargetVerification]:
    """``verify_targets`` over many zones, in batches of ``VERIFY_BATCH`` (progress is
    reported per batch). In this process: a batch keeps ~100 queries in flight, and forked
    workers measured slower (their results, 3 MB for 1,000 zones, cost more to send back than
    the second core saved)."""

    def verify_batch(batch: list[Target]) -> list[tuple]:
        # plain values back (a Target holds provider connections); rejoined below
        return [(v.result, v.notes, v.error)
                for v in verify_targets(batch, wait=wait, absent=absent)]

    done = map_batches(verify_batch, targets, progress("verifying", targets), count=1,
                       size=VERIFY_BATCH)
    return [TargetVerification(t, *parts) for t, parts in zip(targets, done)]


def _key(target: Target) -> tuple[str, str]:
    return (target.zone + ".", target.provider.name)


def discover_nameservers(zone: str, resolver=None) -> tuple[list[str], str | None]:
    """The zone's authoritative servers from its NS records, as the system resolver (or
    ``resolver``) sees them: ["address:53", ...], or a reason there are none."""
    import dns.exception
    import dns.resolver

    resolver = resolver or dns.resolver.Resolver()
    try:
        names = sorted(r.target.to_text() for r in resolver.resolve(zone + ".", "NS"))
    except dns.exception.DNSException as exc:
        return [], f"its NS records could not be read ({type(exc).__name__}: {exc})"
    servers = []
    for name in names:
        for rtype in ("A", "AAAA"):
            try:
                answer = resolver.resolve(name, rtype)
            except dns.exception.DNSException:
                continue
            servers += [f"{r.address}:53" if rtype == "A" else f"[{r.address}]:53" for r in answer]
    return (servers, None) if servers else ([], f"no address for its NS names {', '.join(names)}")


class _responder:
    """For the embedded provider: use the running `zonesync dns-serve`, or serve in-process."""

    def __init__(self, target: Target, servers: list[str], notes: list[str]):
        self.target, self.servers, self.notes, self.server = target, servers, notes, None

    def __enter__(self) -> list[str]:
        if not self.target.provider.is_local or _answers(self.servers[0], self.target.zone):
            return self.servers
        from .dnsserve import DnsServer
        self.server = DnsServer(self.target.provider.local_directory(), "127.0.0.1", 0).start()
        where = f"127.0.0.1:{self.server.port}"
        self.notes.append(f"no DNS responder answered at {self.servers[0]}: the zone files were "
                          f"served in-process at {where} for this check (run `zonesync dns-serve` "
                          "so that callers can reach them)")
        return [where]

    def __exit__(self, *exc) -> None:
        if self.server:
            self.server.stop()


def _answers(server: str, zone: str) -> bool:
    """Does an authoritative server answer for ``zone`` at ``server`` (host:port)?"""
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode

    from .dnssource import parse_nameserver
    host, port = parse_nameserver(server)
    try:
        reply = dns.query.udp(dns.message.make_query(zone + ".", "SOA"), host, port=port, timeout=0.5)
    except (OSError, dns.exception.DNSException):
        return False
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.flags & dns.flags.AA)


# --- one whole run, for every door (CLI, API, job runner) ---------------------------------------

class Workspace:
    """Everything a run needs, loaded once: descriptions, providers, state dir, owner id.

    Problems are data (``problems``): the CLI prints them, the API answers with them."""

    def __init__(self, zones_dir: Path, providers_dir: Path, state_override: str | None = None,
                 estate: Estate | None = None, providers: "Providers | None" = None):
        """``estate``: already loaded and linted (the service keeps one warm); else loaded now.
        ``providers``: already loaded from ``providers_dir`` (the service keeps them too)."""
        from .estate import load_estate
        from .ownership import owner_id
        from .providers.config import load_providers

        self.zones_dir = zones_dir
        self.estate = estate if estate is not None else load_estate(
            [zones_dir] if zones_dir.is_dir() else [])
        self.state = S.state_dir(zones_dir, state_override)
        self.providers = providers if providers is not None else load_providers(providers_dir,
                                                                                self.state)
        self.problems: list[str] = [f.to_text() for f in self.providers.findings]
        try:
            self.owner = owner_id()
        except ValueError as exc:
            self.owner = ""
            self.problems.append(str(exc))

    @property
    def broken(self) -> bool:
        """Descriptions with errors: their zones are not touched, and the run must say so."""
        return bool(self.estate.errors)

    def select(self, domains: Iterable[str] = (), provider: str | None = None) -> Selection:
        domains = list(domains)
        estate = self.estate
        narrowed = getattr(estate, "narrowed", None)
        if domains and narrowed is not None:
            # a warm estate: only the files select can depend on for these domains, so that
            # one domain's selection costs that domain, not the estate (same result)
            estate = narrowed(domains, self.providers)
        return select(estate, self.providers, self.state, domains, provider)


@dataclass
class RunResult:
    """What a sync run did: the applies (each with its plan) and the verifications."""

    applied: list[ZoneApply]
    verified: list[TargetVerification]
    broken: bool = False

    @property
    def ok(self) -> bool:
        return (not self.broken and all(r.ok for r in self.applied)
                and all(v.ok for v in self.verified))

    def to_json(self) -> dict:
        return {"ok": self.ok, "applied": [r.to_json() for r in self.applied],
                "verified": [v.to_json() for v in self.verified]}


VERIFY_BATCH = 100   # zones verified in one pipelined pass


def run(workspace: Workspace, selection: Selection, *, adopt: bool = False, force: bool = False,
        checksums: dict | None = None, verify: bool = True, wait: float | None = None,
        progress=no_progress) -> RunResult:
    """Apply every selected target, then verify the ones that applied cleanly."""
    results = apply_all(selection, workspace.state, workspace.owner, adopt=adopt, force=force,
                        checksums=checksums, progress=progress)
    verifications = []
    if verify:
        by_key = {(r.zone, r.provider): r for r in results}
        todo = [t for t in selection.targets if (a := by_key.get(_key(t))) and a.ok]
        absent = {_key(t): [c.key for c in by_key[_key(t)].applied
                            if c.action == "delete" and not c.marker] for t in todo}

        verifications = verify_all(todo, wait=wait, absent=absent, progress=progress)
    # A broken description outside a filtered selection is not this run's failure; over
    # everything it is (its zone could not be synced).
    return RunResult(results, verifications, workspace.broken and selection.everything)
