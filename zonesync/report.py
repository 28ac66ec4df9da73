"""Plans and apply results as people read them: plain text, and Markdown for pull requests.

JSON is the plans' own ``to_json``; these renderings never show secrets (plans hold none) and
fold the ownership markers into a count, since they change together with the records they mark.
"""

from __future__ import annotations

from .apply import ZoneApply
from .plan import Change, Plan, ZonePlan

SIGN = {"create": "+", "update": "~", "delete": "-", "adopt": "?", "conflict": "!"}


def _summary(zone: ZonePlan) -> str:
    counts = zone.counts()
    parts = [f"{counts[a]} {a}" for a in ("create", "update", "delete", "adopt", "conflict") if counts[a]]
    return ", ".join(parts) or "no changes"


def _change_lines(change: Change) -> list[str]:
    name, rtype = change.key
    head = f"  {SIGN[change.action]} {change.action:8} {name} {rtype}"
    out = [head + (f"  ({change.note})" if change.note else "")]
    if change.action == "update":
        old, new = set(change.old.rdatas), set(change.new.rdatas)
        if change.old.ttl != change.new.ttl:
            out.append(f"      ttl {change.old.ttl} → {change.new.ttl}")
        out += [f"      - {r}" for r in sorted(old - new)] + [f"      + {r}" for r in sorted(new - old)]
    elif change.action in ("create", "adopt", "conflict") and change.new:
        out += [f"      + {change.new.ttl} {r}" for r in change.new.rdatas]
        if change.action != "create" and change.old:
            out += [f"      live: {change.old.ttl} {r}" for r in change.old.rdatas]
    elif change.action == "delete" and change.old:
        out += [f"      - {change.old.ttl} {r}" for r in change.old.rdatas]
    return out


def plan_text(plan: Plan) -> str:
    lines = []
    for zone in plan.zones:
        lines.append(f"{zone.zone} on {zone.provider}: {_summary(zone)}"
                     + ("" if zone.exists else " (zone will be created)" if not zone.error else ""))
        if zone.error:
            lines.append(f"  error: {zone.error}")
        for change in zone.changes:
            if not change.marker:
                lines += _change_lines(change)
        markers = sum(1 for c in zone.changes if c.marker)
        if markers:
            lines.append(f"  ({markers} ownership marker change(s) with them)")
        lines += [f"  warning: {w}" for w in zone.warnings]
    if not plan.zones:
        lines.append("nothing to plan: no descriptions and no managed zones")
    return "\n".join(lines) + "\n"


def plan_markdown(plan: Plan) -> str:
    """A pull-request comment: one section a zone, a table of changes, details folded."""
    lines = ["## zonesync plan", ""]
    if not plan.has_changes and not plan.errors:
        lines.append("No changes: live DNS matches `zones/`.")
    for zone in plan.zones:
        lines += [f"### `{zone.zone}` on `{zone.provider}` — {_summary(zone)}", ""]
        if zone.error:
            lines += [f"> **Error:** {zone.error}", ""]
        shown = [c for c in zone.changes if not c.marker]
        if shown:
            lines += ["| | action | name | type | now | after |", "|---|---|---|---|---|---|"]
            for c in shown:
                now = "<br>".join(f"`{r}`" for r in c.old.rdatas) if c.old else ""
                after = "<br>".join(f"`{r}`" for r in c.new.rdatas) if c.new else ""
                lines.append(f"| {SIGN[c.action]} | {c.action} | `{c.key[0]}` | {c.key[1]} | {now} | {after} |")
            lines.append("")
        lines += [f"- warning: {w}" for w in zone.warnings]
    lines += ["", f"<sub>plan checksum `{plan.checksum[:16]}`, owner `{plan.owner}`</sub>"]
    return "\n".join(lines) + "\n"


def apply_text(results: list[ZoneApply]) -> str:
    lines = []
    for r in results:
        if r.error or r.plan.error:
            lines.append(f"{r.zone} on {r.provider}: FAILED — {r.error or r.plan.error}")
        elif r.applied:
            shown = [c for c in r.applied if not c.marker]
            lines.append(f"{r.zone} on {r.provider}: applied {len(shown)} change(s)")
            for change in shown:
                lines.append(f"  {SIGN[change.action]} {change.action:8} {change.key[0]} {change.key[1]}")
        else:
            lines.append(f"{r.zone} on {r.provider}: already in sync")
        for c in r.plan.pending_adoption:
            lines.append(f"  ? not adopted: {c.key[0]} {c.key[1]} ({c.note})")
    return "\n".join(lines) + "\n"
