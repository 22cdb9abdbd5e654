"""Setup's smoke check (`python -m prompt_alchemy.selfcheck`, the last step of scripts/setup.sh): it passes on a
good install and stops with one clear message when the model is missing, corrupt, or crashes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from testkit import ROOT

from prompt_alchemy.selfcheck import interpret_probe, run_child


def selfcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "prompt_alchemy.selfcheck", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=300,
    )


def test_the_smoke_check_passes_on_this_install(home):
    proc = selfcheck("--wheel-dir", "/cache/llama-x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "setup: self-check: local model: SmolLM2-135M-Instruct.Q4_1.gguf loads and generates" in proc.stderr
    assert "setup: self-check: embedder: local/all-MiniLM-L6-v2 embeds a sentence (384-d)" in proc.stderr


def test_a_missing_model_file_stops_setup_with_one_clear_message(home, tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    proc = selfcheck(env={"PROMPT_ALCHEMY_PROVIDERS__LOCAL__MODEL_PATH": str(missing)})
    assert proc.returncode == 1
    failed = [line for line in proc.stderr.splitlines() if line.startswith("setup: FAILED")]
    assert len(failed) == 1, proc.stderr
    assert f"{missing} does not exist" in failed[0]
    assert "providers.local.model_path" in failed[0] and "not marked done" in failed[0]
    assert "Traceback" not in proc.stderr
    assert "setup: self-check: embedder" in proc.stderr  # the embedder was still checked, and passed


def test_a_corrupt_model_file_stops_setup_with_one_clear_message(home, tmp_path):
    corrupt = tmp_path / "model.gguf"
    corrupt.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x07" * 4096)  # a valid header, then nonsense counts
    proc = selfcheck(env={"PROMPT_ALCHEMY_PROVIDERS__LOCAL__MODEL_PATH": str(corrupt)})
    assert proc.returncode == 1
    failed = [line for line in proc.stderr.splitlines() if line.startswith("setup: FAILED")]
    assert len(failed) == 1 and f"cannot load model {corrupt}" in failed[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_broken_config_is_named_as_the_cause_not_the_build(home, write_config):
    write_config("providers:\n  local:\n    n_ctx: many\n")
    proc = selfcheck("--wheel-dir", "/cache/llama-x")
    assert proc.returncode == 1
    [failed] = [line for line in proc.stderr.splitlines() if line.startswith("setup: FAILED")]
    assert "providers.local.n_ctx" in failed and "config validate" in failed
    assert "/cache/llama-x" not in failed


def test_a_crashing_probe_is_reported_with_the_wheel_to_remove():
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    outcome = asyncio.run(run_child(crash))
    assert outcome.crashed and outcome.returncode == -11
    check = interpret_probe("model", outcome, crash_fix="remove /cache/llama-x and run 'make setup' again")
    assert check.status == "fail"
    assert check.detail == "crashed with SIGSEGV (signal 11) while loading the model or generating"
    assert check.fix == "remove /cache/llama-x and run 'make setup' again"


def test_a_hanging_probe_is_killed_and_reported():
    outcome = asyncio.run(run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5))
    assert outcome.returncode is None
    check = interpret_probe("embedder", outcome, crash_fix="reinstall")
    assert check.status == "fail" and "did not finish" in check.detail
