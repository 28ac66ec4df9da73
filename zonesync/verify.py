"""Verification after an apply (SPEC §5, V1–V4): ask the authoritative servers directly.

Every owned RRset is compared on every server (rdata as a set, NAPTR flags case-insensitive,
and the TTL, with the provider's TTL rounding applied to the expected one); a server whose SOA
serial is behind is "pending", never drift; SERVFAIL, timeout and REFUSED are "indeterminate",
never "missing". The SIP routes of each domain are resolved (SPEC §4) against each server and
against the compiled records laid over that server (``OverlaySource``): the two plans must be
equal. The delegation is checked only when parent servers are given (this code never queries
anything it was not told to).

The comparison and state logic are plain functions over ``Answer`` / ``ZoneAnswer`` values
(``check_rrset``, ``mark_pending``, ``route_check``, ``delegation_check``); I/O happens only
through the ``DnsSource`` each server gets from ``source_factory``. A source may also offer
``zone_query(zone, "SOA" | "NS") -> ZoneAnswer`` (``LiveSource`` does); without it the serial is
unknown and pending cannot be told from drift (a warning says so).

``ZoneVerification.to_json()`` shape::

    {
      "zone": "acme.example.",                # absolute, lower-case
      "ok": false,                            # every check ok and every route agrees
      "servers": ["127.0.0.1:53"],
      "attempts": 3, "elapsed": 1.25,         # seconds
      "serials": {"127.0.0.1:53": 7},         # last SOA serial seen per server, or null
      "summary": {"127.0.0.1:53": {"ok": 11, "missing": 0, "different": 1, "extra": 0,
                                   "pending": 0, "indeterminate": 0}},
      "checks": [{"server": "127.0.0.1:53", "name": "_sips._tcp.acme.example.",
                  "type": "SRV", "state": "different",
                  "expected": ["10 40 5061 sbc2.acme.example.", ...],   # rdata texts, sorted
                  "live": [...], "expected_ttl": 3600, "live_ttl": 3600,  # ttl may be null
                  "detail": "..."}],
      "routes": [{"uri": "sip:acme.example", "server": "127.0.0.1:53", "agree": true,
                  "detail": "",
                  "live": <Resolution.to_json()>,        # uri, targets[{transport, host, port,
                  "compiled": <Resolution.to_json()>}],  #   address}], warnings, error, steps
      "delegation": {"state": "not-checked", "parent_ns": [], "expected_ns": [],
                     "detail": "..."},
      "warnings": ["..."]
    }

``checks`` lists every RRset on every server, ok ones included, in server order then DNS
canonical name order; ``routes`` lists ``sip:`` then ``sips:`` for each domain on each server.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Literal, Mapping, Sequence

from .dnssource import Answer, DnsSource, LiveSource, OverlaySource, ZoneAnswer
from .records import Record, fqdn, sort_key
from .resolve import Resolution, Target, parse_uri, resolve

State = Literal["ok", "missing", "different", "extra", "pending", "indeterminate"]
STATES: tuple[State, ...] = ("ok", "missing", "different", "extra", "pending", "indeterminate")
DRIFT: frozenset[str] = frozenset(("missing", "different", "extra"))

WORKERS_PER_SERVER = 16
FIRST_DELAY = 0.1
MAX_DELAY = 2.0

UNDELEGATED_WARNING = ("delegation not checked: records on an undelegated server reach no "
                       "caller")

Key = tuple[str, str]  # (owner, type)


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RRsetCheck:
    server: str
    name: str
    type: str
    state: State
    expected: tuple[str, ...]  # rdata texts, sorted; () for an RRset that must not exist
    live: tuple[str, ...]      # rdata texts, sorted
    expected_ttl: int | None
    live_ttl: int | None
    detail: str = ""

    def to_json(self) -> dict:
        return {"server": self.server, "name": self.name, "type": self.type,
                "state": self.state, "expected": list(self.expected), "live": list(self.live),
                "expected_ttl": self.expected_ttl, "live_ttl": self.live_ttl,
                "detail": self.detail}


@dataclass(frozen=True)
class RouteCheck:
    uri: str
    server: str
    live: Resolution
    compiled: Resolution
    agree: bool
    detail: str = ""

    def to_json(self) -> dict:
        return {"uri": self.uri, "server": self.server, "agree": self.agree,
                "detail": self.detail, "live": self.live.to_json(),
                "compiled": self.compiled.to_json()}


@dataclass(frozen=True)
class DelegationCheck:
    state: Literal["ok", "mismatch", "not-delegated", "not-checked", "indeterminate"]
    parent_ns: tuple[str, ...]
    expected_ns: tuple[str, ...]
    detail: str

    def to_json(self) -> dict:
        return {"state": self.state, "parent_ns": list(self.parent_ns),
                "expected_ns": list(self.expected_ns), "detail": self.detail}


@dataclass
class ZoneVerification:
    zone: str
    servers: tuple[str, ...]
    checks: list[RRsetCheck]
    routes: list[RouteCheck]
    delegation: DelegationCheck
    attempts: int
    elapsed: float
    warnings: list[str]
    serials: dict[str, int | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every RRset ok on every server and every route agrees. Pending is not ok (but is
        not drift either); the delegation is reported, not part of ``ok``."""
        return all(c.state == "ok" for c in self.checks) and all(r.agree for r in self.routes)

    @property
    def drifted(self) -> list[RRsetCheck]:
        return [c for c in self.checks if c.state in DRIFT]

    @property
    def pending(self) -> list[RRsetCheck]:
        return [c for c in self.checks if c.state == "pending"]

    @property
    def indeterminate(self) -> list[RRsetCheck]:
        return [c for c in self.checks if c.state == "indeterminate"]

    def summary(self) -> dict[str, dict[str, int]]:
        counts = {server: dict.fromkeys(STATES, 0) for server in self.servers}
        for check in self.checks:
            counts[check.server][check.state] += 1
        return counts

    def to_json(self) -> dict:
        return {
            "zone": self.zone, "ok": self.ok, "servers": list(self.servers),
            "attempts": self.attempts, "elapsed": round(self.elapsed, 3),
            "serials": dict(self.serials), "summary": self.summary(),
            "checks": [c.to_json() for c in self.checks],
            "routes": [r.to_json() for r in self.routes],
            "delegation": self.delegation.to_json(),
            "warnings": list(self.warnings),
        }

    def to_text(self) -> str:
        word = "OK" if self.ok else "NOT OK"
        lines = [f"zone {self.zone}: {word} after {self.attempts} attempt"
                 f"{'s' if self.attempts != 1 else ''}, {self.elapsed:.1f} s"]
        for server, counts in self.summary().items():
            serial = self.serials.get(server)
            shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
            lines.append(f"  {server}  serial {serial if serial is not None else '?'}: "
                         f"{shown or 'no RRsets'}")
        bad = [c for c in self.checks if c.state != "ok"]
        if bad:
            lines.append("RRsets not ok:")
            for c in bad:
                lines.append(f"  {c.state:<13} {c.name} {c.type}  @ {c.server}")
                lines.append(f"      expected: {_rrset_text(c.expected, c.expected_ttl)}")
                lines.append(f"      live:     {_rrset_text(c.live, c.live_ttl)}")
                if c.detail:
                    lines.append(f"      {c.detail}")
        if self.routes:
            lines.append("What a caller reaches (transport host port address):")
            for r in self.routes:
                verdict = "agrees with the compiled records" if r.agree else "DIFFERS from the " \
                          "compiled records"
                lines.append(f"  {r.uri} @ {r.server}: {verdict}")
                lines.extend(_target_rows(r.live, "      "))
                if not r.agree:
                    lines.append("    compiled records would reach:")
                    lines.extend(_target_rows(r.compiled, "      "))
                    if r.detail:
                        lines.append(f"    {r.detail}")
        d = self.delegation
        lines.append(f"delegation: {d.state}" + (f" ({d.detail})" if d.detail else ""))
        for warning in self.warnings:
            lines.append(f"warning: {warning}")
        return "\n".join(lines)


def _rrset_text(rdata: tuple[str, ...], ttl: int | None) -> str:
    if not rdata:
        return "(none)"
    return f"TTL {ttl if ttl is not None else '?'}  " + " | ".join(rdata)


def _target_rows(res: Resolution, indent: str) -> list[str]:
    rows = [f"{indent}{t.transport:<5} {t.host} {t.port} {t.address or '(address unknown)'}"
            for t in res.targets]
    if res.error:
        rows.append(f"{indent}error: {res.error}")
    return rows or [f"{indent}(nothing)"]


# --- pure comparison and state logic ------------------------------------------------------------

def group_rrsets(records: Iterable[Record]) -> dict[Key, tuple[Record, ...]]:
    """Records grouped by (owner, type); names lower-cased, types upper-cased."""
    groups: dict[Key, list[Record]] = {}
    for rec in records:
        name, rtype = rec.name.lower(), rec.type.upper()
        if (name, rec.type) != (rec.name, rtype):
            rec = Record(name, rec.ttl, rtype, rec.value)
        groups.setdefault((name, rtype), []).append(rec)
    return {key: tuple(sorted(group, key=sort_key)) for key, group in groups.items()}


def expected_ttl(records: Sequence[Record],
                 ttl_rounding: Callable[[int], int] | None = None) -> int:
    """The RRset's TTL (the lowest, should they differ: RFC 2181 §5.2), rounded as the
    provider rounds."""
    ttl = min(rec.ttl for rec in records)
    return ttl_rounding(ttl) if ttl_rounding is not None else ttl


def _texts(records: Iterable[Record]) -> tuple[str, ...]:
    return tuple(sorted({rec.value.to_text() for rec in records}))


def check_rrset(server: str, name: str, rtype: str, expected: Sequence[Record] | None,
                answer: Answer,
                ttl_rounding: Callable[[int], int] | None = None) -> RRsetCheck:
    """One RRset on one server. ``expected`` None: the RRset must not exist (it was deleted).

    ok / missing / different / extra / indeterminate; a CNAME at the owner is "different"
    (the name no longer holds the RRset). Pending is decided later (``mark_pending``)."""
    live = [r for r in answer.records if r.name == name and r.type == rtype]
    live_texts = _texts(live)
    live_ttl = min((r.ttl for r in live), default=None)
    want = tuple(expected) if expected else ()
    want_texts = _texts(want)
    want_ttl = expected_ttl(want, ttl_rounding) if want else None

    def result(state: State, detail: str = "") -> RRsetCheck:
        return RRsetCheck(server, name, rtype, state, want_texts, live_texts, want_ttl,
                          live_ttl, detail)

    if answer.indeterminate:
        why = answer.detail or answer.status.upper()
        return result("indeterminate",
                      f"{answer.status.upper()}: {why}; indeterminate, not absent (SPEC R10)")
    if not want:
        if live:
            return result("extra", "deleted RRset is still served")
        return result("ok")
    if not live:
        if answer.cname:
            return result("different", f"{name} is a CNAME for {answer.cname}")
        return result("missing", "the name does not exist (NXDOMAIN)"
                      if answer.status == "nxdomain" else "no such RRset (NODATA)")
    want_keys = {rec.value.key(): rec.value.to_text() for rec in want}
    live_keys = {rec.value.key(): rec.value.to_text() for rec in live}
    problems = []
    only_live = sorted(text for key, text in live_keys.items() if key not in want_keys)
    only_want = sorted(text for key, text in want_keys.items() if key not in live_keys)
    if only_want:
        problems.append("not served: " + " | ".join(only_want))
    if only_live:
        problems.append("not expected: " + " | ".join(only_live))
    if live_ttl != want_ttl:
        rounded = " (after the provider's TTL rounding)" if ttl_rounding else ""
        problems.append(f"TTL {live_ttl} served, {want_ttl} expected{rounded}")
    if problems:
        return result("different", "; ".join(problems))
    return result("ok")


def serial_lt(a: int, b: int) -> bool:
    """RFC 1982 serial number arithmetic: is ``a`` behind ``b``?"""
    a, b = a % 2**32, b % 2**32
    return a != b and ((a < b and b - a < 2**31) or (a > b and a - b > 2**31))


def highest_serial(serials: Iterable[int | None]) -> int | None:
    best: int | None = None
    for serial in serials:
        if serial is not None and (best is None or serial_lt(best, serial)):
            best = serial
    return best


def mark_pending(check: RRsetCheck, serial: int | None, target: int | None) -> RRsetCheck:
    """A drift state on a server whose serial is behind ``target`` becomes "pending" (not yet
    propagated, SPEC V1); everything else is left as it is."""
    if check.state not in DRIFT or serial is None or target is None:
        return check
    if not serial_lt(serial, target):
        return check
    note = f"{check.state} while serial {serial} is behind {target}: not yet propagated"
    return replace(check, state="pending",
                   detail=f"{note}; {check.detail}" if check.detail else note)


def route_check(uri: str, server: str, live: Resolution, compiled: Resolution) -> RouteCheck:
    """Do live DNS and the compiled records give the caller the same plan (SPEC V2)? Equal
    ordered targets and the same error, if any."""
    agree = live.targets == compiled.targets and live.error == compiled.error
    detail = "" if agree else _route_difference(live, compiled)
    return RouteCheck(uri, server, live, compiled, agree, detail)


def _route_difference(live: Resolution, compiled: Resolution) -> str:
    def row(t: Target) -> str:
        return f"{t.transport} {t.host} {t.port} {t.address or '?'}"

    for index, (a, b) in enumerate(zip(live.targets, compiled.targets), 1):
        if a != b:
            return f"row {index}: live {row(a)}, compiled {row(b)}"
    if len(live.targets) != len(compiled.targets):
        return (f"live reaches {len(live.targets)} target(s), the compiled records "
                f"{len(compiled.targets)}")
    return f"live error: {live.error or 'none'}; compiled error: {compiled.error or 'none'}"


def delegation_check(zone: str, answers: Mapping[str, ZoneAnswer],
                     expected_ns: Iterable[str], expected_from: str = "") -> DelegationCheck:
    """The parent servers' NS answers for ``zone`` against the expected NS names (SPEC V4).

    ok: every answering parent delegates to exactly ``expected_ns``; not-delegated: every
    answering parent says NXDOMAIN or has no NS for the zone; mismatch: another NS set, or
    parents that disagree; indeterminate: no parent answered."""
    expected = tuple(sorted({fqdn(n) for n in expected_ns}))
    definite = {s: a for s, a in answers.items() if not a.indeterminate}
    parent_ns = tuple(sorted({n for a in definite.values() for n in a.ns}))
    failed = "; ".join(f"{s}: {a.status} {a.detail}".strip() for s, a in answers.items()
                       if a.indeterminate)
    if not definite:
        return DelegationCheck("indeterminate", (), expected,
                               f"no parent server answered for {zone}: {failed}")
    delegated = {s: a for s, a in definite.items() if a.status == "ok" and a.ns}
    if not delegated:
        return DelegationCheck("not-delegated", (), expected,
                               f"the parent has no NS records for {zone}: records on these "
                               "servers reach no caller")
    problems = []
    for server, answer in definite.items():
        if server not in delegated:
            problems.append(f"{server} does not delegate {zone} ({answer.status})")
        elif expected and set(answer.ns) != set(expected):
            missing = sorted(set(expected) - set(answer.ns))
            extra = sorted(set(answer.ns) - set(expected))
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                    ([f"not expected {', '.join(extra)}"] if extra else [])
            problems.append(f"{server} delegates to {', '.join(answer.ns)} ({'; '.join(parts)})")
    if not expected:
        problems.append("no expected NS names to compare with")
    if problems:
        return DelegationCheck("mismatch", parent_ns, expected, "; ".join(problems))
    source = f" ({expected_from})" if expected_from else ""
    note = f"; unanswered: {failed}" if failed else ""
    return DelegationCheck("ok", parent_ns, expected,
                           f"delegated to {', '.join(parent_ns)}{source}{note}")


# --- I/O: per-server attempts ----------------------------------------------------------------

class _CachedSource:
    """One attempt's view of one server: each (name, type) asked once, whoever asks first
    (a check or a route); concurrent askers wait for the one query in flight. The asker
    computes inline, so waits are only ever on running queries (no pool deadlock)."""

    def __init__(self, source: DnsSource):
        self.source = source
        self._lock = threading.Lock()
        self._answers: dict[Key, Future] = {}

    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower(), rtype.upper())
        with self._lock:
            future = self._answers.get(key)
            mine = future is None
            if mine:
                future = self._answers[key] = Future()
        if not mine:
            return future.result()
        try:
            answer = self.source.query(*key)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(answer)
        return answer


class _Failing:
    """A server that did not answer: every question is indeterminate, at once."""

    def __init__(self, answer: ZoneAnswer):
        self.answer = answer

    def query(self, name: str, rtype: str) -> Answer:
        return Answer(self.answer.status, detail=self.answer.detail)


def _zone_query(source: DnsSource, zone: str, rtype: str) -> ZoneAnswer | None:
    ask = getattr(source, "zone_query", None)
    return ask(zone, rtype) if callable(ask) else None


@dataclass
class _Outcome:
    serial: int | None
    soa: ZoneAnswer | None
    checks: dict[Key, RRsetCheck]
    routes: dict[str, RouteCheck]


@dataclass
class _Plan:
    zone: str
    desired: dict[Key, tuple[Record, ...]]
    absent: frozenset[Key]
    records: tuple[Record, ...]
    ttl_rounding: Callable[[int], int] | None


def _attempt(server: str, source: DnsSource, pool: ThreadPoolExecutor, plan: _Plan,
             keys: Sequence[Key], uris: Sequence[str]) -> _Outcome:
    """One attempt on one server: its SOA serial, then the RRsets and routes (concurrently)."""
    soa = _zone_query(source, plan.zone, "SOA")
    serial = soa.serial if soa is not None and soa.status == "ok" else None
    if soa is not None and soa.indeterminate:
        # The server does not answer for the zone at all: do not wait for every RRset's timeout.
        dead = _Failing(soa)
        checks = {key: check_rrset(server, *key, plan.desired.get(key), dead.query(*key),
                                   plan.ttl_rounding) for key in keys}
        routes = {}
        for uri in uris:
            error = (f"{server} did not answer the SOA query for {plan.zone} "
                     f"({soa.status}: {soa.detail}); not resolved, indeterminate (SPEC R10)")
            live = Resolution(uri, (), (), error, ())
            compiled = resolve(uri, OverlaySource(plan.records, plan.absent, dead))
            routes[uri] = route_check(uri, server, live, compiled)
        return _Outcome(serial, soa, checks, routes)
    cached = _CachedSource(source)
    overlay = OverlaySource(plan.records, plan.absent, cached)
    check_futures = {key: pool.submit(cached.query, *key) for key in keys}
    route_futures = {uri: (pool.submit(resolve, uri, cached),
                           pool.submit(resolve, uri, overlay)) for uri in uris}
    checks = {key: check_rrset(server, *key, plan.desired.get(key), future.result(),
                               plan.ttl_rounding) for key, future in check_futures.items()}
    routes = {uri: route_check(uri, server, live.result(), compiled.result())
              for uri, (live, compiled) in route_futures.items()}
    return _Outcome(serial, soa, checks, routes)


# --- the entry point ---------------------------------------------------------------------------

def verify_zone(zone: str, desired: Iterable[Record], absent: Iterable[tuple[str, str]],
                domains: Iterable[str], servers: list[str], *, wait: float = 0.0,
                ttl_rounding: Callable[[int], int] | None = None,
                expected_serial: int | None = None, parent_servers: list[str] | None = None,
                expected_ns: Iterable[str] = (), timeout: float = 2.0,
                source_factory: Callable[[str], DnsSource] | None = None,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> ZoneVerification:
    """Verify ``zone`` on every one of ``servers`` (SPEC V1–V4); see the module docstring.

    ``desired``: every owned record that must exist; ``absent``: owned (name, type) RRsets that
    must not (just deleted); ``domains``: SIP domains whose ``sip:``/``sips:`` routes are
    compared. Retries what is not ok with back-off (0.1 s doubling, at most 2 s) until ``wait``
    seconds are spent; ``wait=0`` is one attempt. ``source_factory(server)`` gives each server's
    source (default: ``LiveSource([server], timeout, retries=0)``: retrying is done here)."""
    start = clock()
    deadline = start + max(0.0, wait)
    zone = fqdn(zone)
    servers = list(dict.fromkeys(servers))
    if not servers:
        raise ValueError("verify_zone needs at least one server")
    warnings: list[str] = []

    def warn(text: str) -> None:
        if text not in warnings:
            warnings.append(text)

    desired_sets = group_rrsets(desired)
    for (name, rtype), group in desired_sets.items():
        if name != zone and not name.endswith("." + zone):
            raise ValueError(f"{name} {rtype} is outside the zone {zone}")
        if len({rec.ttl for rec in group}) > 1:
            warn(f"{name} {rtype} has records with different TTLs; the lowest is expected "
                 "(RFC 2181 §5.2)")
    absent_keys = set()
    for name, rtype in absent:
        key = (fqdn(name), rtype.upper())
        if key in desired_sets:
            warn(f"{key[0]} {key[1]} is both desired and absent; checked as desired")
            continue
        if key[0] != zone and not key[0].endswith("." + zone):
            raise ValueError(f"{key[0]} {key[1]} is outside the zone {zone}")
        absent_keys.add(key)
    plan = _Plan(zone, desired_sets, frozenset(absent_keys),
                 tuple(rec for group in desired_sets.values() for rec in group), ttl_rounding)
    keys = sorted(set(desired_sets) | absent_keys,
                  key=lambda k: (tuple(reversed(k[0].rstrip(".").split("."))), k[1]))
    uris = []
    for domain in dict.fromkeys(d.strip().rstrip(".").lower() for d in domains):
        for scheme in ("sip", "sips"):
            uri = f"{scheme}:{domain}"
            parse_uri(uri)  # a bad domain is the caller's error: raise now, not per server
            uris.append(uri)

    factory = source_factory or (lambda s: LiveSource([s], timeout=timeout, retries=0))
    sources = {server: factory(server) for server in servers}
    raw_checks: dict[str, dict[Key, RRsetCheck]] = {s: {} for s in servers}
    raw_routes: dict[str, dict[str, RouteCheck]] = {s: {} for s in servers}
    serials: dict[str, int | None] = dict.fromkeys(servers)
    soas: dict[str, ZoneAnswer | None] = dict.fromkeys(servers)
    todo = {server: (list(keys), list(uris)) for server in servers}
    attempts, delay = 0, FIRST_DELAY
    pools = {s: ThreadPoolExecutor(WORKERS_PER_SERVER, thread_name_prefix=f"verify {s}")
             for s in servers}
    drivers = ThreadPoolExecutor(len(servers), thread_name_prefix="verify")
    try:
        while True:
            attempts += 1
            futures = {s: drivers.submit(_attempt, s, sources[s], pools[s], plan, *todo[s])
                       for s in todo}
            for server, future in futures.items():
                outcome = future.result()
                soas[server] = outcome.soa
                if outcome.soa is None or not outcome.soa.indeterminate:
                    serials[server] = outcome.serial
                raw_checks[server].update(outcome.checks)
                raw_routes[server].update(outcome.routes)
            checks, routes, target = _settle(servers, raw_checks, raw_routes, serials,
                                             expected_serial)
            todo = {}
            for server in servers:
                bad_keys = [k for k in keys if checks[server][k].state != "ok"]
                bad_uris = [u for u in uris if not routes[server][u].agree]
                if bad_keys or bad_uris:
                    todo[server] = (bad_keys, bad_uris)
            remaining = deadline - clock()
            if not todo or remaining < 1e-3:  # less than a millisecond left: spent
                break
            sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_DELAY)
    finally:
        drivers.shutdown(wait=True)
        for pool in pools.values():
            pool.shutdown(wait=True)

    for server in servers:
        soa = soas[server]
        if soa is None:
            warn(f"{server}: the source cannot ask the SOA serial; pending (not yet "
                 "propagated) cannot be told from drift")
        elif soa.indeterminate:
            warn(f"{server}: the SOA query for {zone} failed ({soa.status}: {soa.detail}); "
                 "its RRsets are indeterminate")
        elif soa.status != "ok":
            warn(f"{server}: no SOA for {zone} ({soa.status}): the server does not hold the "
                 "zone")
        serial = serials[server]
        if serial is not None and target is not None and serial_lt(serial, target):
            warn(f"{server}: SOA serial {serial} is behind {target} after {attempts} "
                 f"attempt{'s' if attempts != 1 else ''}: not yet propagated (pending)")
        if (serial is not None and expected_serial is not None
                and serial_lt(expected_serial, serial)):
            warn(f"{server}: SOA serial {serial} is ahead of the expected {expected_serial}: "
                 "the zone changed after this apply")

    delegation = _delegation(zone, servers, sources, parent_servers, expected_ns, factory)
    if delegation.state == "not-checked":
        warn(UNDELEGATED_WARNING)
    elif delegation.state != "ok":
        warn(f"delegation {delegation.state}: {delegation.detail}")

    ordered_checks = [checks[s][k] for s in servers for k in keys]
    ordered_routes = [routes[s][u] for s in servers for u in uris]
    return ZoneVerification(zone, tuple(servers), ordered_checks, ordered_routes, delegation,
                            attempts, clock() - start, warnings, dict(serials))


def _settle(servers, raw_checks, raw_routes, serials, expected_serial):
    """Apply the pending rule to the latest raw results: (checks, routes, target serial)."""
    target = expected_serial if expected_serial is not None else highest_serial(serials.values())
    checks = {s: {k: mark_pending(c, serials[s], target) for k, c in raw_checks[s].items()}
              for s in servers}
    routes = {}
    for s in servers:
        behind = serials[s] is not None and target is not None and serial_lt(serials[s], target)
        routes[s] = {
            u: (replace(r, detail=f"server pending: serial {serials[s]} behind {target}; "
                                  f"{r.detail}") if behind and not r.agree else r)
            for u, r in raw_routes[s].items()}
    return checks, routes, target


def _delegation(zone: str, servers: list[str], sources: Mapping[str, DnsSource],
                parent_servers: list[str] | None, expected_ns: Iterable[str],
                factory: Callable[[str], DnsSource]) -> DelegationCheck:
    expected = tuple(sorted({fqdn(n) for n in expected_ns}))
    if not parent_servers:
        return DelegationCheck("not-checked", (), expected, "no parent servers given")
    expected_from = ""
    if not expected:
        # "names the servers that were verified" (V4): their own apex NS set.
        for server in servers:
            apex = _zone_query(sources[server], zone, "NS")
            if apex is not None and apex.status == "ok" and apex.ns:
                expected, expected_from = apex.ns, f"the apex NS set served by {server}"
                break
    parents = list(dict.fromkeys(parent_servers))
    answers: dict[str, ZoneAnswer] = {}
    with ThreadPoolExecutor(len(parents)) as pool:
        futures = {}
        for parent in parents:
            source = factory(parent)
            if not callable(getattr(source, "zone_query", None)):
                answers[parent] = ZoneAnswer("refused", detail="source cannot ask NS")
                continue
            futures[parent] = pool.submit(source.zone_query, zone, "NS")
        answers.update({parent: future.result() for parent, future in futures.items()})
    answers = {parent: answers[parent] for parent in parents}
    return delegation_check(zone, answers, expected, expected_from)
