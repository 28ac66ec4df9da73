"""Drift: does live DNS still hold what zones/ describes? Read-only, for cron, CI and the service.

Two views for every zone on every provider, neither of which changes anything:

- the provider's own view: the zone is planned (``plan_all``) exactly as ``zonesync plan``
  would; every owned RRset (or its ownership marker) the plan would create, update or delete
  is drift;
- every authoritative server (``verify_target(target, wait=0)``): ``missing``, ``different``
  and ``extra`` RRsets are drift; ``pending`` (the server's SOA serial is behind) is
  propagation, not drift; ``indeterminate`` (SERVFAIL, time-out, REFUSED) is an error, as is a
  provider that cannot be read.

One ``DriftReport`` per (domain, provider). A zone holding several descriptions is checked
once; each RRset is reported under the description(s) that publish it (by name when none
does, e.g. a stray owned RRset), zone-wide problems under every one of them. A zone that no
description names any more but a provider still holds owned records in is reported under
the zone's name.

``DriftReport.to_json()`` shape::

    {"domain": "acme.example", "zone": "acme.example.", "provider": "local",
     "state": "drift",                      # clean | drift | pending | error
     "drifted": 2,                          # distinct RRsets (a marker counts as its RRset)
     "checked_at": 1767225600.0,            # Unix time
     "error": null,                         # or the reason (provider error, indeterminate, ...)
     "checks": [
       {"source": "dns", "server": "127.0.0.1:5353", "name": "_sips._tcp.acme.example.",
        "type": "SRV", "state": "different", "expected": [...], "live": [...],
        "expected_ttl": 3600, "live_ttl": 3600, "detail": "..."},     # verify's RRsetCheck
       {"source": "provider", "server": null, "name": "sbc2.acme.example.", "type": "A",
        "state": "missing", "action": "create", "marker": false, "expected": [...],
        "live": [], "expected_ttl": 3600, "live_ttl": null, "detail": "..."}]}

Provider checks use verify's words: a planned create is ``missing``, an update
``different``, a delete ``extra``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

from . import ownership
from .compile import compile_description
from .names import is_within
from .providers.config import scrub
from .plan import Change, ZonePlan
from .sync import (Selection, Target, TargetVerification, Workspace, no_progress, plan_all,
                   verify_target)

State = Literal["clean", "drift", "pending", "error"]
DRIFT_STATES = frozenset(("missing", "different", "extra"))
_PLAN_STATE = {"create": "missing", "update": "different", "delete": "extra"}
_RANK = {"clean": 0, "pending": 1, "drift": 2, "error": 3}


@dataclass
class DriftReport:
    domain: str
    zone: str                      # absolute ("acme.example."), "" when no zone is known
    provider: str                  # "" for a problem outside any provider
    state: State
    drifted: int
    checked_at: float
    checks: list[dict] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict:
        return {"domain": self.domain, "zone": self.zone, "provider": self.provider,
                "state": self.state, "drifted": self.drifted, "checked_at": self.checked_at,
                "error": self.error, "checks": list(self.checks)}


def overall(reports: Iterable[DriftReport]) -> State:
    """The worst state: error, then drift, then pending; clean when all are."""
    return max((r.state for r in reports), key=_RANK.__getitem__, default="clean")


def check_drift(workspace: Workspace, domains: Iterable[str] = (), *,
                progress=no_progress) -> list[DriftReport]:
    """Live DNS against zones/ on every provider and every authoritative server, for
    ``domains`` (their whole zones are checked) or for everything. Never changes anything;
    problems (provider files, unknown domains, broken descriptions) are error reports."""
    domains = list(domains)
    if workspace.problems:     # provider files or the owner id are wrong: nothing is checked
        now = time.time()
        return [DriftReport("", "", "", "error", 0, now, [], problem)
                for problem in workspace.problems]
    selection = workspace.select(domains)
    reports = _selection_errors(selection, workspace, domains)
    wanted = _requested(workspace, domains)
    done = progress("checking", selection.targets)
    for target in selection.targets:
        reports += _check_target(workspace, target, wanted)
        done(target)
    return reports


def _selection_errors(selection: Selection, workspace: Workspace,
                      domains: list[str]) -> list[DriftReport]:
    now = time.time()
    out = [DriftReport("", "", "", "error", 0, now, [], f"zonesync: {e}")
           for e in selection.errors]
    # A file that does not load at all names no zone, so no target reports it: say so here.
    zones = {t.zone for t in selection.targets}
    for loaded in workspace.estate.files:
        errors = [f for f in loaded.findings if f.is_error]
        if not errors or loaded.description is not None:
            continue
        guess = Path(loaded.file).stem.lower().rstrip(".")
        if any(guess == z or is_within(guess, z) or is_within(z, guess) for z in zones):
            continue            # its zones are blocked: their reports carry the error
        if domains and guess not in _requested(workspace, domains):
            continue
        first = errors[0].to_text().splitlines()[0]
        out.append(DriftReport(guess, "", "", "error", 0, now, [],
                               f"{loaded.file} has errors ({first}); its records cannot be "
                               "compared (zonesync validate shows them all)"))
    return out


def _requested(workspace: Workspace, domains: list[str]) -> set[str] | None:
    """The domain (or zone) names asked for, None for everything."""
    if not domains:
        return None
    out = set()
    for domain in domains:
        loaded = workspace.estate.find(domain)
        if loaded is not None and loaded.description is not None:
            out.add(loaded.description.domain)
        else:
            out.add(domain.rstrip(".").lower())
    return out


def _check_target(workspace: Workspace, target: Target,
                  wanted: set[str] | None) -> list[DriftReport]:
    zone = target.zone + "."
    errors: list[str] = []
    plan = plan_all(Selection([target]), workspace.owner).zones[0]
    if plan.error:
        errors.append(plan.error)
    deleted = [c.key for c in plan.changing if c.action == "delete" and not c.marker]
    try:
        verification = verify_target(target, wait=0, absent=deleted)
    except Exception as exc:  # noqa: BLE001 - one zone's failure is its report, not the run's
        verification = TargetVerification(target, None, error=scrub(
            f"verifying {zone} on {target.provider.name} failed: {type(exc).__name__}: {exc}"))
    if verification.error and verification.error != plan.error:
        errors.append(verification.error)
    checked_at = time.time()
    checks = _plan_checks(plan) + _dns_checks(verification)
    indeterminate = [c for c in checks if c["state"] == "indeterminate"]
    if indeterminate:
        servers = sorted({c["server"] for c in indeterminate})
        errors.append(f"{len(indeterminate)} RRset(s) indeterminate on {', '.join(servers)}: "
                      f"{indeterminate[0]['detail']}")

    names = target.domains or [target.zone]
    if wanted is not None:
        names = [n for n in names if n in wanted or target.zone in wanted]
    published = {desc.domain: {(r.name.lower(), r.type.upper())
                               for r in compile_description(desc)}
                 for desc in target.descriptions}
    by_domain: dict[str, list[dict]] = {name: [] for name in names}
    for check in checks:
        for name in _owners(check, zone, names, published):
            by_domain[name].append(check)
    error = "; ".join(errors) or None
    return [_report(name, zone, target.provider.name, by_domain[name], error, checked_at)
            for name in names]


def _owners(check: dict, zone: str, names: list[str], published: dict[str, set]) -> list[str]:
    """The domains an RRset check belongs to: those that publish it, else by name."""
    key = (check["name"].lower(), check["type"].upper())
    key = ownership.marked_key(key[0], zone) or key
    owners = [n for n in names if key in published.get(n, ())]
    if owners:
        return owners
    name = key[0].rstrip(".")
    within = [n for n in names if is_within(name, n)]
    if within:
        deepest = max(len(n) for n in within)
        return [n for n in within if len(n) == deepest]
    return list(names)


def _report(domain: str, zone: str, provider: str, checks: list[dict], error: str | None,
            checked_at: float) -> DriftReport:
    drifted = {_rrset_key(c, zone) for c in checks if c["state"] in DRIFT_STATES}
    if error:
        state: State = "error"
    elif drifted:
        state = "drift"
    elif any(c["state"] == "pending" for c in checks):
        state = "pending"
    else:
        state = "clean"
    return DriftReport(domain, zone, provider, state, len(drifted), checked_at, checks, error)


def _rrset_key(check: dict, zone: str) -> tuple[str, str]:
    key = (check["name"].lower(), check["type"].upper())
    return ownership.marked_key(key[0], zone) or key


def _plan_checks(plan: ZonePlan) -> list[dict]:
    return [_plan_check(c) for c in plan.changing]


def _plan_check(change: Change) -> dict:
    name, rtype = change.key
    old, new = change.old, change.new
    what = "its ownership marker " if change.marker else ""
    detail = {"create": f"the provider does not hold {what}this RRset",
              "update": f"the provider holds {what}other values",
              "delete": f"the provider still holds {what}this owned RRset, which zones/ no "
                        "longer describes"}[change.action]
    return {"source": "provider", "server": None, "name": name, "type": rtype,
            "state": _PLAN_STATE[change.action], "action": change.action,
            "marker": change.marker,
            "expected": sorted(new.rdatas) if new else [],
            "live": sorted(old.rdatas) if old else [],
            "expected_ttl": new.ttl if new else None, "live_ttl": old.ttl if old else None,
            "detail": detail + (f" ({change.note})" if change.note else "")}


def _dns_checks(verification: TargetVerification) -> list[dict]:
    if verification.result is None:
        return []
    return [{"source": "dns", **c.to_json()} for c in verification.result.checks
            if c.state != "ok"]
