"""Smoke tests of the benchmark scripts: they run at a tiny size and print their table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_compile_lint_bench_prints_its_table():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "compile_lint.py"), "20", "--warm"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("# before: two CPU-bound processes do")
    assert lines[-1].startswith("# after: two CPU-bound processes do")
    assert lines[1].split()[:2] == ["domains", "load+lint"]
    assert "peak RSS MiB" in lines[1] and "1 process/s" in lines[1] and "warm s" in lines[1]
    row = lines[2].split()
    assert row[0] == "20" and row[6] == "240"   # 20 domains, 12 records each
    assert float(row[4]) > 0 and float(row[5]) > 0   # both rates measured


def test_cores_prints_the_parallel_factor():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "cores.py")],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    factor = float(result.stdout.split("do ")[1].split("x")[0])
    assert 0.3 < factor < 2.5, result.stdout   # a ratio of two timings, not a constant


def _service_bench_prerequisites():
    from tests.dnsservers import require, require_binary
    require_binary("pdns_server", "pdns-server")
    require_binary("git", "git")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    require(gunicorn.exists(), f"gunicorn is missing ({gunicorn}): pip install gunicorn")


def test_api_load_bench_prints_its_tables():
    _service_bench_prerequisites()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "api_load.py"), "--domains", "20",
                             "--rate", "40", "--seconds", "1", "--changes", "2",
                             "--connections", "4"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "N = 20 domains" in out
    rows = {line.split()[0] + " " + line.split()[1]: line.split() for line in out.splitlines()
            if line.startswith(("POST /v1/syncs", "GET /v1/domains"))}
    assert set(rows) == {"POST /v1/syncs", "GET /v1/domains"}
    assert all(float(r[2]) > 0 for r in rows.values())          # achieved rate
    assert "2 changes  call->verified p50" in out


def test_change_latency_bench_prints_its_table():
    _service_bench_prerequisites()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "change_latency.py"), "20",
                             "--changes", "2"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout.split("\n\n")[-1].splitlines()
    assert table[0].split()[:3] == ["N", "path", "runs"]
    assert "20 of 20 domains synced" in table[1]
    assert table[2].startswith("# warm-up (untimed in the table): webhook ")
    assert table[3].split()[:4] == ["20", "git", "push", "+"]
    assert table[4].split()[:3] == ["20", "PUT", "+"]


def test_change_latency_bench_without_git():
    _service_bench_prerequisites()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "change_latency.py"), "20",
                             "--changes", "2", "--no-git"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout.split("\n\n")[-1].splitlines()
    assert table[2].startswith("# warm-up (untimed in the table): PUT ")
    assert table[3].split()[:6] == ["20", "PUT", "+", "POST", "/v1/syncs", "(no"]
    assert len(table) == 4


def test_verify_checks_bench_prints_its_table():
    """bench/verify_checks.py at N=5 against both servers; dnsperf is used when installed
    (`make bench-deps`), never required."""
    import shutil

    from tests.dnsservers import require_binary
    require_binary("named", "bind9")
    require_binary("pdns_server", "pdns-server")
    args = [sys.executable, str(ROOT / "bench" / "verify_checks.py"), "-n", "5", "--repeat", "2",
            "--seconds", "1"]
    dnsperf = shutil.which("dnsperf") is not None
    if not dnsperf:
        args.append("--no-dnsperf")
    result = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:5] == ["server", "N", "RRset", "checks", "seconds"]
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert set(rows) == {"PowerDNS", "BIND"}
    for row in rows.values():
        assert row[1:3] == ["5", "35"]            # 5 domains, 7 owned RRsets each
        assert float(row[4]) > 0                  # checks/s
        assert (float(row[5]) > 0) if dnsperf else row[5] == "n/a"
    both = lines[3].split()                       # every zone on both servers in one call
    assert both[:3] == ["both", "5", "70"] and both[5] == "n/a"


def test_sync_vs_octodns_bench_prints_its_ratios():
    from tests.dnsservers import require_binary
    require_binary("pdns_server", "pdns-server")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "sync_vs_octodns.py"), "3"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line[:34].strip(): line[34:].split() for line in result.stdout.splitlines()[1:]}
    for label in ("zonesync sync --force (first)", "zonesync plan (steady)",
                  "octodns-sync (dry run)", "octodns-sync --doit (first)"):
        assert rows[label][0] == "3" and float(rows[label][1]) > 0, result.stdout
    assert rows["ratio plan / octodns-sync dry-run"][1].endswith("x")
    assert "57 records (19 per zone, markers included)" in result.stderr


def test_dnsserve_qps_bench_prints_its_table():
    from tests.dnsservers import require_binary
    require_binary("named", "bind9")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "dnsserve_qps.py"),
                             "--seconds", "0.3"], capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "q/s" in result.stdout and "BIND" in result.stdout, result.stdout
