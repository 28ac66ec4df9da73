"""Resolve a SIP URI exactly as an RFC 3263 client would (SPEC §4, rules R1–R10).

Pure: every DNS answer comes from the ``DnsSource`` passed in, so the same code runs against
compiled records (``MemorySource``) and against live servers (``LiveSource``). Failures are
values: a ``Resolution`` with ``error`` set and ``warnings``; only an unparseable URI raises
(``UriError``).
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass


from . import names
from .dnssource import Answer, DnsSource
from .records import Naptr, Srv, fqdn
from .transports import DEFAULT_PORT, SECURE, SERVICE, SRV_PREFIX, TRANSPORT_OF_SERVICE

# --- transports (the table lives in ``transports``) -----------------------------------------

TRANSPORTS = tuple(SERVICE)

# transport= values a URI may carry, and what they mean for sip: / sips: (RFC 3261 §19.1.1,
# RFC 3263 §4.1, RFC 4168 §5, RFC 7118 §5.2). None = not allowed (R1).
URI_TRANSPORT = {
    "udp": ("udp", None), "tcp": ("tcp", "tls"), "tls": ("tls", "tls"),
    "sctp": ("sctp", "tls-sctp"), "ws": ("ws", "wss"), "wss": ("wss", "wss"),
}

MAX_CNAME_CHAIN = 8


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """One hop a caller tries, in order (SPEC V3). ``address`` is None when its lookup was
    indeterminate (R10): the hop exists, its address is unknown."""

    transport: str
    host: str
    port: int
    address: str | None

    def to_json(self) -> dict:
        return {"transport": self.transport, "host": self.host, "port": self.port,
                "address": self.address}


@dataclass(frozen=True)
class Resolution:
    uri: str
    targets: tuple[Target, ...]
    warnings: tuple[str, ...]
    error: str | None
    steps: tuple[str, ...]

    def to_json(self) -> dict:
        return {"uri": self.uri, "targets": [t.to_json() for t in self.targets],
                "warnings": list(self.warnings), "error": self.error,
                "steps": list(self.steps)}


@dataclass(frozen=True)
class Profile:
    """A client's behaviour: supported transports in preference order, and its RFC 3263 quirks."""

    name: str
    transports: tuple[str, ...]
    naptr: bool = True              # queries NAPTR (R5)
    one_transport: bool = False     # only the best NAPTR's transport (sofia nta)
    dead_end_fallback: bool = True  # SRV fallback after a NAPTR dead end (R7)
    description: str = ""

    def rank(self, transport: str) -> int:
        return self.transports.index(transport)


PROFILES: dict[str, Profile] = {
    "rfc3263": Profile("rfc3263", ("udp", "tcp", "tls"),
                       description="RFC 3263 §4 as written (SPEC R1–R10)"),
    "srv-only": Profile("srv-only", ("udp", "tcp", "tls"), naptr=False,
                        description="pjsip / Kamailio default: no NAPTR, SRV per transport"),
    "sofia": Profile("sofia", ("udp", "tcp", "tls"), one_transport=True,
                     dead_end_fallback=False,
                     description="sofia-sip nta: NAPTR, one transport, no fallback on a dead end"),
}


# --- URI parsing (RFC 3261 §19.1) -------------------------------------------------------------

class UriError(ValueError):
    """The text is not a SIP or SIPS URI this resolver understands."""


@dataclass(frozen=True)
class SipUri:
    scheme: str                 # "sip" | "sips"
    user: str | None
    host: str                   # lower-case; IPv6 without brackets; names without trailing dot
    port: int | None
    transport: str | None       # the transport= parameter, lower-case, as written
    maddr: str | None
    params: tuple[tuple[str, str | None], ...] = ()

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def target(self) -> str:
        """TARGET of RFC 3263 §4: maddr if present, else the host (R1)."""
        return self.maddr or self.host

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user is not None else ""
        port = f":{self.port}" if self.port is not None else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params)
        return f"{self.scheme}:{user}{_bracket(self.host)}{port}{params}"


_URI_RE = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):"
    r"(?:(?P<user>[^@]*)@)?"
    r"(?P<host>\[[^\]]*\]|[^;?:\[\]]*)"
    r"(?::(?P<port>[^;?]*))?"
    r"(?P<params>;[^?]*)?"
    r"(?:\?(?P<headers>.*))?$",
    re.DOTALL,
)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")


def parse_uri(text: str) -> SipUri:
    """Parse a ``sip:``/``sips:`` URI (RFC 3261 §19.1.1); raise ``UriError`` otherwise."""
    if not isinstance(text, str):
        raise UriError(f"a SIP URI must be text, not {type(text).__name__}")
    raw = text.strip()
    if not raw:
        raise UriError("empty URI: expected sip:user@host or sips:user@host")
    if any(ch.isspace() for ch in raw):
        raise UriError(f"{raw!r}: a SIP URI cannot contain whitespace")
    match = _URI_RE.match(raw)
    if not match:
        raise UriError(f"{raw!r} is not a SIP URI: expected sip:user@host[:port][;params]")
    scheme = match["scheme"].lower()
    if scheme not in ("sip", "sips"):
        raise UriError(f"{raw!r}: only sip: and sips: URIs can be resolved (got {scheme}:)")
    if ":" in (match["port"] or ""):
        raise UriError(f"{raw!r}: an IPv6 host must be written in brackets, e.g. [2001:db8::1]")
    host = _parse_host(match["host"], raw)
    port = _parse_port(match["port"], raw)
    params = _parse_params(match["params"] or "", raw)
    values = dict(params)
    transport = values.get("transport")
    maddr = _parse_host(values["maddr"] or "", raw, what="maddr") if "maddr" in values else None
    return SipUri(scheme, match["user"], host, port, transport, maddr, params)


def _parse_host(text: str, raw: str, what: str = "host") -> str:
    """A host: [IPv6], IPv4 or a domain name (IDN converted, UTS #46)."""
    if not text:
        raise UriError(f"{raw!r}: empty {what}")
    if text.startswith("["):
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            raise UriError(f"{raw!r}: {text} is not a valid IPv6 address") from None
    if ":" in text:
        raise UriError(f"{raw!r}: an IPv6 {what} must be written in brackets, e.g. [2001:db8::1]")
    if all(label.isdigit() for label in text.rstrip(".").split(".")):
        try:
            return str(ipaddress.IPv4Address(text.rstrip(".")))
        except ValueError:
            raise UriError(f"{raw!r}: {text} is not a valid IPv4 address") from None
    try:
        return names.host_name(text, allow_single_label=True)
    except names.NameProblem as exc:
        raise UriError(f"{raw!r}: {what} {text!r} is not a valid domain name ({exc.message})") from None


def _parse_port(text: str | None, raw: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 5:
        raise UriError(f"{raw!r}: port {text!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise UriError(f"{raw!r}: port {port} is out of range (1–65535)")
    return port


def _parse_params(text: str, raw: str) -> tuple[tuple[str, str | None], ...]:
    """``;name[=value]`` pairs; transport and maddr are checked, others kept as written."""
    out: list[tuple[str, str | None]] = []
    for item in text.split(";")[1:]:
        name, eq, value = item.partition("=")
        if not _TOKEN_RE.match(name):
            raise UriError(f"{raw!r}: malformed URI parameter {item!r}")
        name = name.lower()
        if name in ("transport", "maddr"):
            if any(k == name for k, _ in out):
                raise UriError(f"{raw!r}: the {name} parameter appears twice")
            if not eq or not value:
                raise UriError(f"{raw!r}: the {name} parameter needs a value")
        if name == "transport":
            value = value.lower()
            if value not in URI_TRANSPORT:
                raise UriError(
                    f"{raw!r}: unsupported transport={value!r}; expected udp, tcp, tls, sctp or "
                    "ws (secure WebSocket is sips:…;transport=ws, RFC 7118 §5.2)")
        out.append((name, value if eq else None))
    return tuple(out)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


# --- SRV ordering (RFC 2782, SPEC R8) ---------------------------------------------------------

def order_srv(records: list[Srv], rng: random.Random | None = None) -> list[Srv]:
    """Priority ascending; within a priority the deterministic order (weight ↓, target ↑,
    port ↑) or, with an ``rng``, RFC 2782 weighted random selection."""
    out: list[Srv] = []
    for priority in sorted({r.priority for r in records}):
        tier = sorted((r for r in records if r.priority == priority),
                      key=lambda r: (-r.weight, r.target, r.port))
        out.extend(tier if rng is None else weighted_order(tier, rng))
    return out


def weighted_order(tier: list[Srv], rng: random.Random) -> list[Srv]:
    """RFC 2782 selection: weight-0 records first in the running sum, pick the first whose
    running sum ≥ a uniform random number in [0, total]; remove it; repeat."""
    remaining = sorted(tier, key=lambda r: r.weight != 0)  # stable: keeps the given order
    out = []
    while remaining:
        pick = rng.randint(0, sum(r.weight for r in remaining))
        running = 0
        for index, record in enumerate(remaining):
            running += record.weight
            if running >= pick:
                out.append(remaining.pop(index))
                break
    return out


# --- one resolution run -----------------------------------------------------------------------

@dataclass
class _Hop:
    """What one SRV owner (or A/AAAA name) led to."""

    state: str  # "found" | "absent" | "unavailable" | "indeterminate"
    targets: list[Target]
    detail: str = ""


class _Run:
    """Queries through the source, recording steps and (deduplicated) warnings."""

    def __init__(self, source: DnsSource, profile: Profile, rng: random.Random | None):
        self.source, self.profile, self.rng = source, profile, rng
        self.steps: list[str] = []
        self.warnings: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
        self.step(f"warning: {text}")

    def lookup(self, name: str, rtype: str, alias_note: str = "") -> Answer:
        """Query, following a CNAME the source did not follow itself (R9: reported)."""
        seen = [fqdn(name)]
        answer = self._ask(seen[0], rtype)
        while answer.cname and not answer.indeterminate:
            target = fqdn(answer.cname)
            self.warn(f"{_bare(seen[-1])} is a CNAME for {_bare(target)}{alias_note}")
            if any(r.type == rtype for r in answer.records):
                break
            if target in seen or len(seen) > MAX_CNAME_CHAIN:
                self.warn(f"CNAME chain from {_bare(seen[0])} loops or is too long")
                return Answer("servfail", detail="CNAME loop")
            seen.append(target)
            answer = self._ask(target, rtype)
        return answer

    def _ask(self, name: str, rtype: str) -> Answer:
        answer = self.source.query(name, rtype)
        found = [r.value.to_text() for r in answer.records if r.type == rtype]
        detail = f" ({answer.detail})" if answer.detail else ""
        what = " | ".join(found) if found else answer.status
        if answer.cname:
            what += f", CNAME {answer.cname}"
        self.step(f"{rtype} {name} → {what}{detail}")
        return answer


def _bare(name: str) -> str:
    return name.rstrip(".") or "."


def _indeterminate(name: str, rtype: str, answer: Answer) -> str:
    detail = f": {answer.detail}" if answer.detail else ""
    return (f"the {rtype} lookup for {_bare(name)} failed ({answer.status.upper()}{detail}); "
            "the result is indeterminate, not absent (SPEC R10)")


# --- A/AAAA (RFC 3263 §4.2, R9) ---------------------------------------------------------------

def _addresses(run: _Run, name: str, transport: str, port: int, role: str = "") -> _Hop:
    """A then AAAA for ``name``; one Target per address."""
    note = "; an SRV target must not be an alias (RFC 2782)" if role == "srv" else ""
    answers = [(rtype, run.lookup(name, rtype, note)) for rtype in ("A", "AAAA")]
    host = _bare(fqdn(name))
    targets = [Target(transport, host, port, address) for rtype, answer in answers
               for address in _sorted_addresses(answer, rtype)]
    failed = [(rtype, a) for rtype, a in answers if a.indeterminate]
    for rtype, answer in failed:
        run.warn(_indeterminate(name, rtype, answer))
    if targets:
        return _Hop("found", targets)
    if failed:
        return _Hop("indeterminate", [Target(transport, host, port, None)],
                    _indeterminate(name, failed[0][0], failed[0][1]))
    nx = all(a.status == "nxdomain" for _, a in answers)
    return _Hop("absent", [], "does not exist (NXDOMAIN)" if nx else "has no A/AAAA records")


def _sorted_addresses(answer: Answer, rtype: str) -> list[str]:
    """The addresses of one RRset in numeric order, so that the output does not depend on the
    server's RRset rotation (SPEC R8: deterministic output; V2 compares live with compiled)."""
    found = {str(r.value) for r in answer.records if r.type == rtype}
    return sorted(found, key=ipaddress.ip_address)


# --- SRV (RFC 3263 §4.2, RFC 2782, R8) --------------------------------------------------------

def _srv(run: _Run, owner: str, transport: str) -> _Hop:
    """The SRV RRset at ``owner`` → targets in order, each resolved to its addresses."""
    answer = run.lookup(owner, "SRV")
    if answer.indeterminate:
        detail = _indeterminate(owner, "SRV", answer)
        run.warn(detail)
        return _Hop("indeterminate", [], detail)
    records = [r.value for r in answer.records if r.type == "SRV"]
    if not records:
        return _Hop("absent", [], f"{_bare(owner)} has no SRV records")
    real = [r for r in records if not r.unavailable]
    if not real:
        detail = (f"{_bare(owner)} says {transport} service is decidedly not available "
                  "(SRV target \".\", RFC 2782)")
        run.step(detail)
        return _Hop("unavailable", [], detail)
    if len(real) != len(records):
        run.warn(f"{_bare(owner)} mixes a \".\" target with real targets; \".\" ignored")
    targets: list[Target] = []
    for srv in order_srv(real, run.rng):
        hop = _addresses(run, srv.target, transport, srv.port, role="srv")
        if hop.state == "absent":
            run.warn(f"SRV target {_bare(srv.target)} ({_bare(owner)}) {hop.detail}")
        targets.extend(hop.targets)
    return _Hop("found", targets)


def _combine(hops: list[_Hop]) -> tuple[list[Target], str]:
    """Concatenate hops; the overall state: found > unavailable > indeterminate > absent."""
    targets = [t for hop in hops for t in hop.targets]
    states = {hop.state for hop in hops}
    for state in ("found", "unavailable", "indeterminate", "absent"):
        if state in states:
            return targets, state
    return targets, "absent"


# --- the rules --------------------------------------------------------------------------------

def resolve(uri: str | SipUri, source: DnsSource, profile: str = "rfc3263",
            rng: random.Random | None = None) -> Resolution:
    """Resolve ``uri`` as the client ``profile`` would (RFC 3263 §4, SPEC R1–R10)."""
    parsed = uri if isinstance(uri, SipUri) else parse_uri(uri)
    if profile not in PROFILES:
        raise ValueError(f"unknown client profile {profile!r}; known: {', '.join(PROFILES)}")
    run = _Run(source, PROFILES[profile], rng)
    run.step(f"profile {profile}: transports {', '.join(run.profile.transports)}")
    targets, error = _resolve(parsed, run)
    if targets and all(t.address is None for t in targets) and error is None:
        error = ("no target address could be determined: the lookups were indeterminate "
                 "(SERVFAIL or timeout), not absent (SPEC R10)")
    if not targets and error is None:
        error = f"{parsed.target} cannot be reached"
    if error:
        run.step(f"error: {error}")
    text = uri.strip() if isinstance(uri, str) else str(uri)
    return Resolution(text, tuple(targets), tuple(run.warnings), error, tuple(run.steps))


def _resolve(uri: SipUri, run: _Run) -> tuple[list[Target], str | None]:
    """Dispatch on the URI's shape: R1 → R2 / R3 / R4 / R5–R7."""
    transport, error = _uri_transport(uri, run)
    if error:
        return [], error
    if _ip(uri.target):
        return _numeric(uri, transport, run)
    if uri.port is not None:
        return _explicit_port(uri, transport, run)
    if transport:
        return _explicit_transport(uri, transport, run)
    return _naptr(uri, run)


def _uri_transport(uri: SipUri, run: _Run) -> tuple[str | None, str | None]:
    """R1: the transport a transport= parameter selects, or an error (sips: over UDP)."""
    if uri.transport is None:
        return None, None
    plain, secure = URI_TRANSPORT[uri.transport]
    if uri.secure and secure is None:
        return None, ("a sips: URI cannot use transport=udp: SIPS needs TLS, which does not run "
                      "over UDP (RFC 5630 §3.1.4, SPEC R1)")
    transport = secure if uri.secure else plain
    if uri.transport == "wss":
        run.warn("transport=wss is not a registered URI value; secure WebSocket is written "
                 "sips:…;transport=ws (RFC 7118 §5.2)")
    if transport not in run.profile.transports:
        run.warn(f"the {run.profile.name} client does not support {transport}; "
                 "the targets show where the URI points")
    run.step(f"transport={uri.transport} on a {uri.scheme}: URI → {transport}")
    return transport, None


def _default_transport(uri: SipUri) -> str:
    """udp for sip:, tls for sips: (RFC 3263 §4.1)."""
    return "tls" if uri.secure else "udp"


def _numeric(uri: SipUri, transport: str | None, run: _Run):
    """R2: a numeric TARGET is the one hop; no DNS (RFC 3263 §4.1, §4.2)."""
    transport = transport or _default_transport(uri)
    address = _ip(uri.target)
    port = uri.port or DEFAULT_PORT[transport]
    run.step(f"{uri.target} is numeric: one hop, {transport} port {port} (RFC 3263 §4.2)")
    return [Target(transport, address, port, address)], None


def _explicit_port(uri: SipUri, transport: str | None, run: _Run):
    """R3: a name with a port → A/AAAA only, at that port (RFC 3263 §4.2)."""
    transport = transport or _default_transport(uri)
    run.step(f"explicit port {uri.port}: A/AAAA only, {transport} (RFC 3263 §4.2)")
    hop = _addresses(run, uri.target, transport, uri.port)
    if hop.state == "absent":
        what = "does not exist (NXDOMAIN)" if "NXDOMAIN" in hop.detail else "has no A/AAAA"
        return [], f"{uri.target} {what} (an explicit port means A/AAAA only, RFC 3263 §4.2)"
    return hop.targets, hop.detail or None


def _explicit_transport(uri: SipUri, transport: str, run: _Run):
    """R4: SRV at that transport's owner; none → A/AAAA at the default port (RFC 3263 §4.2)."""
    owner = f"{SRV_PREFIX[transport]}.{fqdn(uri.target)}"
    if transport in ("ws", "wss"):
        run.warn(f"no SRV label is standardised for WebSocket; {_bare(owner)} is a convention "
                 "(SPEC §1)")
    hop = _srv(run, owner, transport)
    if hop.state == "found":
        return hop.targets, _no_address_error(hop.targets, uri)
    if hop.state != "absent":
        return [], hop.detail
    run.step(f"no SRV at {_bare(owner)}: A/AAAA at port {DEFAULT_PORT[transport]}")
    hop = _addresses(run, uri.target, transport, DEFAULT_PORT[transport])
    if hop.state == "absent":
        return [], _nothing(uri.target, hop, f"no SRV records at {_bare(owner)}",
                            "RFC 3263 §4.2")
    return hop.targets, hop.detail or None


def _nothing(name: str, hop: _Hop, what: str, rfc: str) -> str:
    """The error for a name that led nowhere, NXDOMAIN said plainly."""
    if "NXDOMAIN" in hop.detail:
        return f"{name} does not exist (NXDOMAIN; {rfc})"
    return f"{name} has {what} and no A/AAAA records ({rfc})"


def _naptr(uri: SipUri, run: _Run):
    """R5/R6: NAPTR at TARGET, filtered and lowest order only, each → its SRV RRset."""
    name = fqdn(uri.target)
    if not run.profile.naptr:
        run.step(f"the {run.profile.name} client does not query NAPTR")
        return _srv_per_transport(uri, run)
    answer = run.lookup(name, "NAPTR")
    if answer.indeterminate:
        return [], _indeterminate(name, "NAPTR", answer)
    records = [r.value for r in answer.records if r.type == "NAPTR"]
    kept = select_naptrs(records, uri.secure, run.profile, run.step)
    if not kept:
        if records:
            run.warn(f"{uri.target} has NAPTR records but none this client can use for a "
                     f"{uri.scheme}: URI; using SRV (RFC 3263 §4.1)")
        return _srv_per_transport(uri, run)
    hops = []
    for naptr in kept:
        hop = _srv(run, naptr.replacement, TRANSPORT_OF_SERVICE[naptr.service.upper()])
        if hop.state == "absent":
            run.warn(f"NAPTR {naptr.service} at {uri.target} points at "
                     f"{_bare(naptr.replacement)}, which has no SRV records (no A/AAAA "
                     "fallback on a replacement, RFC 3263 §4.1)")
        hops.append(hop)
    targets, state = _combine(hops)
    if state == "found":
        return targets, _no_address_error(targets, uri)
    if state != "absent":
        return [], next(h.detail for h in hops if h.state == state)
    return _dead_end(uri, kept, run)


def _dead_end(uri: SipUri, kept: list[Naptr], run: _Run):
    """R7: every kept NAPTR leads nowhere → SRV fallback (unless the profile has none)."""
    owners = ", ".join(_bare(n.replacement) for n in kept)
    run.warn(f"NAPTR dead end: the NAPTR records at {uri.target} lead to no SRV records "
             f"({owners})")
    if not run.profile.dead_end_fallback:
        return [], (f"NAPTR dead end at {uri.target} ({owners} have no SRV records) and the "
                    f"{run.profile.name} client does not fall back to SRV")
    return _srv_per_transport(uri, run)


def select_naptrs(records: list[Naptr], secure: bool, profile: Profile,
                  step=lambda text: None) -> list[Naptr]:
    """R5: drop unusable NAPTRs, sort by (order, preference, client preference), keep the
    lowest order (RFC 3403 §4.1, RFC 3263 §4.1)."""
    usable = []
    for naptr in records:
        reason = _naptr_unusable(naptr, secure, profile)
        step(f"NAPTR {naptr.to_text()}: {'ignored, ' + reason if reason else 'usable'}")
        if not reason:
            usable.append(naptr)
    if not usable:
        return []
    usable.sort(key=lambda n: (n.order, n.preference,
                               profile.rank(TRANSPORT_OF_SERVICE[n.service.upper()]),
                               n.replacement))
    kept = [n for n in usable if n.order == usable[0].order]
    if profile.one_transport:
        best = usable[0].service.upper()
        kept = [n for n in kept if n.service.upper() == best]
    step(f"kept order {usable[0].order}: " + "; ".join(n.to_text() for n in kept))
    return kept


def _naptr_unusable(naptr: Naptr, secure: bool, profile: Profile) -> str:
    """Why a NAPTR is dropped by R5, or "" if it is usable."""
    service = naptr.service.upper()
    if naptr.flags.lower() != "s":
        return f'flag "{naptr.flags}" is not "s" (RFC 3263 §4.1)'
    if naptr.regexp:
        return "the regexp is not empty (RFC 3263 §4.1)"
    if naptr.replacement in ("", "."):
        return "no replacement"
    if service not in TRANSPORT_OF_SERVICE:
        return f"unknown service {naptr.service}"
    if secure and not service.startswith("SIPS+"):
        return "a sips: URI uses only SIPS services (RFC 3263 §4.1)"
    if TRANSPORT_OF_SERVICE[service] not in profile.transports:
        return f"the {profile.name} client does not support {TRANSPORT_OF_SERVICE[service]}"
    return ""


def _srv_per_transport(uri: SipUri, run: _Run):
    """R7: SRV for each transport the client supports, in client order; none at all →
    A/AAAA with udp (sip:) / tls (sips:) at the default port (RFC 3263 §4.1, §4.2)."""
    transports = [t for t in run.profile.transports if t in SECURE or not uri.secure]
    owners = [f"{SRV_PREFIX[t]}.{fqdn(uri.target)}" for t in transports]
    hops = [_srv(run, owner, t) for owner, t in zip(owners, transports)]
    targets, state = _combine(hops)
    if state == "found":
        return targets, _no_address_error(targets, uri)
    if state != "absent":
        return [], next(h.detail for h in hops if h.state == state)
    transport = _default_transport(uri)
    run.step(f"no SRV records: A/AAAA, {transport} port {DEFAULT_PORT[transport]}")
    hop = _addresses(run, uri.target, transport, DEFAULT_PORT[transport])
    if hop.state == "absent":
        naptr = "" if not run.profile.naptr else "no usable NAPTR, "
        where = ", ".join(_bare(o) for o in owners)
        return [], _nothing(uri.target, hop, f"{naptr}no SRV records ({where})",
                            "RFC 3263 §4.1, §4.2")
    return hop.targets, hop.detail or None


def _no_address_error(targets: list[Target], uri: SipUri) -> str | None:
    if targets:
        return None
    return f"none of the SRV targets for {uri.target} has an A/AAAA record (RFC 3263 §4.2)"
