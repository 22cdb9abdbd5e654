"""Shared test helpers (a uniquely named module: `from testkit import ...` is ambiguous across test dirs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = ROOT / "src" / "prompt_alchemy" / "data"
AWESOME_CSV = PACKAGE_DATA / "awesome-chatgpt-prompts.csv"
CLI = [sys.executable, "-m", "prompt_alchemy"]


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real CLI as a subprocess with the current (test) environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(CLI + list(args), input=input, capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=ROOT)


def parse_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
