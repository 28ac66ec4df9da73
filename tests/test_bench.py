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
    assert lines[0].split()[:2] == ["domains", "load+lint"]
    assert "peak RSS MiB" in lines[0] and "warm s" in lines[0]
    row = lines[1].split()
    assert row[0] == "20" and row[5] == "240"   # 20 domains, 12 records each
