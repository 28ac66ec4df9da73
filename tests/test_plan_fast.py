"""The plan's fast paths give the answers the slow ones did.

- ``desired_rrsets`` computes octoDNS's normal form itself; ``octo_rrsets`` builds octoDNS
  records to get it. They must agree for every compiled description (hypothesis), or a
  steady-state plan would show changes that are not there (or miss real ones).
- ``parallel.map_zones`` forks workers for many zones: results in order, each reported once,
  and no worker reuses its parent's provider connection.
- ``state.remember_zone`` keeps one file per zone and still reads an older ``managed.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.helpers import ROOT
from tests.test_properties import _load, descriptions
from zonesync import parallel
from zonesync import state as S
from zonesync.compile import compile_zone
from zonesync.plan import desired_rrsets, octo_rrsets
from zonesync.records import Naptr, Record


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions(), st.sampled_from(["zonesync", "team-a.eu_1"]))
def test_desired_rrsets_equal_octodns_normal_form(data, owner):
    description = _load(data)
    records = compile_zone([description])
    zone = description.zone_name + "."
    assert desired_rrsets(records, zone, owner) == octo_rrsets(records, zone, owner)


def test_escaped_naptr_strings_take_octodns_path():
    zone = "example.com."
    value = Naptr(10, 50, "u", "E2U+sip", '!^.*$!sip:"info"\\@example.com!', ".")
    records = [Record("example.com.", 300, "NAPTR", value)]
    assert desired_rrsets(records, zone, "zonesync") == octo_rrsets(records, zone, "zonesync")


def _square_with_pid(n: int) -> tuple[int, int]:
    time.sleep(0.005)        # long enough that no one worker takes every batch
    return n * n, os.getpid()


def _in_fresh_process(code: str) -> dict:
    """Run ``code`` in a new interpreter (map_zones forks only from a process with no other
    thread; pytest's process may have some from other tests) and return what it printed."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=120, cwd=ROOT,
                            env={**os.environ, parallel.WORKERS_ENV: "2"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_map_zones_forks_keeps_order_and_reports_each_item():
    got = _in_fresh_process("""
        import json, os, time
        from zonesync import parallel

        def square(n):
            time.sleep(0.005)        # long enough that no one worker takes every batch
            return n * n, os.getpid()

        items = list(range(parallel.MIN_ITEMS * 3))
        seen = []
        out = parallel.map_zones(square, items, seen.append)
        print(json.dumps({"items": items, "seen": seen, "out": out, "me": os.getpid()}))
    """)
    assert [square for square, _ in got["out"]] == [n * n for n in got["items"]]
    assert sorted(got["seen"]) == got["items"]
    pids = {pid for _, pid in got["out"]}
    assert got["me"] not in pids and len(pids) == 2


def test_map_zones_stays_in_process_for_few_items_one_worker_or_threads(monkeypatch):
    assert {pid for _, pid in parallel.map_zones(_square_with_pid, [1, 2, 3])} == {os.getpid()}
    items = list(range(parallel.MIN_ITEMS * 3))
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    assert {pid for _, pid in parallel.map_zones(_square_with_pid, items)} == {os.getpid()}
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:                                  # another thread: forking could copy a held lock
        assert {pid for _, pid in parallel.map_zones(_square_with_pid, items)} == {os.getpid()}
    finally:
        stop.set()
        other.join()


def test_forked_worker_builds_its_own_provider_instance(tmp_path):
    got = _in_fresh_process(f"""
        import json
        from pathlib import Path
        from zonesync import parallel
        from zonesync.providers.config import ProviderConfig, ProviderFile

        spec = ProviderFile.model_validate({{"class": "zonesync.providers.local.LocalProvider",
                                            "settings": {{"directory": {str(tmp_path)!r}}}}})
        config = ProviderConfig("local", "providers/local.yaml", spec, Path({str(tmp_path)!r}))
        config.instance().built_in = "parent"
        seen = parallel.map_zones(lambda _: getattr(config.instance(), "built_in", "worker"),
                                  list(range(parallel.MIN_ITEMS * 2)))
        print(json.dumps({{"seen": sorted(set(seen)), "parent": config.instance().built_in}}))
    """)
    assert got == {"seen": ["worker"], "parent": "parent"}   # each worker built its own


def test_remember_zone_one_file_a_zone_and_legacy_json(tmp_path):
    (tmp_path / "managed.json").write_text(json.dumps({"pdns": ["old.example.", "gone.example."]}))
    S.remember_zone(tmp_path, "pdns", "new.example", True)
    S.remember_zone(tmp_path, "pdns", "new.example.", True)     # idempotent
    S.remember_zone(tmp_path, "bind", "b.example.", True)
    S.remember_zone(tmp_path, "pdns", "gone.example.", False)   # removed from the legacy file too
    assert S.managed_zones(tmp_path) == {"pdns": ["new.example.", "old.example."],
                                         "bind": ["b.example."]}
    assert (tmp_path / "managed" / "pdns" / "new.example.").is_file()
    S.remember_zone(tmp_path, "pdns", "new.example.", False)
    assert S.managed_zones(tmp_path)["pdns"] == ["old.example."]


class _HttpProvider:
    def __init__(self):
        import requests
        self._sess = requests.Session()


def test_sessions_skip_environment_lookups_only_when_nothing_there_to_find(monkeypatch, tmp_path):
    from zonesync.providers.config import _skip_environment_lookups

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in list(os.environ):
        if "proxy" in name.lower() or name in ("NETRC", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    plain = _HttpProvider()
    _skip_environment_lookups(plain)
    assert plain._sess.trust_env is False
    assert plain._sess.verify == "/etc/ssl/certs/ca-certificates.crt"   # as requests would
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    proxied = _HttpProvider()
    _skip_environment_lookups(proxied)
    assert proxied._sess.trust_env is True
    monkeypatch.delenv("HTTPS_PROXY")
    (tmp_path / ".netrc").write_text("machine example.com login a password b\n")
    with_netrc = _HttpProvider()
    _skip_environment_lookups(with_netrc)
    assert with_netrc._sess.trust_env is True


def test_octo_records_from_data_equal_octodns_parsing_the_text():
    from octodns.record import Record as OctoRecord
    from octodns.record.rr import Rrset
    from octodns.zone import Zone

    from zonesync.plan import RRset, _octo_record, _rrset_of

    zone = Zone("example.com.", [])
    cases = [RRset("example.com.", "NAPTR", 300, ('10 50 "S" "SIPS+D2T" "" _sips._tcp.example.com.',
                                                  '20 50 "S" "SIP+D2U" "" _sip._udp.example.com.')),
             RRset("_sip._udp.example.com.", "SRV", 60, ("10 60 5060 sbc1.example.com.",
                                                         "0 0 0 .")),
             RRset("sbc1.example.com.", "A", 300, ("192.0.2.1", "192.0.2.2")),
             RRset("sbc1.example.com.", "AAAA", 300, ("2001:db8::1",)),
             RRset("_zonesync.a.sbc1.example.com.", "TXT", 300, ('"heritage=zonesync"',))]
    for rrset in cases:
        slow = OctoRecord.from_rrset(zone, Rrset(rrset.name, rrset.type, rrset.ttl,
                                                 list(rrset.rdatas)))
        fast = _octo_record(zone, rrset)
        assert _rrset_of(fast) == _rrset_of(slow)
        assert fast.data == slow.data and fast.name == slow.name
