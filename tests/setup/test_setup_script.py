"""`scripts/setup.sh` (what `make generate` runs) on a copy of the checkout with a new virtualenv: it installs the
package and the local stack and nothing for the tests (no dev extras, no npm packages), prints only its progress
lines on stderr, and a second run does nothing, silently.

Reuses this machine's cached portable llama-cpp-python build (made by `make setup`), so nothing compiles here."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from prompt_alchemy.localstack import LLAMA_PACKAGE, cached_wheel, cmake_args, pins, wheel_cache, wheel_dir

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
_KNOBS = {k: v for k, v in os.environ.items() if k in ("PROMPT_ALCHEMY_WHEEL_CACHE", "PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS")}
_LLAMA_DIR = wheel_dir(pins()[LLAMA_PACKAGE], cmake_args(_KNOBS), wheel_cache(_KNOBS))


def _copy_checkout(dest: Path) -> None:
    """The tracked files as they are in the working tree (no .venv, no node_modules)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    archive = dest.parent / "checkout.tar"
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, files):
            path = ROOT / name.decode()
            if path.is_file():
                tar.add(path, arcname=name.decode())
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")


@pytest.fixture(scope="module")
def setup_run(tmp_path_factory):
    if cached_wheel(_LLAMA_DIR, pins()[LLAMA_PACKAGE]) is None:
        pytest.skip(f"no cached portable llama-cpp-python build in {_LLAMA_DIR}; run 'make setup' first")
    work = tmp_path_factory.mktemp("setup-sh")
    checkout = work / "checkout"
    _copy_checkout(checkout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_") and k != "VIRTUAL_ENV"}
    env.update(_KNOBS, PROMPT_ALCHEMY_HOME=str(work / "home"), PYTHON=sys.executable, VENV=str(work / "venv"))

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "scripts/setup.sh"],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )

    return checkout, work / "venv", run(), run


def test_setup_installs_the_package_and_the_local_stack_only(setup_run):
    checkout, venv, first, _ = setup_run
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("setup: ") for line in lines), first.stderr
    assert first.stdout == ""
    assert any("using the cached portable build" in line for line in lines)
    python = str(venv / "bin" / "python")
    local = subprocess.run([python, "-c", "import llama_cpp, onnxruntime, tokenizers"], capture_output=True)
    assert local.returncode == 0, local.stderr
    for test_tool in ("pytest", "playwright", "schemathesis"):  # the dev extras are for `make test`
        assert subprocess.run([python, "-c", f"import {test_tool}"], capture_output=True).returncode != 0, test_tool
    assert not (checkout / "node_modules").exists()  # no npm ci for `make generate`


def test_a_second_run_does_nothing(setup_run):
    checkout, venv, first, run = setup_run
    stamp = (venv / ".prompt-alchemy-setup").read_text()
    again = run()
    assert again.returncode == 0, again.stderr
    assert again.stdout == "" and again.stderr == ""
    assert (venv / ".prompt-alchemy-setup").read_text() == stamp
