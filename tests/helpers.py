"""Shared test helpers: the CLI as a user runs it, and a description with no findings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZONESYNC = Path(sys.executable).parent / "zonesync"

# A description with no findings at all: TLS first, then TCP, then UDP, default owners.
CLEAN = """\
domain: x.example
hosts:
  sip.x.example: [192.0.2.1]
sip:
  - transport: tls
    targets: [{host: sip.x.example}]
  - transport: tcp
    targets: [{host: sip.x.example}]
  - transport: udp
    targets: [{host: sip.x.example}]
"""


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the installed `zonesync` console script, without the caller's zonesync settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("ZONESYNC_DEBUG", "ZONESYNC_ZONES")}
    return subprocess.run([str(ZONESYNC), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
