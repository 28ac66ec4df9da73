"""Findings: every problem zonesync reports about a description, with a stable id.

One catalog (``RULES``) holds every rule: its id, severity, the RFC section it comes from and a
one-line fix. Loading, schema validation and lint all report ``Finding`` values made from it, so
a user sees one format and tools can match on ids (``naptr-missing-service``) that never change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    rfc: str
    title: str
    fix: str


@dataclass(frozen=True)
class Finding:
    """One reported problem. ``path`` is the field path inside the file (``sip[1].targets[0].port``)."""

    rule: str
    severity: Severity
    message: str
    fix: str = ""
    rfc: str = ""
    file: str | None = None
    line: int | None = None
    path: str = ""
    record: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def located(self, file: str | None, line: int | None) -> "Finding":
        return replace(self, file=file if self.file is None else self.file,
                       line=line if self.line is None else self.line)

    def to_json(self) -> dict:
        return {
            "rule": self.rule, "severity": self.severity, "file": self.file, "line": self.line,
            "path": self.path or None, "message": self.message, "fix": self.fix or None,
            "rfc": self.rfc or None, "record": self.record,
        }

    def where(self) -> str:
        """``zones/x.yaml:12 sip[0].port`` — the location prefix of a one-line report."""
        loc = self.file or "<input>"
        if self.line:
            loc += f":{self.line}"
        if self.path:
            loc += f" {self.path}"
        return loc

    def to_text(self) -> str:
        text = f"{self.where()}: {self.severity} [{self.rule}] {self.message}"
        if self.record:
            text += f"\n    record: {self.record}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        if self.rfc:
            text += f" ({self.rfc})"
        return text


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


E, W = "error", "warning"

RULES: dict[str, Rule] = _rules(
    # --- the file itself ---------------------------------------------------------------------
    Rule("file-unreadable", E, "", "the file cannot be read", "check the path and its permissions"),
    Rule("file-too-large", E, "", "the file is larger than zonesync accepts",
         "a description is a few kilobytes; split or fix the file"),
    Rule("file-not-utf8", E, "YAML 1.2 §5.2", "the file is not UTF-8 text",
         "save the file as UTF-8"),
    Rule("yaml-syntax", E, "YAML 1.2", "the file is not valid YAML",
         "fix the YAML syntax at the line shown (indentation, quotes, colons)"),
    Rule("yaml-duplicate-key", E, "YAML 1.2 §3.2.1.1", "a key appears twice in one mapping",
         "keep one of the two keys"),
    Rule("file-empty", E, "", "the file holds no description",
         "write at least `domain:` and one `sip:` entry"),
    Rule("file-name-mismatch", W, "", "the file name does not match the domain",
         "name the file zones/<domain>.yaml so people and tools find it"),
    # --- schema ----------------------------------------------------------------------------------
    Rule("schema-unknown-key", E, "", "a key zonesync does not know",
         "remove it or correct its spelling; unknown keys are never ignored"),
    Rule("schema-missing", E, "", "a required field is missing", "add the field"),
    Rule("schema-type", E, "", "a value of the wrong type", "write a value of the type shown"),
    Rule("transport-unknown", E, "RFC 3263 §4.1", "a transport with no SIP NAPTR service",
         "use one of udp, tcp, tls, sctp, tls-sctp, ws, wss"),
    Rule("number-out-of-range", E, "RFC 2782; RFC 3403 §4.1",
         "a port, priority, weight, order, preference or TTL outside its range",
         "use a whole number in the range shown"),
    Rule("name-invalid", E, "RFC 1035 §2.3.1; RFC 1123 §2.1; RFC 5890",
         "an invalid domain name or label",
         "use letters, digits and hyphens, labels of 1-63 characters, 253 characters at most"),
    Rule("host-single-label", E, "RFC 1123 §2.1",
         "a single-label host name (zonesync never guesses a suffix)",
         "write the full name, e.g. sbc1.example.com"),
    Rule("address-invalid", E, "RFC 791; RFC 4291", "not an IPv4 or IPv6 address",
         "write an address such as 192.0.2.10 or 2001:db8::10"),
    # --- names and zones ---------------------------------------------------------------------
    Rule("domain-outside-zone", E, "RFC 1034 §4.2", "the domain is not inside its zone",
         "set `zone:` to the DNS zone that contains the domain"),
    Rule("host-outside-zone", E, "RFC 1034 §4.2",
         "a `hosts` name outside the zone: zonesync can only publish records in its zone",
         "remove it from `hosts` (publish its address where its zone is managed)"),
    Rule("srv-owner-outside-zone", E, "RFC 1034 §4.2", "an SRV owner outside the zone",
         "write the owner relative to the domain, e.g. _sip._udp"),
    Rule("domain-duplicate", E, "", "two files describe the same domain",
         "keep one description per domain"),
    Rule("host-conflict", E, "RFC 2181 §5.2",
         "the same `hosts` name with different addresses or TTLs in two files",
         "make the two files agree, or keep the host in one of them"),
    # --- SRV (RFC 2782) ------------------------------------------------------------------------
    Rule("srv-target-is-address", E, "RFC 2782 (Target); RFC 3263 §4.2",
         "an SRV target that is an IP address", "give the target a name and put its address in `hosts`"),
    Rule("srv-port-zero", E, "RFC 2782 (Port)", "port 0 on a real target",
         "use the port the server listens on (port 0 is only for the '.' target)"),
    Rule("srv-dot-target-mixed", E, "RFC 2782 (Target)",
         "a '.' target (service not available) mixed with real targets",
         "either list real targets, or only '.' (better: move the transport to `disabled:`)"),
    Rule("srv-owner-transport-mismatch", E, "RFC 2782; RFC 3263 §4.1",
         "an SRV owner whose _service._proto labels contradict its transport",
         "use the owner the transport implies (see the transport table) or fix the transport"),
    Rule("sips-over-udp", E, "RFC 5630 §3.1.4", "SIPS over UDP: SIPS needs TLS over a reliable transport",
         "use _sips._tcp (transport tls) or _sip._udp (transport udp)"),
    Rule("srv-owner-conflict", E, "RFC 2181 §5; SPEC C3",
         "the same SRV owner with different targets or TTLs",
         "give both entries the same targets, or distinct `srv:` owners"),
    Rule("naptr-to-disabled", E, "RFC 2782; RFC 3263 §4.1",
         "a NAPTR record pointing at a disabled ('SRV 0 0 0 .') owner",
         "list the transport under `disabled:` instead of `sip:`, or give it real targets"),
    # --- warnings ------------------------------------------------------------------------------
    Rule("naptr-missing-service", W, "RFC 3263 §4.1",
         "NAPTR published without all of SIP+D2U, SIP+D2T and SIPS+D2T",
         "add the missing transports, or accept that clients which prefer them fall back"),
    Rule("srv-naptr-only", W, "RFC 3263 §4.1",
         "an SRV set reachable only through NAPTR: SRV-only clients (pjsip, Kamailio by default) never see it",
         "use the transport's default owner, or make sure SRV-only clients need not reach it"),
    Rule("sips-not-first", W, "RFC 3263 §4.1; RFC 5630",
         "a SIPS NAPTR whose order is not lower than every SIP order",
         "give the tls entry the lowest `order` so clients that can do TLS use it"),
    Rule("naptr-order-tie", W, "RFC 3403 §4.1; RFC 3263 §4.1",
         "two transports share (order, preference): which one a caller uses depends on the client",
         "give the entries different `order` or `preference`"),
    Rule("srv-equal-priority-weight", W, "RFC 3263 §4.4; RFC 2782",
         "targets with equal priority and weight", "give them different weights or priorities"),
    Rule("srv-port-swapped", W, "RFC 3261 §19.1.2", "port 5060 on a SIPS owner or 5061 on a SIP owner",
         "SIP listens on 5060, SIPS (TLS) on 5061"),
    Rule("srv-too-many-targets", W, "RFC 2782", "more than 8 targets in one SRV RRset",
         "keep an RRset small (it must fit a UDP answer); use fewer, load-balanced targets"),
    Rule("srv-websocket", W, "RFC 7118 §5.5",
         "WebSocket SRV/NAPTR: browsers do not use DNS to find WebSocket servers, and no SRV label is standardised",
         "configure WebSocket clients with a wss:// URL; keep this only for SIP servers that use it"),
    Rule("srv-target-no-address", W, "RFC 2782; RFC 3263 §4.2",
         "an SRV target outside the zone with no address known to zonesync",
         "make sure the target has A/AAAA records where its zone is managed"),
    Rule("srv-owner-doubled", W, "SPEC §1",
         "a relative SRV owner that repeats the domain (relative owners are joined to the domain)",
         "write the owner relative (_sip._udp) or absolute with a final dot (_sip._udp.example.com.)"),
    Rule("srv-unreachable", W, "RFC 3263 §4.1; RFC 2782",
         "an SRV set no client can find: NAPTR is off and the owner is not the transport's default",
         "use the transport's default owner, or publish NAPTR (`naptr: true`)"),
    Rule("naptr-duplicate", W, "RFC 3403 §4.1", "two entries produce the same NAPTR record",
         "remove one of the entries"),
)


def make(rule_id: str, message: str, *, path: str = "", record: str | None = None,
         fix: str | None = None, file: str | None = None, line: int | None = None) -> Finding:
    """A Finding of catalog rule ``rule_id``; ``fix`` overrides the rule's generic fix."""
    rule = RULES[rule_id]
    return Finding(rule=rule.id, severity=rule.severity, message=message,
                   fix=rule.fix if fix is None else fix, rfc=rule.rfc, file=file, line=line,
                   path=path, record=record)


def has_errors(findings) -> bool:
    return any(f.is_error for f in findings)
