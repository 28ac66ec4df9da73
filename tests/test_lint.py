"""Every rule in findings.RULES: one description that breaks it, one near-identical that does not.

Expectations come from SPEC.md: §3 decides the severity (errors block a sync, warnings do not),
§1/§2 the record text (C2: ``domain NAPTR order preference "s" SERVICE "" owner.``, C3:
``owner SRV priority weight port target.``). The line a finding must point at is marked in the
YAML itself with a trailing ``#<`` comment, so no line number is written twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT, CLEAN, cli
from zonesync import estate
from zonesync.findings import RULES

MARK = "#<"


# --- how a case is written to disk ------------------------------------------------------------

@dataclass(frozen=True)
class Symlink:
    """A symlink to ``target`` (relative to the case directory; it may not exist)."""
    target: str


@dataclass(frozen=True)
class Sparse:
    """A file of ``size`` bytes that takes no disk space (``truncate``)."""
    size: int


def write(directory: Path, files: dict) -> None:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            path.symlink_to(directory / content.target)
        elif isinstance(content, Sparse):
            with open(path, "wb") as fh:
                fh.truncate(content.size)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def marked_line(content) -> int | None:
    """The 1-based line holding the ``#<`` marker, or None."""
    if not isinstance(content, (str, bytes)):
        return None
    mark = MARK.encode() if isinstance(content, bytes) else MARK
    for number, line in enumerate(content.splitlines(), 1):
        if mark in line:
            return number
    return None


def findings_for(directory: Path, files: dict):
    write(directory, files)
    return estate.load_estate([directory]).findings


def in_file(finding, directory: Path, name: str) -> bool:
    return Path(os.path.abspath(finding.file)) == directory / name


# --- the cases --------------------------------------------------------------------------------

AUTO = object()


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    severity: str
    bad: dict
    good: dict
    path: str = ""
    record: str | None = None
    file: str = "x.example.yaml"      # the file the finding belongs to
    line: object = AUTO               # AUTO: the line marked with #< in `file`, else None

    def expected_line(self):
        return marked_line(self.bad[self.file]) if self.line is AUTO else self.line


# Severities as SPEC §3 lists them (and §1: "unknown keys are errors"); rules the spec does not
# list are errors when they make a file unusable, warnings when the records still work.
E, W = "error", "warning"
F = "x.example.yaml"



def naptr(order, pref, service, owner, domain="x.example", ttl=3600):
    return f'{domain}. {ttl} IN NAPTR {order} {pref} "s" "{service}" "" {owner}.'


def srv(owner, prio, weight, port, target, ttl=3600):
    return f"{owner}. {ttl} IN SRV {prio} {weight} {port} {target}"


def one(entry: str, head: str = "domain: x.example\n") -> str:
    """A description with the given `sip` entries (indented YAML text)."""
    return f"{head}sip:\n{entry}"


CASES = [
    # --- the file itself --------------------------------------------------------------------
    Case("dangling-symlink", "file-unreadable", E,
         bad={F: Symlink("missing/x.example.yaml")},
         good={F: Symlink("real/x.example.yaml"), "real/x.example.yaml": CLEAN}),
    Case("50MB", "file-too-large", E, bad={F: Sparse(50 * 1024 * 1024)},
         good={F: CLEAN + ("# padding, a description with long comments\n" * 2000)}),
    # "billion laughs": 10**9 values from a few hundred bytes, all under one key.
    Case("alias-bomb", "file-too-large", E, path="laughs",
         bad={F: "domain: x.example\nlaughs: #<\n  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                 + "".join(f"  - &{k} [{', '.join([f'*{p}'] * 10)}]\n"
                           for p, k in zip("abcdefgh", "bcdefghi"))
                 + CLEAN.replace("domain: x.example\n", "")},
         good={F: CLEAN.replace("tls\n    targets: [", "tls\n    targets: &t [")
               .replace("targets: [{host: sip.x.example}]", "targets: *t")}),
    Case("latin1", "file-not-utf8", E,
         bad={F: CLEAN.encode() + "# caf\u00e9 #<\n".encode("latin-1")},
         good={F: CLEAN.encode() + "# caf\u00e9 #<\n".encode("utf-8")}),
    Case("indentation", "yaml-syntax", E,
         bad={F: "domain: x.example\nsip:\n  - transport: udp\n   targets: [{host: sip.x.example}] #<\n"},
         good={F: "domain: x.example\nsip:\n  - transport: udp\n    targets: [{host: sip.x.example}]\n"}),
    Case("duplicate-key", "yaml-duplicate-key", E, path="sip[0].targets[0].port",
         bad={F: one("  - transport: udp\n    targets:\n      - host: sip.x.example\n"
                     "        port: 5060\n        port: 5070 #<\n")},
         good={F: one("  - transport: udp\n    targets:\n      - host: sip.x.example\n"
                      "        port: 5070\n")}),
    Case("hosts-same-name", "yaml-duplicate-key", E, path="hosts['sip.x.example.']",
         bad={F: CLEAN.replace("  sip.x.example: [192.0.2.1]\n",
                               "  SIP.X.Example: [192.0.2.1]\n  sip.x.example.: [192.0.2.2] #<\n")},
         good={F: CLEAN.replace("  sip.x.example: [192.0.2.1]\n",
                                "  SIP.X.Example: [192.0.2.1]\n  sip2.x.example.: [192.0.2.2]\n")}),
    Case("comment-only", "file-empty", E, bad={F: "# zonesync description #<\n"},
         good={F: "# zonesync description\n" + CLEAN}),
    Case("zero-bytes", "file-empty", E, line=1, bad={F: ""}, good={F: CLEAN}),
    Case("name", "file-name-mismatch", W, path="domain", file="y.example.yaml",
         bad={"y.example.yaml": CLEAN.replace("domain: x.example", "domain: x.example #<")},
         good={"x.example.yaml": CLEAN}),
    # --- schema ------------------------------------------------------------------------------
    Case("typo", "schema-unknown-key", E, path="sip[0].tragets",
         bad={F: one("  - transport: udp\n    tragets: [{host: sip.x.example}] #<\n")},
         good={F: one("  - transport: udp\n    targets: [{host: sip.x.example}]\n")}),
    Case("no-domain", "schema-missing", E, path="domain",
         bad={F: "# no domain\nsip: #<\n  - transport: udp\n    targets: [{host: sip.x.example}]\n"},
         good={F: "# no domain\ndomain: x.example\nsip:\n  - transport: udp\n"
                  "    targets: [{host: sip.x.example}]\n"}),
    Case("nothing-to-publish", "schema-missing", E, path="sip",
         bad={F: "domain: x.example\nsip: [] #<\n"},
         good={F: "domain: x.example\nsip: []\ndisabled: [udp, tcp, tls]\n"}),
    Case("port-string", "schema-type", E, path="sip[0].targets[0].port",
         bad={F: one("  - transport: udp\n    targets:\n      - {host: sip.x.example, port: '5060'} #<\n")},
         good={F: one("  - transport: udp\n    targets:\n      - {host: sip.x.example, port: 5060}\n")}),
    Case("quic", "transport-unknown", E, path="sip[0].transport",
         bad={F: one("  - transport: quic #<\n    targets: [{host: sip.x.example}]\n")},
         good={F: one("  - transport: sctp\n    targets: [{host: sip.x.example}]\n")}),
    Case("disabled-quic", "transport-unknown", E, path="disabled[1]",
         bad={F: CLEAN + "disabled:\n  - sctp\n  - quic #<\n"},
         good={F: CLEAN + "disabled:\n  - sctp\n  - tls-sctp\n"}),
    Case("port-65536", "number-out-of-range", E, path="sip[0].targets[0].port",
         bad={F: one("  - transport: udp\n    targets:\n      - {host: sip.x.example, port: 65536} #<\n")},
         good={F: one("  - transport: udp\n    targets:\n      - {host: sip.x.example, port: 65535}\n")}),
    Case("order-negative", "number-out-of-range", E, path="sip[0].order",
         bad={F: one("  - transport: udp\n    order: -1 #<\n    targets: [{host: sip.x.example}]\n")},
         good={F: one("  - transport: udp\n    order: 0\n    targets: [{host: sip.x.example}]\n")}),
    Case("ttl-negative", "number-out-of-range", E, path="ttl",
         bad={F: "ttl: -1 #<\n" + CLEAN}, good={F: "ttl: 0\n" + CLEAN}),
    Case("underscore", "name-invalid", E, path="domain",
         bad={F: CLEAN.replace("domain: x.example", "domain: bad_name.x.example #<")},
         good={F: CLEAN.replace("domain: x.example", "domain: bad-name.x.example\nzone: x.example")}),
    # A relative owner of 244 characters is fine alone; joined to x.example it has 254 (> 253).
    Case("owner-joined-too-long", "name-invalid", E, path="sip[0].srv",
         bad={F: one("  - transport: udp\n    srv: " + ".".join(["_sip", "_udp"] + ["a" * 60] * 3)
                     + "." + "b" * 51 + " #<\n    targets: [{host: sip.x.example}]\n")},
         good={F: one("  - transport: udp\n    srv: " + ".".join(["_sip", "_udp"] + ["a" * 60] * 3)
                      + "." + "b" * 50 + "\n    targets: [{host: sip.x.example}]\n")}),
    Case("owner-too-long", "name-invalid", E, path="sip[0].srv",
         bad={F: one("  - transport: udp\n    srv: " + ".".join(["_sip", "_udp"] + ["a" * 60] * 4)
                     + " #<\n    targets: [{host: sip.x.example}]\n")},
         good={F: one("  - transport: udp\n    srv: " + ".".join(["_sip", "_udp"] + ["a" * 60] * 3)
                      + "\n    targets: [{host: sip.x.example}]\n")}),
    Case("sbc1", "host-single-label", E, path="sip[0].targets[0].host",
         bad={F: one("  - transport: udp\n    targets:\n      - host: sbc1 #<\n")},
         good={F: one("  - transport: udp\n    targets:\n      - host: sbc1.x.example\n")}),
    Case("hosts-sbc1", "host-single-label", E, path="hosts.sbc1",
         bad={F: CLEAN.replace("  sip.x.example: [192.0.2.1]\n",
                               "  sip.x.example: [192.0.2.1]\n  sbc1: [192.0.2.2] #<\n")},
         good={F: CLEAN.replace("  sip.x.example: [192.0.2.1]\n",
                                "  sip.x.example: [192.0.2.1]\n  sbc1.x.example: [192.0.2.2]\n")}),
    Case("bad-address", "address-invalid", E, path="hosts['sip.x.example'][1]",
         bad={F: CLEAN.replace("[192.0.2.1]", "\n    - 192.0.2.1\n    - 192.0.2.256 #<")},
         good={F: CLEAN.replace("[192.0.2.1]", "\n    - 192.0.2.1\n    - 192.0.2.255")}),
    # --- names and zones ---------------------------------------------------------------------
    Case("zone", "domain-outside-zone", E, path="domain",
         bad={F: CLEAN.replace("domain: x.example", "domain: x.example #<\nzone: y.example")},
         good={F: CLEAN.replace("domain: x.example", "domain: x.example\nzone: x.example")}),
    Case("host-outside", "host-outside-zone", E, path="hosts['sip.other.example']",
         bad={F: CLEAN.replace("hosts:\n", "hosts:\n  sip.other.example: [192.0.2.9] #<\n")},
         good={F: CLEAN.replace("hosts:\n", "hosts:\n  sip.other.x.example: [192.0.2.9]\n")}),
    Case("host-outside-idn", "host-outside-zone", E, path="hosts['sip.xn--e1afmkfd.xn--p1ai']",
         bad={F: CLEAN.replace("hosts:\n", "hosts:\n  SIP.\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444: "
                               "[192.0.2.9] #<\n")},
         good={F: CLEAN.replace("hosts:\n", "hosts:\n  SIP.\u043f\u0440\u0438\u043c\u0435\u0440.x.example: "
                                "[192.0.2.9]\n")}),
    Case("owner-outside", "srv-owner-outside-zone", E, path="sip[2].srv",
         record=naptr(30, 50, "SIP+D2U", "_sip._udp.y.example"),
         bad={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sip._udp.y.example. #<\n")},
         good={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sip._udp.x.example.\n")}),
    Case("two-files", "domain-duplicate", E, path="domain", file="x.example.yml",
         bad={F: CLEAN, "x.example.yml": CLEAN.replace("domain: x.example", "domain: X.Example. #<")},
         good={F: CLEAN, "y.example.yml": CLEAN.replace("x.example", "y.example")}),
    Case("host-two-addresses", "host-conflict", E, path="hosts['sbc.corp.example']",
         file="voice.corp.example.yaml",
         bad={"fax.corp.example.yaml": "domain: fax.corp.example\nzone: corp.example\n"
                                       "hosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                       "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n",
              "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\n"
                                         "hosts:\n  sbc.corp.example: [192.0.2.2] #<\n"
                                         "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n"},
         good={"fax.corp.example.yaml": "domain: fax.corp.example\nzone: corp.example\n"
                                        "hosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                        "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n",
               "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\n"
                                          "hosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                          "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n"}),
    Case("host-two-ttls", "host-conflict", E, path="hosts['sbc.corp.example']",
         file="voice.corp.example.yaml",
         bad={"fax.corp.example.yaml": "domain: fax.corp.example\nzone: corp.example\n"
                                       "hosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                       "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n",
              "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\nttl: 60\n"
                                         "hosts:\n  sbc.corp.example: [192.0.2.1] #<\n"
                                         "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n"},
         good={"fax.corp.example.yaml": "domain: fax.corp.example\nzone: corp.example\nttl: 60\n"
                                        "hosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                        "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n",
               "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\nttl: 60\n"
                                          "hosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                          "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n"}),
    # --- SRV (RFC 2782) ----------------------------------------------------------------------
    Case("ip-target", "srv-target-is-address", E, path="sip[0].targets[0].host",
         bad={F: one("  - transport: udp\n    targets:\n      - host: 192.0.2.1 #<\n")},
         good={F: one("  - transport: udp\n    targets:\n      - host: h192-0-2-1.x.example\n")}),
    Case("ipv6-target", "srv-target-is-address", E, path="sip[0].targets[0].host",
         bad={F: one("  - transport: udp\n    targets:\n      - host: '2001:db8::1' #<\n")},
         good={F: one("  - transport: udp\n    targets:\n      - host: 2001-db8--1.x.example\n")}),
    Case("port-0", "srv-port-zero", E, path="sip[1].targets[0].port",
         record=srv("_sip._tcp.x.example", 10, 50, 0, "sip.x.example."),
         bad={F: CLEAN.replace("- transport: tcp\n    targets: [{host: sip.x.example}]",
                               "- transport: tcp\n    targets:\n      - host: sip.x.example\n"
                               "        port: 0 #<")},
         good={F: CLEAN.replace("- transport: tcp\n    targets: [{host: sip.x.example}]",
                                "- transport: tcp\n    targets:\n      - host: sip.x.example\n"
                                "        port: 1")}),
    Case("dot-mixed", "srv-dot-target-mixed", E, path="sip[2].targets",
         record=srv("_sip._udp.x.example", 0, 0, 0, "."),
         bad={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                               "- transport: udp\n    targets: #<\n      - {host: sip.x.example}\n"
                               "      - {host: ., port: 0, priority: 0, weight: 0}")},
         good={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                                "- transport: udp\n    targets:\n      - {host: sip.x.example}\n"
                                "      - {host: sip.x.example, port: 5062}")}),
    Case("tcp-at-udp", "srv-owner-transport-mismatch", E, path="sip[1].srv",
         record=naptr(20, 50, "SIP+D2T", "_sip._sctp.x.example"),
         bad={F: CLEAN.replace("- transport: tcp\n", "- transport: tcp\n    srv: _sip._sctp #<\n")},
         good={F: CLEAN.replace("- transport: tcp\n", "- transport: tcp\n    srv: _sip._tcp.alt\n")}),
    Case("tls-at-sip", "srv-owner-transport-mismatch", E, path="sip[0].srv",
         record=naptr(10, 50, "SIPS+D2T", "_sip._tcp.x.example"),
         bad={F: CLEAN.replace("- transport: tls\n", "- transport: tls\n    srv: _sip._tcp #<\n")},
         good={F: CLEAN.replace("- transport: tls\n", "- transport: tls\n    srv: _sips._tcp\n")}),
    Case("sips-udp", "sips-over-udp", E, path="sip[2].srv",
         record=naptr(30, 50, "SIP+D2U", "_sips._udp.x.example"),
         bad={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sips._udp #<\n")},
         good={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sip._udp\n")}),
    Case("same-owner", "srv-owner-conflict", E, path="sip[3].targets",
         record=srv("_sip._udp.x.example", 10, 50, 5060, "sip2.x.example."),
         bad={F: CLEAN + "  - transport: udp\n    preference: 60\n"
                         "    targets: [{host: sip2.x.example}] #<\n"},
         good={F: CLEAN + "  - transport: udp\n    preference: 60\n"
                          "    targets: [{host: sip.x.example}]\n"}),
    Case("disabled-and-published", "srv-owner-conflict", E, path="disabled[0]",
         record=srv("_sip._udp.x.example", 0, 0, 0, "."),
         bad={F: CLEAN + "disabled: [udp] #<\n"}, good={F: CLEAN + "disabled: [sctp]\n"}),
    Case("same-owner-two-files", "srv-owner-conflict", E, path="sip[0].srv",
         file="voice.corp.example.yaml",
         record=srv("_sip._udp.corp.example", 10, 50, 5070, "sbc.corp.example."),
         bad={"corp.example.yaml": "domain: corp.example\nhosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                   "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n",
              "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\nsip:\n"
                                         "  - transport: udp\n    srv: _sip._udp.corp.example. #<\n"
                                         "    targets: [{host: sbc.corp.example, port: 5070}]\n"},
         good={"corp.example.yaml": "domain: corp.example\nhosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                    "sip:\n  - transport: udp\n    targets: [{host: sbc.corp.example}]\n",
               "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\nsip:\n"
                                          "  - transport: udp\n    srv: _sip._udp.corp.example.\n"
                                          "    targets: [{host: sbc.corp.example}]\n"}),
    Case("disabled-in-other-file", "srv-owner-conflict", E, path="sip[0].srv",
         file="voice.corp.example.yaml",
         record=srv("_sip._udp.corp.example", 10, 50, 5060, "sbc.corp.example."),
         bad={"corp.example.yaml": "domain: corp.example\nhosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                   "sip:\n  - transport: tcp\n    targets: [{host: sbc.corp.example}]\n"
                                   "disabled: [udp]\n",
              "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\nsip:\n"
                                         "  - transport: udp\n    srv: _sip._udp.corp.example. #<\n"
                                         "    targets: [{host: sbc.corp.example}]\n"},
         good={"corp.example.yaml": "domain: corp.example\nhosts:\n  sbc.corp.example: [192.0.2.1]\n"
                                    "sip:\n  - transport: tcp\n    targets: [{host: sbc.corp.example}]\n"
                                    "disabled: [udp]\n",
               "voice.corp.example.yaml": "domain: voice.corp.example\nzone: corp.example\nsip:\n"
                                          "  - transport: udp\n"
                                          "    targets: [{host: sbc.corp.example}]\n"}),
    Case("naptr-to-dot", "naptr-to-disabled", E, path="sip[1].targets",
         record=naptr(20, 50, "SIP+D2T", "_sip._tcp.x.example"),
         bad={F: CLEAN.replace("- transport: tcp\n    targets: [{host: sip.x.example}]",
                               "- transport: tcp\n    targets: [{host: ., port: 0, priority: 0, "
                               "weight: 0}] #<")},
         good={F: CLEAN.replace("  - transport: tcp\n    targets: [{host: sip.x.example}]\n", "")
               + "disabled: [tcp]\n"}),
    # --- warnings ----------------------------------------------------------------------------
    Case("no-tls", "naptr-missing-service", W, path="sip",
         bad={F: CLEAN.replace("sip:\n  - transport: tls\n    targets: [{host: sip.x.example}]\n",
                               "sip: #<\n")},
         good={F: CLEAN}),
    Case("no-tls-srv-only", "naptr-missing-service", W, path="sip",
         bad={F: CLEAN.replace("sip:\n  - transport: tls\n    targets: [{host: sip.x.example}]\n",
                               "sip: #<\n")},
         good={F: "naptr: false\n" + CLEAN.replace(
             "sip:\n  - transport: tls\n    targets: [{host: sip.x.example}]\n", "sip:\n")}),
    Case("no-tls-disabled", "naptr-missing-service", W, path="sip",
         bad={F: CLEAN.replace("sip:\n  - transport: tls\n    targets: [{host: sip.x.example}]\n",
                               "sip: #<\n")},
         good={F: CLEAN.replace("sip:\n  - transport: tls\n    targets: [{host: sip.x.example}]\n",
                                "sip:\n") + "disabled: [tls]\n"}),
    Case("second-udp", "srv-naptr-only", W, path="sip[3].srv",
         record=naptr(40, 50, "SIP+D2U", "_sip._udp.second.x.example"),
         bad={F: CLEAN + "  - transport: udp\n    srv: _sip._udp.second #<\n"
                         "    targets: [{host: sip.x.example}]\n"},
         good={F: CLEAN + "  - transport: udp\n    targets: [{host: sip.x.example}]\n"}),
    Case("tls-after-tcp", "sips-not-first", W, path="sip[0].order",
         record=naptr(20, 50, "SIPS+D2T", "_sips._tcp.x.example"),
         bad={F: CLEAN.replace("- transport: tls\n", "- transport: tls\n    order: 20 #<\n")},
         good={F: CLEAN.replace("- transport: tls\n", "- transport: tls\n    order: 19\n")}),
    Case("tcp-tls-tie", "naptr-order-tie", W, path="sip[1].order",
         record=naptr(10, 50, "SIP+D2T", "_sip._tcp.x.example"),
         bad={F: CLEAN.replace("- transport: tcp\n", "- transport: tcp\n    order: 10 #<\n")},
         good={F: CLEAN.replace("- transport: tcp\n", "- transport: tcp\n    order: 10\n"
                                "    preference: 51\n")}),
    Case("equal-pw", "srv-equal-priority-weight", W, path="sip[0].targets[1]",
         record=srv("_sips._tcp.x.example", 10, 50, 5061, "sip2.x.example."),
         bad={F: CLEAN.replace("- transport: tls\n    targets: [{host: sip.x.example}]",
                               "- transport: tls\n    targets:\n      - {host: sip.x.example}\n"
                               "      - {host: sip2.x.example} #<")},
         good={F: CLEAN.replace("- transport: tls\n    targets: [{host: sip.x.example}]",
                                "- transport: tls\n    targets:\n      - {host: sip.x.example}\n"
                                "      - {host: sip2.x.example, weight: 49}")}),
    Case("5060-on-sips", "srv-port-swapped", W, path="sip[0].targets[0].port",
         record=srv("_sips._tcp.x.example", 10, 50, 5060, "sip.x.example."),
         bad={F: CLEAN.replace("- transport: tls\n    targets: [{host: sip.x.example}]",
                               "- transport: tls\n    targets:\n      - host: sip.x.example\n"
                               "        port: 5060 #<")},
         good={F: CLEAN.replace("- transport: tls\n    targets: [{host: sip.x.example}]",
                                "- transport: tls\n    targets:\n      - host: sip.x.example\n"
                                "        port: 5062")}),
    Case("5061-on-sip", "srv-port-swapped", W, path="sip[2].targets[0].port",
         record=srv("_sip._udp.x.example", 10, 50, 5061, "sip.x.example."),
         bad={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                               "- transport: udp\n    targets:\n      - host: sip.x.example\n"
                               "        port: 5061 #<")},
         good={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                                "- transport: udp\n    targets:\n      - host: sip.x.example\n"
                                "        port: 5062")}),
    Case("nine-targets", "srv-too-many-targets", W, path="sip[2].targets",
         record=naptr(30, 50, "SIP+D2U", "_sip._udp.x.example"),
         bad={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                               "- transport: udp\n    targets: #<\n" + "".join(
                                   f"      - {{host: sip.x.example, port: {5060 + i}, weight: {i}}}\n"
                                   for i in range(9)).rstrip("\n"))},
         good={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                                "- transport: udp\n    targets:\n" + "".join(
                                    f"      - {{host: sip.x.example, port: {5060 + i}, weight: {i}}}\n"
                                    for i in range(8)).rstrip("\n"))}),
    Case("wss", "srv-websocket", W, path="sip[3].transport",
         record=naptr(40, 50, "SIPS+D2W", "_sips._ws.x.example"),
         bad={F: CLEAN + "  - transport: wss #<\n    targets: [{host: sip.x.example}]\n"},
         good={F: CLEAN + "  - transport: tls-sctp\n    targets: [{host: sip.x.example}]\n"}),
    Case("foreign-target", "srv-target-no-address", W, path="sip[2].targets[0].host",
         record=srv("_sip._udp.x.example", 10, 50, 5060, "sbc.carrier.example."),
         bad={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                               "- transport: udp\n    targets:\n      - host: sbc.carrier.example #<")},
         good={F: CLEAN.replace("- transport: udp\n    targets: [{host: sip.x.example}]",
                                "- transport: udp\n    targets:\n      - host: sbc.carrier.example"),
               "carrier.example.yaml": "domain: carrier.example\n"
                                       "hosts:\n  sbc.carrier.example: [198.51.100.1]\n"
                                       "disabled: [udp]\n"}),
    Case("doubled", "srv-owner-doubled", W, path="sip[2].srv",
         record=naptr(30, 50, "SIP+D2U", "_sip._udp.x.example.x.example"),
         bad={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sip._udp.x.example #<\n")},
         good={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    srv: _sip._udp.x.example.\n")}),
    Case("srv-only-custom-owner", "srv-unreachable", W, path="sip[2].srv",
         record=srv("_sip._udp.second.x.example", 10, 50, 5060, "sip.x.example."),
         bad={F: "naptr: false\n" + CLEAN.replace(
             "- transport: udp\n", "- transport: udp\n    srv: _sip._udp.second #<\n")},
         good={F: "naptr: false\n" + CLEAN.replace(
             "- transport: udp\n", "- transport: udp\n    srv: _sip._udp\n")}),
    Case("same-naptr-twice", "naptr-duplicate", W, path="sip[3]",
         record=naptr(30, 50, "SIP+D2U", "_sip._udp.x.example"),
         bad={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    order: 30\n")
              + "  - transport: udp #<\n    order: 30\n    targets: [{host: sip.x.example}]\n"},
         good={F: CLEAN.replace("- transport: udp\n", "- transport: udp\n    order: 30\n")
               + "  - transport: udp\n    order: 31\n    targets: [{host: sip.x.example}]\n"}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}:{c.id}")
def test_rule_reported(case: Case, tmp_path: Path):
    found = [f for f in findings_for(tmp_path, case.bad) if f.rule == case.rule]
    assert found, f"{case.rule} not reported"
    assert len(found) == 1, [f.to_text() for f in found]
    finding = found[0]
    assert finding.severity == case.severity
    assert finding.is_error == (case.severity == "error")
    assert in_file(finding, tmp_path, case.file), finding.file
    assert finding.path == case.path
    assert finding.line == case.expected_line()
    assert finding.record == case.record
    assert finding.message and finding.fix
    assert finding.rfc == RULES[case.rule].rfc


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}:{c.id}")
def test_rule_not_reported(case: Case, tmp_path: Path):
    findings = findings_for(tmp_path, case.good)
    assert case.rule not in {f.rule for f in findings}, [f.to_text() for f in findings]
    assert any(f.description for f in estate.load_estate([tmp_path]).files)


def test_every_rule_has_cases():
    """A rule added to RULES without a failing and a passing case fails here."""
    assert {c.rule for c in CASES} == set(RULES)


def test_clean_description_has_no_findings(tmp_path: Path):
    assert findings_for(tmp_path, {F: CLEAN}) == []


# --- the seed examples ---------------------------------------------------------------------------

def _zones_findings():
    return {Path(f.file).name: f.findings for f in estate.load_estate([ROOT / "zones"]).files}


def test_mysite_gives_exactly_three_warnings():
    findings = _zones_findings()["mysite.ru.yaml"]
    assert sorted(f.rule for f in findings) == sorted(
        ["srv-naptr-only", "sips-not-first", "naptr-order-tie"])
    assert all(f.severity == "warning" for f in findings)


@pytest.mark.parametrize("name", ["acme.example.yaml", "srvonly.example.yaml"])
def test_other_examples_are_clean(name):
    assert _zones_findings()[name] == []


@pytest.mark.parametrize("name", ["acme.example", "mysite.ru", "srvonly.example"])
def test_zones_and_golden_examples_agree(name):
    """zones/ holds the seed examples; tests/golden the same files with their records."""
    assert (ROOT / "zones" / f"{name}.yaml").read_text() == \
        (ROOT / "tests" / "golden" / f"{name}.yaml").read_text()


def test_a_file_from_outside_the_zones_dir_is_linted_with_it_once(tmp_path: Path):
    """`compile FILE` lints FILE together with the zones dir: a clash between them is found,
    and reported once, not once per check."""
    zones = tmp_path / "zones"
    write(zones, {F: CLEAN})
    write(tmp_path, {"elsewhere.yaml": CLEAN})
    run = cli("--zones", str(zones), "compile", str(tmp_path / "elsewhere.yaml"), cwd=tmp_path)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.count("[domain-duplicate]") == 1, run.stderr
