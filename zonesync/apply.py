"""Apply: make one zone on one provider match its plan, safely.

Under the zone's lock the zone is planned again from live DNS (so two runs never apply stale
plans over each other), a reviewed plan's checksum is compared, octoDNS's safety thresholds
are enforced unless forced, the owned RRsets as they were are saved to the state directory,
and only then is the provider asked to apply. A provider failing half-way leaves a zone that
the next run plans from afresh and converges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from octodns.provider.plan import UnsafePlan

from . import state as S
from .plan import Change, ZonePlan
from .providers.config import ProviderConfig, scrub


@dataclass
class ZoneApply:
    zone: str
    provider: str
    plan: ZonePlan
    applied: list[Change] = field(default_factory=list)
    error: str | None = None
    backup: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.plan.error is None

    def to_json(self) -> dict:
        return {"zone": self.zone, "provider": self.provider, "ok": self.ok,
                "error": self.error or self.plan.error,
                "applied": [c.to_json() for c in self.applied],
                "backup": str(self.backup) if self.backup else None,
                "before": [r.to_json() for r in self.plan.before],   # owned RRsets, as they were
                "plan": self.plan.to_json()}


def apply_zone(state: Path, provider: ProviderConfig, zone: str, replan: Callable[[], ZonePlan],
               *, force: bool = False, expected_checksum: str | None = None,
               lock_timeout: float = 600.0) -> ZoneApply:
    """Lock, re-plan, check, back up, apply. Errors are values naming zone, provider and cause."""
    try:
        with S.zone_lock(state, zone, timeout=lock_timeout):
            return _apply_locked(state, provider, replan(), force, expected_checksum)
    except S.LockTimeout as exc:
        return ZoneApply(zone, provider.name, ZonePlan(zone, provider.name), error=str(exc))


def _apply_locked(state: Path, provider: ProviderConfig, plan: ZonePlan, force: bool,
                  expected_checksum: str | None) -> ZoneApply:
    result = ZoneApply(plan.zone, provider.name, plan)
    if plan.error:
        return result
    if expected_checksum is not None and expected_checksum != plan.checksum:
        result.error = (f"zone {plan.zone} on {provider.name} changed since the plan was made "
                        "(live DNS or zones/): nothing applied; plan again and review")
        return result
    if plan.octo is None:
        return result
    if not force:
        try:
            plan.octo.raise_if_unsafe()
        except UnsafePlan as exc:
            result.error = (f"zone {plan.zone} on {provider.name}: {exc}; nothing applied. "
                            "Review the plan and apply with --force if it is intended")
            return result
    if plan.before:            # a zone with nothing of ours in it has nothing to restore
        result.backup = S.save_backup(state, plan.zone, provider.name,
                                      [r.to_json() for r in plan.before])
    try:
        provider.instance().apply(plan.octo)
    except Exception as exc:  # noqa: BLE001 - any provider failure is reported, not raised
        result.error = scrub(f"zone {plan.zone} on {provider.name}: apply failed: "
                             f"{type(exc).__name__}: {exc}. The next sync re-plans from live DNS "
                             "and converges" + (f"; the records before are in {result.backup}"
                                                if result.backup else ""))
        return result
    result.applied = plan.changing
    S.remember_zone(state, provider.name, plan.zone, bool(_owned_after(plan)))
    return result


def _owned_after(plan: ZonePlan) -> set:
    """Owned RRsets once the plan is applied: those before, less deletions, plus creations."""
    deleted = {c.key for c in plan.changing if c.action == "delete"}
    created = {c.key for c in plan.changing if c.new is not None}
    return ({r.key for r in plan.before} - deleted) | created
