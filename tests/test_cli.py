"""The README's user journey through the real console script: validate, compile, resolve.

The zones served by BIND here are made by `zonesync compile` itself (plus an SOA/NS), so the
round trip is the product's: description → records → authoritative server → RFC 3263 client.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.dnsservers import BindServer, zone_text
from tests.helpers import ROOT, cli
from tests.test_resolve import examples_table
from zonesync.findings import RULES
from zonesync.records import parse_records

DOMAINS = ("acme.example", "mysite.ru", "srvonly.example")


def rows(result: dict) -> list[tuple]:
    return [(t["transport"], t["host"], t["port"], t["address"]) for t in result["targets"]]


@pytest.fixture(scope="module")
def zones_dir(tmp_path_factory) -> Path:
    """A copy of the shipped zones/, so that the tests see exactly what a new user gets."""
    target = tmp_path_factory.mktemp("user") / "zones"
    shutil.copytree(ROOT / "zones", target)
    return target


@pytest.fixture(scope="module")
def bind(zones_dir, tmp_path_factory):
    zones = {}
    for domain in DOMAINS:
        run = cli("--zones", str(zones_dir), "compile", domain)
        assert run.returncode == 0, run.stderr
        zones[domain] = zone_text(domain, parse_records(run.stdout))
    with BindServer(zones, tmp_path_factory.mktemp("bind")) as server:
        yield server


def test_validate_the_shipped_zones(zones_dir):
    run = cli("--zones", str(zones_dir), "validate", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] and report["errors"] == 0 and report["warnings"] == 3
    assert sorted(f["domain"] for f in report["files"]) == sorted(DOMAINS)


@pytest.mark.parametrize("uri, expected", examples_table(), ids=lambda v: str(v)[:40])
def test_resolve_from_zones_gives_the_examples_table(zones_dir, uri, expected):
    run = cli("--zones", str(zones_dir), "resolve", "--from-zones", "--json", uri)
    result = json.loads(run.stdout)
    assert set(result) >= {"uri", "targets", "warnings", "error"}
    if isinstance(expected, str):
        assert run.returncode == 1 and result["error"] == expected and result["targets"] == []
    else:
        assert run.returncode == 0 and result["error"] is None
        assert rows(result) == expected


@pytest.mark.parametrize("uri, expected", examples_table(), ids=lambda v: str(v)[:40])
def test_resolve_against_bind_serving_what_compile_printed(bind, uri, expected):
    run = cli("resolve", "--nameserver", bind.nameserver, "--json", uri)
    result = json.loads(run.stdout)
    if isinstance(expected, str):
        assert run.returncode == 1 and result["error"] == expected
    else:
        assert run.returncode == 0, run.stdout + run.stderr
        assert rows(result) == expected


def test_resolve_text_output_is_one_line_a_target(zones_dir):
    run = cli("--zones", str(zones_dir), "resolve", "--from-zones", "sip:alex@mysite.ru")
    assert run.returncode == 0
    assert run.stdout.splitlines() == ["udp sip.mysite.ru 5060 203.0.113.10",
                                       "udp sip2.mysite.ru 5060 203.0.113.11"]


def test_resolve_random_order_is_repeatable_with_a_seed(zones_dir):
    def order(seed: int) -> list[tuple]:
        run = cli("--zones", str(zones_dir), "resolve", "--from-zones", "--json", "--random",
                  "--seed", str(seed), "sips:alice@acme.example")
        return rows(json.loads(run.stdout))
    orders = {tuple(order(seed)) for seed in range(12)}
    assert len(orders) == 2                      # sbc1 (weight 60) or sbc2 (40) first
    assert order(7) == order(7)


@pytest.mark.parametrize("argv, fragment", [
    (["resolve", "tel:+15551234"], "not a SIP URI"),
    (["resolve", "sips:a@x.example;transport=udp", "--from-zones"], None),
    (["resolve", "sip:a@x.example", "--nameserver", "not an address"], "nameserver"),
    (["resolve", "sip:a@x.example", "--from-zones", "--nameserver", "127.0.0.1"], "exclude"),
    (["compile", "nowhere.example"], "no description"),
    (["frobnicate"], "No such command"),
])
def test_user_errors_are_messages_not_tracebacks(zones_dir, argv, fragment):
    run = cli("--zones", str(zones_dir), *argv)
    assert run.returncode in (1, 2), (run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    if fragment:
        assert fragment in run.stderr
    else:   # sips: over udp is the URI's own contradiction: reported as a resolution error
        assert "udp" in (run.stdout + run.stderr).lower()


def test_rules_lists_the_whole_catalog():
    run = cli("rules", "--json")
    assert run.returncode == 0
    listed = json.loads(run.stdout)
    assert [r["id"] for r in listed] == list(RULES)
    assert all(r["severity"] in ("error", "warning") and r["fix"] for r in listed)


def test_every_rule_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [rule for rule in RULES if f"`{rule}`" not in readme]
    assert not missing, f"README does not mention {missing}"
