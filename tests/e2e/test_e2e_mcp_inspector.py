"""A real third-party client: the MCP Inspector CLI (npm @modelcontextprotocol/inspector@0.15.0, installed by
scripts/setup.sh into node_modules) lists the tools and calls generate_prompts and search_prompts (and reads a
resource) over stdio and over streamable HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_e2e_mcp_http import SCRIPTED, start_http_server

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"
SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
pytestmark = pytest.mark.e2e


def inspector(*args: str) -> dict:
    assert INSPECTOR.exists(), "the MCP Inspector is not installed; run 'make setup' (it runs npm ci)"
    proc = subprocess.run(
        [str(INSPECTOR), "--cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=dict(os.environ, **SCRIPTED),
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def check_session(target: list[str]) -> None:
    tools = {t["name"]: t for t in inspector(*target, "--method", "tools/list")["tools"]}
    assert {"generate_prompts", "batch_generate", "validate_config"} <= set(tools)
    assert tools["generate_prompts"]["inputSchema"]["required"] == ["idea"]

    generated = inspector(
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "generate_prompts",
        "--tool-arg",
        "idea=a CLI that summarizes git logs",
        "count=1",
        'tags=["inspector"]',
    )
    assert generated.get("isError") is not True, generated
    data = generated["structuredContent"]
    assert data["saved"] is True and len(data["prompts"]) == 3
    assert data["best"]["id"] in generated["content"][0]["text"]

    failed = inspector(
        *target, "--method", "tools/call", "--tool-name", "generate_prompts", "--tool-arg", "idea=x", "count=42"
    )
    assert failed["isError"] is True and "count" in failed["content"][0]["text"]

    found = inspector(
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "search_prompts",
        "--tool-arg",
        "query=summarizes git logs",
        "mode=text",
        "limit=5",
    )
    assert found.get("isError") is not True, found
    hits = found["structuredContent"]["results"]
    assert hits and {h["id"] for h in hits} <= {p["id"] for p in data["prompts"]}  # the library holds only these

    resource = inspector(*target, "--method", "resources/read", "--uri", f"prompt://{data['best']['id']}")
    assert json.loads(resource["contents"][0]["text"])["id"] == data["best"]["id"]


def test_inspector_over_stdio(home):
    check_session([str(SCRIPT), "serve"])


def test_inspector_over_http(home):
    proc, url = start_http_server()
    try:
        check_session([f"{url}/mcp", "--transport", "http"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
