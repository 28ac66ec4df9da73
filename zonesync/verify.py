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
unknown and pending cannot be told from drift (a warning says so). Ownership markers
(``_zonesync.<type>.<name> TXT``) are not compared: callers pass the compiled records only.

Many zones: ``verify_zones([ZoneSpec, ...])`` verifies them in one pass, each result exactly
what ``verify_zone`` gives for that zone alone (``verify_zone`` is ``verify_zones`` of one).
Per attempt and server: one pipelined batch of SOA queries for every zone, then the RRsets of
every zone plus the addresses the routes will need, in batches asked by a helper thread while
the previous batch is compared and its routes resolved; route lookups not answered yet are
asked together in rounds. Every (name, type) is asked once per attempt, shared by the checks
and the routes. The default source is ``dnssource.BatchSource``: many queries in flight on one
UDP socket, and a reply that is exactly the expected RRset (rdata bytes, TTL) is taken as "ok"
without a full parse (``Expected``); anything else — a different RRset, truncation (TCP),
CNAME, referral, SERVFAIL/REFUSED — goes through dnspython and ``check_rrset`` as always. A
live resolution whose every lookup got the same answer the compiled view gives is not run
again: it is the compiled one (the route then lists each RRset in the compiled order, not the
server's — RRset order means nothing in DNS, RFC 2181 §5).

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

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Literal, Mapping, Sequence

from .dnssource import (Answer, BatchSource, DnsSource, Expected, OverlaySource,
                        ZoneAnswer)
from .records import Record, fqdn, sort_key
from .resolve import Resolution, SipUri, Target, parse_uri, resolve

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
    ttl = records[0].ttl if len(records) == 1 else min(rec.ttl for rec in records)
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


# --- I/O: one attempt on one server, for many zones at once -----------------------------------

class _PoolBatch:
    """``query_many`` / ``zone_query_many`` over any ``DnsSource``: its ``query`` calls run
    concurrently on a thread pool (``BatchSource`` has its own, pipelined)."""

    def __init__(self, source: DnsSource, pool: ThreadPoolExecutor):
        self.source, self.pool = source, pool

    def query_many(self, keys, expected=None) -> dict[Key, Answer]:
        keys = list(dict.fromkeys(keys))
        if len(keys) == 1:
            return {keys[0]: self.source.query(*keys[0])}
        return dict(zip(keys, self.pool.map(lambda key: self.source.query(*key), keys)))

    def zone_query_many(self, zones, rtype) -> dict[str, ZoneAnswer] | None:
        ask = getattr(self.source, "zone_query", None)
        if not callable(ask):
            return None
        zones = list(dict.fromkeys(zones))
        if len(zones) == 1:
            return {zones[0]: ask(zones[0], rtype)}
        return dict(zip(zones, self.pool.map(lambda zone: ask(zone, rtype), zones)))


def _batch(source, pool: ThreadPoolExecutor):
    return source if callable(getattr(source, "query_many", None)) else _PoolBatch(source, pool)


class _Failing:
    """A server that did not answer: every question is indeterminate, at once."""

    def __init__(self, answer: ZoneAnswer):
        self.answer = answer

    def query(self, name: str, rtype: str) -> Answer:
        return Answer(self.answer.status, detail=self.answer.detail)


class _Miss(Exception):
    """Route lookups not answered yet in this attempt: asked in the next round. An address
    lookup brings its sibling (resolution asks A and AAAA together)."""

    def __init__(self, *keys: Key):
        super().__init__(*keys)
        self.keys = keys

    def wanted(self):
        for name, rtype in self.keys:
            yield name, rtype
            if rtype in ("A", "AAAA"):
                yield name, "AAAA" if rtype == "A" else "A"


class _Answers:
    """One attempt's answers from one server, shared by the RRset checks and every route
    (each (name, type) asked once per attempt). A question not asked yet raises ``_Miss``.
    ``raw`` keeps what ``query_many`` gave (an ``Expected`` where the RRset matched)."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.answers: dict[Key, Answer] = {}

    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower(), rtype.upper())
        found = self.answers.get(key)
        if found is not None:
            return found
        found = self.raw.get(key)
        if found is None:
            raise _Miss(key)
        if isinstance(found, Expected):
            found = found.answer()
        self.answers[key] = found
        return found

    def matched(self, key: Key) -> bool:
        return isinstance(self.raw.get(key), Expected)


class _Traced:
    """A source that remembers the last answer it gave (the overlay's fallback)."""

    __slots__ = ("source", "last")

    def __init__(self, source: DnsSource):
        self.source, self.last = source, None

    def query(self, name: str, rtype: str) -> Answer:
        self.last = None
        self.last = answer = self.source.query(name, rtype)
        return answer


class _CompiledView:
    """The compiled records laid over live answers (``OverlaySource``), recording what the
    resolution asked: the desired RRsets it got from the compiled records (``desired``) and
    the live answers it got through the overlay (``fallback``: (key, answer), and whether
    each was passed through untouched, ``passthrough``).

    If every desired RRset it read was served exactly as desired (the TTL aside, which
    resolution never reads) and every live answer passed through untouched, resolving over
    the live answers asks the same questions, gets the same answers and reaches the same
    Resolution: it need not be run (``resolve`` is deterministic). And the compiled
    resolution depends on nothing but the compiled records and ``fallback``: another server
    (or attempt) giving equal answers there gets the same one (``_ZoneRun.compiled``)."""

    def __init__(self, overlay: OverlaySource, cache: _Answers, traced: _Traced):
        self.overlay, self.cache, self.traced = overlay, cache, traced
        self.index = overlay._memory._index
        self.desired: list[Key] = []
        self.fallback: list[tuple[Key, Answer]] = []
        self.passthrough = True

    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower(), rtype.upper())
        self.traced.last = None
        answer = self.overlay.query(name, rtype)
        if key in self.index:
            self.desired.append(key)
        else:
            live = self.traced.last
            if live is not None:
                self.fallback.append((key, live))
            if answer is not live:
                self.passthrough = False
        return answer

    @property
    def same(self) -> bool:
        matched = self.cache.matched
        return self.passthrough and all(matched(key) for key in self.desired)


def _compiled_again(memo, cache: _Answers) -> tuple[Resolution, bool] | None:
    """(the remembered compiled Resolution, whether the live one equals it) when this
    server's answers to every live question it depended on are equal; else None."""
    resolution, desired, fallback, passthrough = memo
    missing = [key for key, _answer in fallback
               if key not in cache.answers and key not in cache.raw]
    if missing:  # ask them all in the next round (not one per round, as resolving would)
        raise _Miss(*missing)
    for key, answer in fallback:
        if cache.query(*key) != answer:
            return None
    matched = cache.matched
    return resolution, passthrough and all(matched(key) for key in desired)


MAX_ROUNDS = 16  # route lookups asked in rounds; after that, one by one


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
    _expected: dict[Key, Expected] | None = None
    _ok: dict[Key, tuple[tuple[str, ...], int]] | None = None
    _prefetch: tuple[Key, ...] | None = None
    _overlay: OverlaySource | None = None

    def expected(self) -> dict[Key, Expected]:
        """The wire form of every desired RRset (for ``BatchSource``'s byte comparison)."""
        if self._expected is None:
            self._expected = {}
            for key, group in self.desired.items():
                found = Expected.of(group, self.ttl(key))
                if found is not None:
                    self._expected[key] = found
        return self._expected

    def ttl(self, key: Key) -> int:
        if self._ok is None:
            self._ok = {}
        found = self._ok.get(key)
        if found is None:
            group = self.desired[key]
            found = self._ok[key] = (None, expected_ttl(group, self.ttl_rounding))
        return found[1]

    def ok_check(self, server: str, key: Key) -> RRsetCheck:
        """The check ``check_rrset`` gives when the server served exactly the desired RRset."""
        texts, ttl = self._ok.get(key) if self._ok else (None, None)
        if texts is None:
            ttl = self.ttl(key)
            texts = _texts(self.desired[key])
            self._ok[key] = (texts, ttl)  # type: ignore[index]
        return RRsetCheck(server, key[0], key[1], "ok", texts, texts, ttl, ttl)

    def prefetch(self) -> tuple[Key, ...]:
        """What the route resolutions will ask beyond the owned RRsets: the addresses of every
        SRV target (asked together with the checks, so the routes need no extra round)."""
        if self._prefetch is None:
            hosts = {rec.value.target for (name, rtype), group in self.desired.items()
                     if rtype == "SRV" for rec in group if rec.value.target != "."}
            self._prefetch = tuple((host, rtype) for host in sorted(hosts)
                                   for rtype in ("A", "AAAA"))
        return self._prefetch

    def overlay(self, fallback: DnsSource) -> OverlaySource:
        """The compiled records laid over ``fallback`` (built once, re-pointed per server)."""
        if self._overlay is None:
            self._overlay = OverlaySource(self.records, self.absent, fallback)
        view = object.__new__(OverlaySource)
        view.__dict__.update(self._overlay.__dict__)
        view.fallback = fallback
        return view


@dataclass
class _Task:
    """One zone's share of one attempt on one server: what is still not ok there."""

    run: "_ZoneRun"
    keys: list[Key]
    uris: list[str]


def _dead_outcome(server: str, plan: _Plan, soa: ZoneAnswer, keys, uris) -> _Outcome:
    """The server does not answer for the zone at all: do not wait for every RRset's timeout."""
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
    return _Outcome(None, soa, checks, routes)


CHUNK_QUESTIONS = 600  # questions a batch: the next batch is on the wire while one is compared
FIRST_CHUNK = 150      # the first one smaller: comparing starts sooner


def _attempt_many(server: str, source, tasks: list[_Task]) -> list[_Outcome]:
    """One attempt on one server for every zone in ``tasks``: all SOA serials (one batch),
    then every RRset and the addresses the routes will need, in batches of about
    ``CHUNK_QUESTIONS`` questions asked by a helper thread one after the other while this
    thread compares the previous batch and resolves its routes (their further lookups asked
    in rounds, each round one batch)."""
    soas = source.zone_query_many([t.run.plan.zone for t in tasks], "SOA")
    outcomes: list[_Outcome | None] = [None] * len(tasks)
    live: list[int] = []
    for index, task in enumerate(tasks):
        soa = soas.get(task.run.plan.zone) if soas is not None else None
        if soa is not None and soa.indeterminate:
            outcomes[index] = _dead_outcome(server, task.run.plan, soa, task.keys, task.uris)
        else:
            live.append(index)
    fast = callable(getattr(source, "query_many", None)) and not isinstance(source, _PoolBatch)
    chunks: list[tuple[list[int], list[Key], dict[Key, Expected]]] = []
    asked: set[Key] = set()
    members: list[int] = []
    questions: list[Key] = []
    expected: dict[Key, Expected] = {}
    for index in live:
        task = tasks[index]
        plan = task.run.plan
        wanted = list(task.keys) + (list(plan.prefetch()) if task.uris else [])
        for key in wanted:
            if key not in asked:
                asked.add(key)
                questions.append(key)
        if fast:
            wire = plan.expected()
            expected.update((key, wire[key]) for key in task.keys if key in wire)
        members.append(index)
        if len(questions) >= (CHUNK_QUESTIONS if chunks else FIRST_CHUNK):
            chunks.append((members, questions, expected))
            members, questions, expected = [], [], {}
    if members:
        chunks.append((members, questions, expected))
    answers: dict = {}

    def ask(questions: list[Key], expected: dict[Key, Expected]) -> dict:
        return source.query_many(questions, expected) if questions else {}

    with ThreadPoolExecutor(1, thread_name_prefix=f"verify-ask {server}") as asker:
        futures = [asker.submit(ask, q, e) for _m, q, e in chunks[1:]]
        for number, (members, questions, expected) in enumerate(chunks):
            answers.update(ask(questions, expected) if number == 0
                           else futures[number - 1].result())
            for index in members:
                task = tasks[index]
                plan = task.run.plan
                checks = {}
                for key in task.keys:
                    answer = answers[key]
                    if isinstance(answer, Expected):
                        checks[key] = plan.ok_check(server, key)
                    else:
                        checks[key] = check_rrset(server, *key, plan.desired.get(key), answer,
                                                  plan.ttl_rounding)
                soa = soas.get(plan.zone) if soas is not None else None
                serial = soa.serial if soa is not None and soa.status == "ok" else None
                outcomes[index] = _Outcome(serial, soa, checks, {})
            _routes(server, source, [(tasks[i], outcomes[i]) for i in members if tasks[i].uris],
                    answers)
    return outcomes  # type: ignore[return-value]


def _routes(server: str, source, work: list[tuple[_Task, _Outcome]], answers: dict) -> None:
    """Resolve every URI over the compiled overlay and over the attempt's live answers
    (skipped when provably equal, see ``_CompiledView``); lookups not answered yet are
    collected and asked together, then the resolutions that needed them run again
    (``resolve`` is pure over its source)."""
    cache = _Answers(answers)
    traced = _Traced(cache)
    todo = [(task, outcome, uri) for task, outcome in work for uri in task.uris]
    overlays: dict[int, OverlaySource] = {}
    rounds = 0
    while todo:
        rounds += 1
        missing: dict[Key, None] = {}
        again = []
        for task, outcome, uri in todo:
            run = task.run
            parsed = run.parsed[uri]
            overlay = overlays.get(id(run))
            if overlay is None:
                overlay = overlays[id(run)] = run.plan.overlay(traced)
            try:
                memo = run.compiled.get(uri)
                again_ = _compiled_again(memo, cache) if memo is not None else None
                if again_ is not None:
                    compiled, same = again_
                else:
                    view = _CompiledView(overlay, cache, traced)
                    compiled = resolve(parsed, view)
                    same = view.same
                    run.compiled[uri] = (compiled, tuple(view.desired), tuple(view.fallback),
                                         view.passthrough)
                live = compiled if same else resolve(parsed, cache)
            except _Miss as miss:
                missing.update(dict.fromkeys(miss.wanted()))
                again.append((task, outcome, uri))
                continue
            outcome.routes[uri] = route_check(uri, server, live, compiled)
        if not again:
            return
        if rounds >= MAX_ROUNDS:  # a pathological chain: ask what is left one by one
            cache = _OneByOne(cache, source)
            traced = _Traced(cache)
            overlays.clear()
        else:
            answers.update(source.query_many(list(missing)))
        todo = again


class _OneByOne(_Answers):
    def __init__(self, cache: _Answers, source):
        super().__init__(cache.raw)
        self.answers = cache.answers
        self.source = source

    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower(), rtype.upper())
        if key not in self.answers and key not in self.raw:
            self.raw.update(self.source.query_many([key]))
        return super().query(name, rtype)


# --- the entry points --------------------------------------------------------------------------

_UNSET = object()


@dataclass
class ZoneSpec:
    """One zone to verify with ``verify_zones``: what ``verify_zone`` takes, per zone.

    ``servers``, ``wait`` and ``parent_servers`` left None take ``verify_zones``' arguments."""

    zone: str
    desired: Iterable[Record]
    absent: Iterable[tuple[str, str]] = ()
    domains: Iterable[str] = ()
    servers: Sequence[str] | None = None
    wait: float | None = None
    ttl_rounding: Callable[[int], int] | None = None
    expected_serial: int | None = None
    parent_servers: Sequence[str] | None = None
    expected_ns: Iterable[str] = ()


class _ZoneRun:
    """One zone's verification state across attempts."""

    def __init__(self, spec: ZoneSpec, servers: list[str], deadline: float,
                 parent_servers: list[str] | None):
        zone = fqdn(spec.zone)
        self.servers = list(dict.fromkeys(servers))
        if not self.servers:
            raise ValueError("verify_zone needs at least one server")
        self.warnings: list[str] = []
        desired_sets = group_rrsets(spec.desired)
        for (name, rtype), group in desired_sets.items():
            if name != zone and not name.endswith("." + zone):
                raise ValueError(f"{name} {rtype} is outside the zone {zone}")
            if len({rec.ttl for rec in group}) > 1:
                self.warn(f"{name} {rtype} has records with different TTLs; the lowest is "
                          "expected (RFC 2181 §5.2)")
        absent_keys = set()
        for name, rtype in spec.absent:
            key = (fqdn(name), rtype.upper())
            if key in desired_sets:
                self.warn(f"{key[0]} {key[1]} is both desired and absent; checked as desired")
                continue
            if key[0] != zone and not key[0].endswith("." + zone):
                raise ValueError(f"{key[0]} {key[1]} is outside the zone {zone}")
            absent_keys.add(key)
        self.plan = _Plan(zone, desired_sets, frozenset(absent_keys),
                          tuple(rec for group in desired_sets.values() for rec in group),
                          spec.ttl_rounding)
        self.keys = sorted(set(desired_sets) | absent_keys,
                           key=lambda k: (tuple(reversed(k[0].rstrip(".").split("."))), k[1]))
        self.uris = []
        self.parsed: dict[str, str | SipUri] = {}
        # uri → the last compiled Resolution and what it depended on (``_CompiledView``)
        self.compiled: dict[str, tuple] = {}
        for domain in dict.fromkeys(d.strip().rstrip(".").lower() for d in spec.domains):
            for scheme in ("sip", "sips"):
                uri = f"{scheme}:{domain}"
                parsed = parse_uri(uri)  # a bad domain is the caller's error: raise now
                self.uris.append(uri)
                # resolve() takes the parsed form when it prints as the same text (an IDN
                # would not: Resolution.uri must stay the text asked)
                self.parsed[uri] = parsed if str(parsed) == uri else uri
        self.deadline = deadline
        self.expected_serial = spec.expected_serial
        self.parent_servers = parent_servers
        self.expected_ns = tuple(spec.expected_ns)
        self.raw_checks: dict[str, dict[Key, RRsetCheck]] = {s: {} for s in self.servers}
        self.raw_routes: dict[str, dict[str, RouteCheck]] = {s: {} for s in self.servers}
        self.serials: dict[str, int | None] = dict.fromkeys(self.servers)
        self.soas: dict[str, ZoneAnswer | None] = dict.fromkeys(self.servers)
        self.todo = {s: (list(self.keys), list(self.uris)) for s in self.servers}
        self.attempts = 0
        self.finished_at: float | None = None
        self.checks: dict = {}
        self.routes: dict = {}
        self.target: int | None = None

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def record(self, server: str, outcome: _Outcome) -> None:
        self.soas[server] = outcome.soa
        if outcome.soa is None or not outcome.soa.indeterminate:
            self.serials[server] = outcome.serial
        self.raw_checks[server].update(outcome.checks)
        self.raw_routes[server].update(outcome.routes)

    def settle(self) -> None:
        self.checks, self.routes, self.target = _settle(
            self.servers, self.raw_checks, self.raw_routes, self.serials, self.expected_serial)
        self.todo = {}
        for server in self.servers:
            bad_keys = [k for k in self.keys if self.checks[server][k].state != "ok"]
            bad_uris = [u for u in self.uris if not self.routes[server][u].agree]
            if bad_keys or bad_uris:
                self.todo[server] = (bad_keys, bad_uris)

    def result(self, delegation: DelegationCheck, elapsed: float) -> ZoneVerification:
        zone, target, attempts = self.plan.zone, self.target, self.attempts
        for server in self.servers:
            soa = self.soas[server]
            if soa is None:
                self.warn(f"{server}: the source cannot ask the SOA serial; pending (not yet "
                          "propagated) cannot be told from drift")
            elif soa.indeterminate:
                self.warn(f"{server}: the SOA query for {zone} failed ({soa.status}: "
                          f"{soa.detail}); its RRsets are indeterminate")
            elif soa.status != "ok":
                self.warn(f"{server}: no SOA for {zone} ({soa.status}): the server does not "
                          "hold the zone")
            serial = self.serials[server]
            if serial is not None and target is not None and serial_lt(serial, target):
                self.warn(f"{server}: SOA serial {serial} is behind {target} after {attempts} "
                          f"attempt{'s' if attempts != 1 else ''}: not yet propagated (pending)")
            if (serial is not None and self.expected_serial is not None
                    and serial_lt(self.expected_serial, serial)):
                self.warn(f"{server}: SOA serial {serial} is ahead of the expected "
                          f"{self.expected_serial}: the zone changed after this apply")
        if delegation.state == "not-checked":
            self.warn(UNDELEGATED_WARNING)
        elif delegation.state != "ok":
            self.warn(f"delegation {delegation.state}: {delegation.detail}")
        checks = [self.checks[s][k] for s in self.servers for k in self.keys]
        routes = [self.routes[s][u] for s in self.servers for u in self.uris]
        return ZoneVerification(zone, tuple(self.servers), checks, routes, delegation,
                                attempts, elapsed, self.warnings, dict(self.serials))


def verify_zones(zones: Iterable[ZoneSpec], servers: Sequence[str] | None = None, *,
                 wait: float = 0.0, parent_servers: Sequence[str] | None = None,
                 timeout: float = 2.0,
                 source_factory: Callable[[str], DnsSource] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> list[ZoneVerification]:
    """Verify many zones in one pass: one ``ZoneVerification`` per ``ZoneSpec``, in order,
    each exactly what ``verify_zone`` gives for that zone alone.

    Every attempt asks each server all the zones' SOA serials, then all their RRsets (and
    the addresses the routes need) in one pipelined batch, then resolves the routes from
    those answers; what is not ok is retried (0.1 s doubling, at most 2 s) until each zone's
    ``wait`` is spent. A zone's ``servers`` / ``wait`` / ``parent_servers`` default to these
    arguments. ``source_factory(server)`` gives each server's source, once per call (default:
    ``BatchSource(server, timeout)``: pipelined UDP, the wire fast path); a source without
    ``query_many`` is asked concurrently on a thread pool."""
    start = clock()
    runs = []
    for spec in zones:
        budget = wait if spec.wait is None else spec.wait
        runs.append(_ZoneRun(spec, list(spec.servers if spec.servers is not None
                                        else servers or ()),
                             start + max(0.0, budget),
                             list(spec.parent_servers if spec.parent_servers is not None
                                  else parent_servers or ()) or None))
    if not runs:
        return []
    factory = source_factory or (lambda s: BatchSource(s, timeout=timeout))
    all_servers = list(dict.fromkeys(s for run in runs for s in run.servers))
    sources = {server: factory(server) for server in all_servers}
    pools = {s: ThreadPoolExecutor(WORKERS_PER_SERVER, thread_name_prefix=f"verify {s}")
             for s in all_servers}
    batches = {s: _batch(sources[s], pools[s]) for s in all_servers}
    drivers = ThreadPoolExecutor(len(all_servers), thread_name_prefix="verify")
    delay = FIRST_DELAY
    try:
        while True:
            active = [run for run in runs if run.todo]
            for run in active:
                run.attempts += 1
            per_server: dict[str, list[_Task]] = {}
            for run in active:
                for server, (keys, uris) in run.todo.items():
                    per_server.setdefault(server, []).append(_Task(run, keys, uris))
            # The first server alone, then the others together: they reuse its compiled
            # routes where they answer alike (``_CompiledView``); their waits overlap.
            (first, tasks), *others = per_server.items()
            results = {first: _attempt_many(first, batches[first], tasks)}
            futures = {s: drivers.submit(_attempt_many, s, batches[s], tasks)
                       for s, tasks in others}
            results.update((s, f.result()) for s, f in futures.items())
            for server, tasks in per_server.items():
                for task, outcome in zip(tasks, results[server]):
                    task.run.record(server, outcome)
            now = clock()
            waiting = []
            for run in active:
                run.settle()
                if run.todo and run.deadline - now >= 1e-3:  # a millisecond left: not spent
                    waiting.append(run)
                else:
                    run.todo = {}
                    run.finished_at = now
            if not waiting:
                break
            sleep(min(delay, min(run.deadline - now for run in waiting)))
            delay = min(delay * 2, MAX_DELAY)
        delegations = _delegations(runs, sources, batches, factory, pools)
    finally:
        drivers.shutdown(wait=True)
        for pool in pools.values():
            pool.shutdown(wait=True)
    end = clock()
    return [run.result(delegations[i], (run.finished_at or end) - start if len(runs) > 1
                       else end - start)
            for i, run in enumerate(runs)]


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
    source (default: ``BatchSource(server, timeout)``, no retries of its own beyond resending
    within ``timeout``: retrying is done here). Many zones: ``verify_zones``."""
    spec = ZoneSpec(zone, desired, absent, domains, servers=list(servers), wait=wait,
                    ttl_rounding=ttl_rounding, expected_serial=expected_serial,
                    parent_servers=parent_servers, expected_ns=expected_ns)
    return verify_zones([spec], timeout=timeout, source_factory=source_factory, sleep=sleep,
                        clock=clock)[0]


def _settle(servers, raw_checks, raw_routes, serials, expected_serial):
    """Apply the pending rule to the latest raw results: (checks, routes, target serial)."""
    target = expected_serial if expected_serial is not None else highest_serial(serials.values())
    checks = {}
    routes = {}
    for s in servers:
        serial = serials[s]
        behind = serial is not None and target is not None and serial_lt(serial, target)
        if behind:
            checks[s] = {k: mark_pending(c, serial, target) for k, c in raw_checks[s].items()}
        else:
            checks[s] = raw_checks[s]  # mark_pending changes nothing for a server not behind
        routes[s] = {
            u: (replace(r, detail=f"server pending: serial {serial} behind {target}; "
                                  f"{r.detail}") if behind and not r.agree else r)
            for u, r in raw_routes[s].items()} if behind else raw_routes[s]
    return checks, routes, target


def _delegations(runs: list[_ZoneRun], sources: Mapping[str, DnsSource], batches,
                 factory: Callable[[str], DnsSource],
                 pools: Mapping[str, ThreadPoolExecutor]) -> list[DelegationCheck]:
    """SPEC V4 for every zone that has parent servers: their NS questions batched per server."""
    out: list[DelegationCheck | None] = [None] * len(runs)
    expected: dict[int, tuple[tuple[str, ...], str]] = {}
    for i, run in enumerate(runs):
        names = tuple(sorted({fqdn(n) for n in run.expected_ns}))
        if not run.parent_servers:
            out[i] = DelegationCheck("not-checked", (), names, "no parent servers given")
        else:
            expected[i] = (names, "")
    if not expected:
        return out  # type: ignore[return-value]
    # "names the servers that were verified" (V4): their own apex NS set, first server first.
    need = {i for i, (names, _) in expected.items() if not names}
    for server in dict.fromkeys(s for i in need for s in runs[i].servers):
        asking = [i for i in need if server in runs[i].servers]
        if not asking:
            continue
        answers = batches[server].zone_query_many([runs[i].plan.zone for i in asking], "NS")
        for i in asking:
            apex = answers.get(runs[i].plan.zone) if answers is not None else None
            if apex is not None and apex.status == "ok" and apex.ns:
                expected[i] = (apex.ns, f"the apex NS set served by {server}")
                need.discard(i)
    parents = list(dict.fromkeys(p for i in expected for p in runs[i].parent_servers))
    parent_pools = {p: pools.get(p) or ThreadPoolExecutor(WORKERS_PER_SERVER) for p in parents}

    def ask(parent: str) -> dict[str, ZoneAnswer]:
        zones = [runs[i].plan.zone for i in expected if parent in runs[i].parent_servers]
        source = sources.get(parent) or factory(parent)
        if not callable(getattr(source, "zone_query", None)) and \
                not callable(getattr(source, "zone_query_many", None)):
            return {z: ZoneAnswer("refused", detail="source cannot ask NS") for z in zones}
        return _batch(source, parent_pools[parent]).zone_query_many(zones, "NS")

    try:
        with ThreadPoolExecutor(len(parents)) as pool:
            by_parent = dict(zip(parents, pool.map(ask, parents)))
    finally:
        for parent, pool in parent_pools.items():
            if parent not in pools:
                pool.shutdown(wait=True)
    for i, (names, source_note) in expected.items():
        answers = {p: by_parent[p][runs[i].plan.zone]
                   for p in dict.fromkeys(runs[i].parent_servers)}
        out[i] = delegation_check(runs[i].plan.zone, answers, names, source_note)
    return out  # type: ignore[return-value]
