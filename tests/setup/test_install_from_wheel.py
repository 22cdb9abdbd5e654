"""An install without the repository: the package's wheel into a clean virtualenv (pinned by the constraints it
ships), then `prompt-alchemy local install`, then `generate` offline with no key. Before the local install, the
error names `prompt-alchemy local install` (not `make setup`, which means nothing without the repository).

Reuses this machine's cached portable llama-cpp-python build (made by `make setup`), so nothing compiles here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_alchemy.localstack import (
    LLAMA_PACKAGE,
    cached_wheel,
    cmake_args,
    constraints_path,
    pins,
    wheel_cache,
    wheel_dir,
)

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# Read at import time: the autouse `home` fixture clears PROMPT_ALCHEMY_* variables before each test.
_KNOBS = {k: v for k, v in os.environ.items() if k in ("PROMPT_ALCHEMY_WHEEL_CACHE", "PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS")}
_LLAMA_DIR = wheel_dir(pins()[LLAMA_PACKAGE], cmake_args(_KNOBS), wheel_cache(_KNOBS))
_OFFLINE = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "HF_HUB_OFFLINE": "1",
}


def _run(argv: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    if cached_wheel(_LLAMA_DIR, pins()[LLAMA_PACKAGE]) is None:
        pytest.skip(f"no cached portable llama-cpp-python build in {_LLAMA_DIR}; run 'make setup' first")
    work = tmp_path_factory.mktemp("wheel-install")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_") and k != "VIRTUAL_ENV"}
    env.update(_KNOBS, PROMPT_ALCHEMY_HOME=str(work / "home"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(work / "dist")], env)
    assert built.returncode == 0, built.stdout + built.stderr
    (package,) = (work / "dist").glob("prompt_alchemy-*.whl")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], env)
    assert made.returncode == 0, made.stderr
    # Outside the checkout, as a pipx user would be (no repository on the path).
    installed = _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(constraints_path()), str(package)], env
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv, env, work


def test_the_wheel_ships_the_constraints(wheel_venv):
    venv, env, work = wheel_venv
    proc = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from prompt_alchemy.localstack import constraints_path, pins;"
            "print(constraints_path()); print(pins()['llama-cpp-python'])",
        ],
        dict(env),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    where, version = proc.stdout.split()
    assert str(venv) in where and version == pins()[LLAMA_PACKAGE]


def test_local_install_then_generate_offline_with_no_key(wheel_venv):
    venv, env, work = wheel_venv
    cli = str(venv / "bin" / "prompt-alchemy")
    before = _run([cli, "generate", "-q", "a CLI that summarizes git logs"], dict(env, **_OFFLINE), timeout=120)
    assert before.returncode != 0
    assert "prompt-alchemy local install" in before.stderr and "make setup" not in before.stderr

    installed = _run([cli, "local", "install"], env)
    assert installed.returncode == 0, installed.stderr
    progress = [line for line in installed.stderr.splitlines() if line.strip()]
    assert any("using the cached portable build" in line for line in progress), installed.stderr  # no compile
    assert all(line.startswith("setup: ") for line in progress), installed.stderr  # quiet: progress lines only
    assert installed.stdout == ""

    proc = _run(
        [cli, "generate", "--count", "1", "--max-tokens", "48", "--output", "json", "a CLI that summarizes git logs"],
        dict(env, **_OFFLINE),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["prompts"] and all(p["provider"] == "local" and p["content"].strip() for p in data["prompts"])
