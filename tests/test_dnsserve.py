"""The embedded responder (zonesync.dnsserve) against BIND serving the same zone files.

Every comparison sends the same bytes to ``named`` (BindServer) and to ``DnsServer`` reading the
same directory, and compares rcode, header flags, section counts, the question as sent back,
EDNS (version, payload, DO, option codes) and the RRs of every section as sets (owner names
case-sensitive). A UDP answer truncated without EDNS keeps a subset of the RRs in BIND (it
rotates RRsets), so there only the counts and the subset are compared.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.zone
import pytest

from zonesync.dnssource import LiveSource, MemorySource
from zonesync.dnsserve import DnsServer, ZoneStore, handle
from zonesync.resolve import resolve

from tests.dnsservers import BindServer, all_records, golden_zones, port_in_use
from tests.test_resolve import examples_table

ROOT = Path(__file__).resolve().parent.parent

# A zone with everything an authoritative server has to get right besides NAPTR/SRV/A/AAAA.
FEATURES = """$ORIGIN features.example.
@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300
@ 3600 IN NS ns
@ 3600 IN NS ns2.other.example.
ns 3600 IN A 127.0.0.1
@ 3600 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp
@ 3600 IN NAPTR 20 50 "a" "SIP+D2T" "" host
_sip._udp 300 IN SRV 10 50 5060 host
_sip._udp 300 IN SRV 20 50 5060 out.other.example.
_sip._tcp 300 IN SRV 10 50 5060 alias
host 300 IN A 192.0.2.1
host 300 IN AAAA 2001:db8::1
alias 300 IN CNAME host
chain 300 IN CNAME alias
outcname 300 IN CNAME www.other.example.
tochild 300 IN CNAME www.child
dangling 300 IN CNAME nowhere
loop1 300 IN CNAME loop2
loop2 300 IN CNAME loop1
sub 3600 IN NS ns.sub
sub 3600 IN NS ns.elsewhere.example.
ns.sub 3600 IN A 192.0.2.53
ns.sub 3600 IN AAAA 2001:db8::53
sub2 300 IN NS host
sub2 300 IN NS ns.sub
tosub 300 IN CNAME x.sub
child 3600 IN NS ns.child
ns.child 3600 IN A 127.0.0.1
*.wild 300 IN A 192.0.2.99
*.wild 300 IN TXT "wild"
x.wild 300 IN MX 10 host
deep.a.b.c 300 IN TXT "deep"
mx 300 IN MX 10 host
mx 300 IN MX 20 ns.sub
mxw 300 IN MX 10 foo.wild
dn 300 IN DNAME target
target.x 300 IN A 192.0.2.7
naptr2 300 IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.n2
naptr2 300 IN NAPTR 10 50 "S" "SIP+D2T" "" _sip._tcp.n2
naptr2 300 IN NAPTR 10 50 "A" "SIP+D2T" "" n2host2
naptr2 300 IN NAPTR 10 50 "u" "E2U+sip" "!^.*$!sip:x@y!" .
_sip._udp.n2 300 IN SRV 10 50 5060 n2host
_sip._tcp.n2 300 IN SRV 10 50 5060 foo.wild
n2host 300 IN A 192.0.2.5
n2host2 300 IN AAAA 2001:db8::5
srvcase 300 IN SRV 0 0 1 HOST
Mixed 300 IN A 192.0.2.42
"""
OTHER = """$ORIGIN other.example.
@ 3600 IN SOA ns.features.example. hostmaster 7 3600 600 86400 600
@ 60 IN NS ns.features.example.
out 300 IN A 192.0.2.77
www 300 IN AAAA 2001:db8::77
"""
CHILD = """$ORIGIN child.features.example.
@ 300 IN SOA ns hostmaster 3 3600 600 86400 60
@ 300 IN NS ns
ns 300 IN A 127.0.0.1
www 300 IN A 192.0.2.200
"""
BIG = ("$ORIGIN big.example.\n@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300\n"
       "@ 3600 IN NS ns\nns 3600 IN A 127.0.0.1\nc 300 IN CNAME _sip._udp\n"
       + "".join(f"_sip._udp 300 IN SRV 10 {i} 5060 host{i:02d}.big.example.\n"
                 for i in range(60))
       + "".join(f"h 300 IN A 192.0.2.{i}\n" for i in range(1, 30))
       + "".join(f"chain{i} 300 IN CNAME chain{i + 1}\n" for i in range(20))
       + "chain20 300 IN A 192.0.2.200\n")


def all_zones() -> dict[str, str]:
    zones = golden_zones()
    zones.update({"features.example": FEATURES, "other.example": OTHER,
                  "child.features.example": CHILD, "big.example": BIG})
    return zones


# --- comparing answers ---------------------------------------------------------------------------

def exchange(port: int, wire: bytes, tcp: bool = False, timeout: float = 2.0) -> list[bytes]:
    """Raw request → raw responses ([] when none came within ``timeout``)."""
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            out = []
            soas = 0
            try:
                while True:
                    head = _recv(sock, 2)
                    if not head:
                        break
                    out.append(_recv(sock, struct.unpack("!H", head)[0]))
                    msg = dns.message.from_wire(out[0], keyring=False, question_only=True)
                    if not msg.question or msg.question[0].rdtype not in (
                            dns.rdatatype.AXFR, dns.rdatatype.IXFR):
                        break
                    # a zone transfer ends with its second SOA (or is one SOA: "current")
                    last = dns.message.from_wire(out[-1], keyring=False, one_rr_per_rrset=True)
                    soas += sum(r.rdtype == dns.rdatatype.SOA for r in last.answer)
                    if (last.rcode() != dns.rcode.NOERROR or soas >= 2
                            or (len(out) == 1 and len(last.answer) == 1)):
                        break
            except socket.timeout:
                pass
            return out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(wire, ("127.0.0.1", port))
        try:
            return [sock.recv(65535)]
        except socket.timeout:
            return []


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def _lines(section) -> list[str]:
    return sorted(line for rrset in section for line in rrset.to_text().splitlines())


def view(wire: bytes) -> dict:
    """What must be equal between BIND and us (IDs and RR order aside)."""
    header = struct.unpack("!6H", wire[:12])
    try:
        msg = dns.message.from_wire(wire, keyring=False, ignore_trailing=True)
    except Exception as exc:  # pragma: no cover - shown in the failure
        return {"header": header[1:], "unparseable": f"{exc!r} {wire[12:].hex()}"}
    options = []
    for option in msg.options:
        if option.otype == dns.edns.OptionType.COOKIE:
            options.append(("COOKIE", option.client.hex(), len(option.server)))
        else:
            options.append((int(option.otype), option.to_wire().hex()))
    return {
        "opcode": msg.opcode(), "rcode": msg.rcode(), "flags": dns.flags.to_text(msg.flags),
        "counts": header[2:],
        "question": [(q.name.to_text(), q.rdtype, q.rdclass) for q in msg.question],
        "edns": (msg.edns, msg.payload if msg.edns >= 0 else None, msg.ednsflags),
        "options": options,
        "answer": _lines(msg.answer), "authority": _lines(msg.authority),
        "additional": _lines(msg.additional),
        "tsig_error": msg.tsig[0].error if msg.tsig else None,
    }


def compare(bind_port: int, our_port: int, wire: bytes, tcp: bool = False) -> list[str]:
    """Differences between the two servers' answers to ``wire`` (empty: the same)."""
    theirs = exchange(bind_port, wire, tcp)
    ours = exchange(our_port, wire, tcp)
    if len(theirs) != len(ours):
        return [f"{len(theirs)} response(s) from BIND, {len(ours)} from us"]
    if tcp and len(theirs) > 1:  # a zone transfer: the same RRs, however split into messages
        a = sorted(x for w in theirs for x in view(w)["answer"])
        b = sorted(x for w in ours for x in view(w)["answer"])
        return [] if a == b else [f"transfer differs:\n bind {a}\n ours {b}"]
    diffs = []
    for bw, ow in zip(theirs, ours):
        bv, ov = view(bw), view(ow)
        partial = "TC" in bv["flags"].split() and bv["edns"][0] < 0
        for key in bv:
            if partial and key in ("answer", "authority", "additional"):
                # BIND rotates RRsets: the same number of RRs, all from the full answer
                full = view(exchange(bind_port, wire, tcp=True)[0])
                if not set(ov[key]) <= set(full[key]):
                    diffs.append(f"{key}: {ov[key]} is not part of the full answer")
                continue
            if bv[key] != ov.get(key):
                diffs.append(f"{key}:\n   bind {bv[key]}\n   ours {ov.get(key)}")
    return diffs


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """BIND and DnsServer serving the same files (BIND's zone files in its work directory)."""
    with BindServer(all_zones(), tmp_path_factory.mktemp("bind")) as bind:
        with DnsServer(bind.workdir, port=0) as ours:
            yield bind, ours


def query_wire(name: str, rdtype: str, edns: int = -1, payload: int = 1232, **kw) -> bytes:
    return dns.message.make_query(name, rdtype, use_edns=edns, payload=payload, **kw).to_wire()


def assert_same(pair, wire: bytes, tcp: bool = False, label: str = "") -> None:
    bind, ours = pair
    diffs = compare(bind.port, ours.port, wire, tcp)
    assert not diffs, f"{label or wire.hex()}:\n" + "\n".join(diffs)


# --- the battery -------------------------------------------------------------------------------

NAMED_CASES = [
    # existing NAPTR/SRV/A/AAAA (golden examples)
    ("acme.example", "NAPTR"), ("_sips._tcp.acme.example", "SRV"), ("_sip._udp.acme.example", "SRV"),
    ("sbc1.acme.example", "A"), ("sbc1.acme.example", "AAAA"), ("mysite.ru", "NAPTR"),
    ("_sip._udp.srvonly.example", "SRV"), ("pbx.srvonly.example", "A"),
    ("features.example", "NAPTR"), ("naptr2.features.example", "NAPTR"),
    # NODATA, NXDOMAIN, empty non-terminals
    ("acme.example", "A"), ("sbc2.acme.example", "AAAA"), ("nope.acme.example", "A"),
    ("_udp.srvonly.example", "SRV"), ("_tcp.acme.example", "SRV"), ("b.c.features.example", "TXT"),
    ("c.features.example", "A"), ("x.nope.acme.example", "SRV"),
    # SOA queries: NXDOMAIN gets a TTL 0 SOA in BIND
    ("acme.example", "SOA"), ("nope.acme.example", "SOA"), ("sbc1.acme.example", "SOA"),
    # CNAME: followed inside the zone, not out of it, loops and long chains
    ("alias.features.example", "A"), ("chain.features.example", "A"),
    ("chain.features.example", "AAAA"), ("alias.features.example", "CNAME"),
    ("outcname.features.example", "AAAA"), ("tochild.features.example", "A"),
    ("dangling.features.example", "A"), ("dangling.features.example", "SOA"),
    ("loop1.features.example", "A"), ("chain0.big.example", "A"), ("chain8.big.example", "A"),
    ("chain9.big.example", "A"), ("_sip._tcp.features.example", "SRV"),
    # delegations: referral without AA, glue only; DS at the cut is the parent's
    ("sub.features.example", "A"), ("x.sub.features.example", "SRV"),
    ("ns.sub.features.example", "A"), ("sub.features.example", "NS"),
    ("sub.features.example", "DS"), ("x.sub.features.example", "DS"),
    ("sub2.features.example", "A"), ("tosub.features.example", "A"),
    ("mx.features.example", "MX"), ("features.example", "NS"),
    # a child zone served too: longest match wins
    ("child.features.example", "SOA"), ("www.child.features.example", "A"),
    ("child.features.example", "DS"), ("child.features.example", "NS"),
    # wildcards, DNAME
    ("foo.wild.features.example", "A"), ("foo.wild.features.example", "AAAA"),
    ("x.wild.features.example", "A"), ("wild.features.example", "A"),
    ("a.b.wild.features.example", "TXT"), ("mxw.features.example", "MX"),
    ("x.dn.features.example", "A"), ("y.dn.features.example", "A"), ("dn.features.example", "A"),
    ("x.dn.features.example", "CNAME"), ("x.dn.features.example", "ANY"),
    # outside every zone
    ("example.org", "A"), ("org", "SOA"), (".", "NS"),
    # case: the question is echoed as asked, owners keep the zone's case
    ("SbC1.AcMe.Example", "A"), ("ACME.EXAMPLE", "NAPTR"), ("mixed.features.example", "A"),
    ("FOO.WILD.features.example", "A"), ("X.Dn.features.example", "A"),
    ("_SIP._UDP.srvonly.example", "SRV"), ("srvcase.features.example", "SRV"),
    # ANY (BIND's default minimal-any no: everything at the name)
    ("acme.example", "ANY"), ("sbc1.acme.example", "ANY"), ("alias.features.example", "ANY"),
    ("foo.wild.features.example", "ANY"), ("nope.acme.example", "ANY"),
    # types an unsigned zone does not have
    ("acme.example", "DNSKEY"), ("acme.example", "RRSIG"), ("sbc1.acme.example", "TYPE0"),
    ("sbc1.acme.example", "TXT"),
]


@pytest.mark.parametrize("name, rdtype", NAMED_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("mode", ["udp", "udp-edns", "udp-edns512", "tcp"])
def test_answers_equal_binds(pair, name, rdtype, mode):
    if mode == "udp":
        wire = query_wire(name, rdtype)
    elif mode == "udp-edns":
        wire = query_wire(name, rdtype, edns=0)
    elif mode == "udp-edns512":  # BIND answers minimally to small EDNS buffers
        wire = query_wire(name, rdtype, edns=0, payload=512)
    else:
        wire = query_wire(name, rdtype, edns=0)
    assert_same(pair, wire, tcp=mode == "tcp", label=f"{name} {rdtype} {mode}")


def test_every_name_and_type_of_every_zone_equals_bind(pair):
    """All owner names (and their parents, children and case variants) × common types."""
    names = set()
    for origin, text in all_zones().items():
        zone = dns.zone.from_text(text, origin=origin + ".", relativize=False,
                                  check_origin=False)
        for name in zone.nodes:
            names.update({name, name.parent() if len(name) > 1 else name,
                          dns.name.from_text("zz", name)})
    types = ["A", "AAAA", "NAPTR", "SRV", "NS", "SOA", "CNAME", "TXT", "MX", "ANY", "DS"]
    bind, ours = pair
    failures = []
    for name in sorted(names):
        text = name.to_text()
        for rdtype in types:
            for edns in (-1, 0):
                wire = query_wire(text, rdtype, edns=edns)
                diffs = compare(bind.port, ours.port, wire)
                if diffs:
                    failures.append(f"{text} {rdtype} edns={edns}: " + "; ".join(diffs))
    assert len(names) > 80
    assert not failures, "\n".join(failures[:20])


def test_large_answer_truncated_over_udp_then_complete_over_tcp(pair):
    bind, ours = pair
    name = "_sip._udp.big.example"
    for edns in (-1, 0):  # without EDNS BIND keeps what fits; with EDNS the question only
        wire = query_wire(name, "SRV", edns=edns)
        assert_same(pair, wire, label=f"UDP edns={edns}")
        response = dns.message.from_wire(exchange(ours.port, wire)[0])
        assert response.flags & dns.flags.TC
        assert (len(response.answer) == 0) == (edns == 0)
    wire = query_wire(name, "SRV")
    assert_same(pair, wire, tcp=True, label="TCP")
    response = dns.message.from_wire(exchange(ours.port, wire, tcp=True)[0])
    assert not response.flags & dns.flags.TC and len(response.answer[0]) == 60
    # a CNAME before a large RRset, and the client's payload capped at 1232
    assert_same(pair, query_wire("c.big.example", "SRV"), label="CNAME + big, no EDNS")
    assert_same(pair, query_wire(name, "SRV", edns=0, payload=4096), label="payload 4096")
    assert_same(pair, query_wire("h.big.example", "A", edns=0, payload=100), label="payload 100")


def test_axfr_equals_the_file_and_bind(pair):
    bind, ours = pair
    for origin in ("acme.example", "features.example", "big.example"):
        wire = query_wire(origin, "AXFR")
        assert_same(pair, wire, tcp=True, label=f"AXFR {origin}")
        xfr = dns.query.xfr("127.0.0.1", origin, port=ours.port, timeout=5,
                            relativize=False)
        served = {line for msg in xfr for rrset in msg.answer
                  for line in rrset.to_text().splitlines()}
        zone = dns.zone.from_text(all_zones()[origin], origin=origin + ".", relativize=False)
        in_file = {line for name, rdataset in zone.iterate_rdatasets()
                   for line in rdataset.to_text(name).splitlines()}
        assert served == in_file
    # over UDP BIND says FORMERR (not REFUSED); not a zone apex: NOTAUTH
    assert_same(pair, query_wire("acme.example", "AXFR"), label="AXFR over UDP")
    assert_same(pair, query_wire("sbc1.acme.example", "AXFR"), tcp=True, label="not an apex")
    assert_same(pair, query_wire("example.org", "AXFR"), tcp=True, label="no zone")


def _ixfr(origin: str, serial: int) -> bytes:
    msg = dns.message.make_query(origin, "IXFR")
    msg.authority.append(dns.rrset.from_text(
        origin + ".", 0, "IN", "SOA", f"ns.{origin}. h.{origin}. {serial} 1 1 1 1"))
    return msg.to_wire()


RAW_CASES = {
    "EDNS version 1: BADVERS": query_wire("sbc1.acme.example", "A", edns=1),
    "EDNS version 1, out of zone": query_wire("example.org", "A", edns=1),
    "EDNS DO echoed": query_wire("sbc1.acme.example", "A", edns=0, want_dnssec=True),
    "EDNS unknown option ignored": query_wire("acme.example", "NAPTR", edns=0, options=[
        dns.edns.GenericOption(65001, b"xx")]),
    "EDNS unknown flag not echoed": query_wire("acme.example", "SOA", edns=0, ednsflags=0x4000),
    "cookie answered": query_wire("acme.example", "NAPTR", edns=0, options=[
        dns.edns.CookieOption(b"12345678", b"")]),
    "cookie on REFUSED": query_wire("example.org", "A", edns=0, options=[
        dns.edns.CookieOption(b"12345678", b"")]),
    "cookie on TC": query_wire("_sip._udp.big.example", "SRV", edns=0, options=[
        dns.edns.CookieOption(b"12345678", b"")]),
    "bad cookie length: FORMERR with OPT": query_wire("acme.example", "A", edns=0, options=[
        dns.edns.GenericOption(10, b"1234567")]),
    "class CH: REFUSED": query_wire("acme.example", "SOA", rdclass="CH"),
    "class HS: REFUSED with EDE": query_wire("acme.example", "SOA", edns=0, rdclass="HS"),
    "class ANY: FORMERR": query_wire("acme.example", "SOA", rdclass="ANY"),
    "class NONE: FORMERR": query_wire("acme.example", "SOA", rdclass="NONE"),
    "unknown class: NOTIMP": query_wire("acme.example", "SOA", rdclass=77),
    "MAILB: NOTIMP": query_wire("acme.example", "MAILB"),
    "TKEY: FORMERR": query_wire("acme.example", "TKEY", edns=0),
    "OPT as qtype: FORMERR": query_wire("acme.example", "OPT"),
    "IXFR over UDP, old serial: SOA": _ixfr("acme.example", 0),
    "IXFR over UDP, current: SOA": _ixfr("acme.example", 1),
    "IXFR without SOA: FORMERR": query_wire("acme.example", "IXFR"),
    "IXFR of no zone: NOTAUTH": _ixfr("example.org", 1),
    "qdcount 0: FORMERR": b"\x12\x34\x01\x00" + b"\x00" * 8,
    "qdcount 2: FORMERR": (lambda w: w[:5] + b"\x02" + w[6:] + w[12:])(
        query_wire("acme.example", "A")),
    "truncated question: FORMERR": b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\xff\xff",
    "compression loop: FORMERR": b"\xab\xcd\x01\x00\x00\x01" + b"\x00" * 6 + b"\xc0\x0c\x00\x01\x00\x01",
    "two OPT: FORMERR": (lambda w: w[:10] + b"\x00\x02" + w[12:] + w[-11:])(
        query_wire("acme.example", "A", edns=0)),
    "OPT owner not root: FORMERR": (lambda w: w[:-11] + b"\x01a\x00" + w[-10:])(
        query_wire("acme.example", "A", edns=0)),
    "trailing bytes ignored": query_wire("acme.example", "NAPTR") + b"\x00\x00",
    "all header flags set": (lambda w: w[:2] + b"\x07\xf0" + w[4:])(
        query_wire("acme.example", "SOA")),
    "no header flags": (lambda w: w[:2] + b"\x00\x00" + w[4:])(query_wire("acme.example", "SOA")),
}
for _opcode in (dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS, dns.opcode.IQUERY, 3, 15):
    for _name in ("acme.example", "sbc1.acme.example", "example.org"):
        for _edns in (-1, 0):
            _msg = dns.message.make_query(_name, "SOA", use_edns=_edns)
            _msg.set_opcode(_opcode)
            RAW_CASES[f"opcode {_opcode} {_name} edns={_edns}"] = _msg.to_wire()
_msg = dns.message.make_query("sbc1.acme.example", "A")
_msg.set_opcode(dns.opcode.NOTIFY)
RAW_CASES["NOTIFY not SOA: FORMERR"] = _msg.to_wire()
_msg = dns.message.make_query("acme.example", "A")
_msg.use_tsig(dns.tsigkeyring.from_text({"k.": "aGVsbG8="}), keyname="k.")
RAW_CASES["TSIG with an unknown key: NOTAUTH/BADKEY"] = _msg.to_wire()


@pytest.mark.parametrize("label", list(RAW_CASES))
def test_raw_requests_equal_binds(pair, label):
    assert_same(pair, RAW_CASES[label], label=label)


@pytest.mark.parametrize("label, wire", [
    ("response (QR) is dropped", (lambda w: w[:2] + bytes([w[2] | 0x80]) + w[3:])(
        query_wire("acme.example", "SOA"))),
    ("shorter than a header is dropped", b"\x12\x34\x01"),
])
def test_no_answer_like_bind(pair, label, wire):
    bind, ours = pair
    assert exchange(bind.port, wire, timeout=0.5) == []
    assert exchange(ours.port, wire, timeout=0.5) == []
    assert handle(wire, ours.store, tcp=False) == b""


@pytest.mark.parametrize("serial", [0, 1, 5])
def test_ixfr_over_tcp_equals_binds(pair, serial):
    assert_same(pair, _ixfr("features.example", serial), tcp=True, label=f"IXFR {serial}")


def test_tcp_several_queries_on_one_connection(pair):
    bind, ours = pair
    queries = [dns.message.make_query(n, t) for n, t in
               [("acme.example", "NAPTR"), ("sbc1.acme.example", "A"), ("nope.acme.example", "A"),
                ("_sip._udp.big.example", "SRV")]]
    for port in (bind.port, ours.port):
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(b"".join(struct.pack("!H", len(w)) + w
                                  for w in (q.to_wire() for q in queries)))
            answers = [dns.message.from_wire(_recv(sock, struct.unpack("!H", _recv(sock, 2))[0]))
                       for _ in queries]
        assert [a.id for a in answers] == [q.id for q in queries]
        assert [a.rcode() for a in answers] == [0, 0, dns.rcode.NXDOMAIN, 0]
        assert len(answers[3].answer[0]) == 60


# --- reloads ---------------------------------------------------------------------------------------

def _serial(port: int, origin: str) -> int | None:
    try:
        response = dns.query.udp(dns.message.make_query(origin, "SOA"), "127.0.0.1",
                                 port=port, timeout=1)
    except Exception:
        return None
    if response.rcode() != dns.rcode.NOERROR or not response.answer:
        return None
    return response.answer[0][0].serial


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    future = time.time() + 5  # BIND reloads only files newer than what it loaded
    os.utime(path, (future, future))


def _hup(bind: BindServer, origin: str) -> None:
    """SIGHUP: named re-reads changed zone files; wait until it says how loading ``origin``
    went."""
    seen = len(bind.log.read_text(errors="replace").splitlines())
    bind.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        new = bind.log.read_text(errors="replace").splitlines()[seen:]
        if any(f"zone {origin}/IN: loaded serial" in line
               or f"zone {origin}/IN: not loaded" in line for line in new):
            return
        time.sleep(0.05)
    raise AssertionError(f"named did not reload {origin}:\n{bind.tail()}")


def _acme(serial: int, extra: str = "") -> str:
    return golden_zones()["acme.example"].replace(
        "hostmaster.acme.example. 1 ", f"hostmaster.acme.example. {serial} ") + extra


BROKEN = {
    "syntax error": "sbc3 3600 IN A 192.0.2.300\n",
    "CNAME and other data": "sbc1 3600 IN CNAME sbc2\n",
    "two CNAMEs": "x 300 IN CNAME sbc1\nx 300 IN CNAME sbc2\n",
    "check-names": "sbc_3 300 IN A 192.0.2.3\n",
    "NS without address": "@ 3600 IN NS ns9\n",
    "SOA below the apex": "x 300 IN SOA ns hostmaster 1 1 1 1 1\n",
}


@pytest.fixture
def reloading(tmp_path):
    zones = {"acme.example": _acme(1), "srvonly.example": golden_zones()["srvonly.example"]}
    with BindServer(zones, tmp_path / "bind") as bind:
        with DnsServer(bind.workdir, port=0) as ours:
            yield bind, ours


def test_reload_serves_the_new_serial_within_a_second(reloading):
    bind, ours = reloading
    assert _serial(ours.port, "acme.example") == _serial(bind.port, "acme.example") == 1
    path = bind.workdir / "acme.example.zone"
    _write(path, _acme(2, "$ORIGIN acme.example.\nnew 300 IN A 192.0.2.99\n"))
    start = time.monotonic()
    while _serial(ours.port, "acme.example") != 2 and time.monotonic() - start < 3:
        time.sleep(0.05)
    assert time.monotonic() - start < 1.2
    _hup(bind, "acme.example")
    assert _serial(bind.port, "acme.example") == 2
    assert_same((bind, ours), query_wire("new.acme.example", "A"), label="new record")
    assert_same((bind, ours), query_wire("acme.example", "AXFR"), tcp=True, label="AXFR")


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_a_broken_file_keeps_the_previous_version_like_bind(reloading, breakage, caplog):
    bind, ours = reloading
    path = bind.workdir / "acme.example.zone"
    caplog.set_level(logging.INFO, logger="zonesync.dnsserve")
    _write(path, _acme(3, "$ORIGIN acme.example.\n" + BROKEN[breakage]))
    ours.store.refresh(force=True)
    for _ in range(3):  # more checks of the same broken file log nothing more
        time.sleep(0.6)
        assert _serial(ours.port, "acme.example") == 1
    _hup(bind, "acme.example")
    assert _serial(bind.port, "acme.example") == 1, f"BIND loaded it: {bind.tail()}"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert str(path) in message and "still serving acme.example. serial 1" in message
    assert "\n" not in message
    # and the next good version is picked up again
    _write(path, _acme(4))
    ours.store.refresh(force=True)
    assert _serial(ours.port, "acme.example") == 4


def test_a_file_broken_from_the_start_is_servfail_like_bind(tmp_path):
    zones = {"srvonly.example": golden_zones()["srvonly.example"],
             "acme.example": _acme(1, "$ORIGIN acme.example.\n" + BROKEN["check-names"])}
    with BindServer(zones, tmp_path / "bind") as bind, DnsServer(bind.workdir, port=0) as ours:
        for name, rdtype in [("acme.example", "SOA"), ("sbc1.acme.example", "A"),
                             ("srvonly.example", "SOA")]:
            for edns in (-1, 0):
                assert_same((bind, ours), query_wire(name, rdtype, edns=edns))
        assert dns.message.from_wire(exchange(ours.port, query_wire("acme.example", "SOA"))[0]
                                     ).rcode() == dns.rcode.SERVFAIL


# --- resolve() over the responder equals resolve() over memory ----------------------------------

@pytest.fixture(scope="module")
def golden_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("zones")
    for origin, text in golden_zones().items():
        (directory / f"{origin}.zone").write_text(text)
    with DnsServer(directory, port=0) as server:
        yield server


@pytest.mark.parametrize("uri, expected", examples_table(), ids=lambda v: str(v)[:40])
def test_examples_table_over_the_responder(golden_server, uri, expected):
    live = LiveSource([f"127.0.0.1:{golden_server.port}"], timeout=2.0, retries=0)
    over_live = resolve(uri, live)
    over_memory = resolve(uri, MemorySource(all_records()))
    a, b = over_live.to_json(), over_memory.to_json()
    a.pop("steps"), b.pop("steps")
    assert a == b
    got = [(t.transport, t.host, t.port, t.address) for t in over_live.targets]
    assert (over_live.error if isinstance(expected, str) else got) == expected


@pytest.mark.parametrize("profile", ["rfc3263", "srv-only", "sofia"])
def test_more_uris_over_the_responder(golden_server, profile):
    live = LiveSource([f"127.0.0.1:{golden_server.port}"], timeout=2.0, retries=0)
    memory = MemorySource(all_records())
    for uri in ["sip:x@deadend.example", "sip:x@aflag.example", "sips:alex@mysite.ru",
                "sip:alice@acme.example;transport=tls", "sip:x@nonexistent.acme.example",
                "sips:bob@srvonly.example", "sip:x@sbc1.acme.example:5070"]:
        a, b = resolve(uri, live, profile).to_json(), resolve(uri, memory, profile).to_json()
        a.pop("steps"), b.pop("steps")
        assert a == b, uri


# --- the server itself (no BIND needed) -------------------------------------------------------------

@pytest.fixture
def zone_dir(tmp_path):
    for origin, text in golden_zones(extra=False).items():
        (tmp_path / f"{origin}.zone").write_text(text)
    return tmp_path


def _ask(port: int, name: str, rdtype: str, tcp: bool = False, **kw) -> dns.message.Message:
    msg = dns.message.make_query(name, rdtype, **kw)
    query = dns.query.tcp if tcp else dns.query.udp
    return query(msg, "127.0.0.1", port=port, timeout=2)


def test_start_binds_udp_and_tcp_on_one_port_and_stop_releases_it(zone_dir):
    server = DnsServer(zone_dir, port=0)
    assert server.start() is server
    try:
        assert server.port > 0 and server.address == "127.0.0.1"
        assert port_in_use("127.0.0.1", server.port)
        for tcp in (False, True):
            answer = _ask(server.port, "acme.example", "NAPTR", tcp=tcp)
            assert answer.flags & dns.flags.AA and len(answer.answer[0]) == 3
        with pytest.raises(OSError, match=f"127.0.0.1:{server.port}"):
            DnsServer(zone_dir, port=server.port).start()
    finally:
        server.stop()
    assert not port_in_use("127.0.0.1", server.port)
    server.stop()  # twice is fine


def test_tcp_idle_connections_are_closed(zone_dir):
    with DnsServer(zone_dir, port=0, tcp_idle_timeout=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            for _ in range(2):  # the connection stays open between queries...
                wire = dns.message.make_query("acme.example", "SOA").to_wire()
                sock.sendall(struct.pack("!H", len(wire)) + wire)
                (length,) = struct.unpack("!H", _recv(sock, 2))
                assert dns.message.from_wire(_recv(sock, length)).answer
                time.sleep(0.2)
            start = time.monotonic()
            assert sock.recv(4096) == b""  # ...and is closed by the server when idle
            assert 0.1 < time.monotonic() - start < 3


def test_zone_transfers_only_to_loopback_by_default(zone_dir):
    store = ZoneStore(zone_dir)
    wire = dns.message.make_query("acme.example", "AXFR").to_wire()
    refused = dns.message.from_wire(handle(wire, store, tcp=True, peer="192.0.2.1"))
    assert refused.rcode() == dns.rcode.REFUSED and not refused.answer
    for peer in ("127.0.0.1", "::1", "::ffff:127.0.0.2", None):
        messages = handle(wire, store, tcp=True, peer=peer)
        assert isinstance(messages, list)
        answer = [rr for m in messages
                  for rr in dns.message.from_wire(m, one_rr_per_rrset=True).answer]
        assert answer[0].rdtype == answer[-1].rdtype == dns.rdatatype.SOA
    allowed = handle(wire, store, tcp=True, peer="192.0.2.1", allow_transfer=lambda p: True)
    assert isinstance(allowed, list)
    with DnsServer(zone_dir, port=0, allow_transfer=["10.0.0.0/8"]) as server:
        assert server.allow_transfer("10.1.2.3") and not server.allow_transfer("127.0.0.1")


def test_handle_survives_garbage(zone_dir):
    """Random and mutated requests: never an exception, an answer only to something that has
    a header and is not a response, and every answer parses."""
    store = ZoneStore(zone_dir)
    rng = random.Random(3263)
    base = [dns.message.make_query(n, t, use_edns=e).to_wire()
            for n, t, e in [("acme.example", "NAPTR", 0), ("x.example", "A", -1)]]
    samples = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
               for _ in range(400)]
    for _ in range(1500):
        wire = bytearray(rng.choice(base))
        for _ in range(rng.randrange(1, 5)):
            wire[rng.randrange(len(wire))] = rng.getrandbits(8)
        samples.append(bytes(wire[:rng.randrange(len(wire) + 1)]))
    answered = 0
    for wire in samples:
        for tcp in (False, True):
            response = handle(wire, store, tcp=tcp)
            if len(wire) < 12 or wire[2] & 0x80:
                assert response == b""
                continue
            answered += 1
            for part in ([response] if isinstance(response, bytes) else response):
                msg = dns.message.from_wire(part, keyring=False, ignore_trailing=True)
                assert msg.flags & dns.flags.QR and msg.id == struct.unpack("!H", wire[:2])[0]
    assert answered > 1000


def test_store_longest_match_origin_from_soa_and_lazy_reload(tmp_path, caplog):
    (tmp_path / "example.zone").write_text(
        "$ORIGIN example.\n@ 300 IN SOA ns h 1 1 1 1 60\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n")
    (tmp_path / "whatever.zone").write_text(  # the stem is not the origin: the SOA owner is
        "$ORIGIN sub.example.\n@ 300 IN SOA ns h 5 1 1 1 60\n@ 300 IN NS ns\n"
        "ns 300 IN A 192.0.2.2\n")
    (tmp_path / "notes.txt").write_text("not a zone")
    store = ZoneStore(tmp_path, interval=1.0)
    assert store.serials() == {"example.": 1, "sub.example.": 5}
    zone = store.find_zone(dns.name.from_text("a.b.SUB.example."))
    assert isinstance(zone, dns.zone.Zone) and zone.origin == dns.name.from_text("sub.example.")
    assert zone.get_rdataset("ns.sub.example.", "A")[0].address == "192.0.2.2"
    assert store.find_zone(dns.name.from_text("example.")).origin.to_text() == "example."
    assert store.find_zone(dns.name.from_text("example.org.")) is None
    (tmp_path / "whatever.zone").unlink()
    assert store.find_zone(dns.name.from_text("x.sub.example.")).origin.to_text() == "sub.example."
    time.sleep(1.05)  # the next check is due: the removal is seen
    assert store.find_zone(dns.name.from_text("x.sub.example.")).origin.to_text() == "example."


def test_queries_are_logged_at_debug_only(zone_dir, caplog):
    caplog.set_level(logging.DEBUG, logger="zonesync.dnsserve")
    with DnsServer(zone_dir, port=0) as server:
        caplog.clear()
        for name in ("acme.example", "nope.acme.example", "example.org"):
            _ask(server.port, name, "NAPTR")
        _ask(server.port, "acme.example", "SOA", tcp=True)
        time.sleep(0.1)
    per_query = [r for r in caplog.records if "acme.example" in r.getMessage()
                 or "example.org" in r.getMessage()]
    assert per_query and all(r.levelno == logging.DEBUG for r in per_query)


def test_serve_forever_stops_cleanly_on_sigterm(zone_dir):
    port = None
    code = ("import sys; from zonesync.dnsserve import serve_forever; "
            "serve_forever(sys.argv[1], '127.0.0.1', int(sys.argv[2]), "
            "log=lambda line: print(line, flush=True))")
    for _ in range(5):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        proc = subprocess.Popen([sys.executable, "-c", code, str(zone_dir), str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=ROOT)
        try:
            deadline = time.monotonic() + 10
            answered = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    answered = bool(_ask(port, "acme.example", "SOA").answer)
                    break
                except Exception:
                    time.sleep(0.1)
            if proc.poll() is not None and "cannot listen" in (proc.stdout.read() or ""):
                continue  # the port was taken in between: try another
            assert answered
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, out
        assert "acme.example. serial 1 loaded" in out and "stopping" in out
        assert not port_in_use("127.0.0.1", port)
        return
    pytest.fail("no free port for serve_forever")
