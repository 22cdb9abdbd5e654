"""`serve`: the stdio MCP server that a desktop client starts schedules nothing unless asked (--schedule), and HTTP
takes its host and port from settings and the environment when no flag is given."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import httpx
import pytest
from testkit import CLI, SCRIPTED

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
}


def _stdio_session(home, *flags: str) -> str:
    """Start `serve` on stdio, wait for the answer to initialize, close stdin, wait for the exit; the log."""
    log = home / "serve.log"
    env = {**os.environ, **SCRIPTED, "PROMPT_ALCHEMY_LEARNING__ENABLED": "false"}
    proc = subprocess.Popen(
        [*CLI, "serve", "--log-file", str(log), *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        proc.stdin.write(json.dumps(INIT) + "\n")
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 1 and "result" in answer, answer
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    return log.read_text(encoding="utf-8")


def test_stdio_schedules_nothing_unless_asked(home):
    quiet = _stdio_session(home)
    assert "MCP server on stdio" in quiet and "learning is off" not in quiet  # the training loop never started
    asked = _stdio_session(home, "--schedule")
    assert "learning is off" in asked


def _listening(log_path, proc) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
        match = re.search(r"listening on (http://[\d.]+:\d+)/mcp", text)
        if match:
            return match.group(1)
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    raise AssertionError("the server did not start")


@pytest.mark.parametrize("how", ["env", "file"])
def test_http_host_and_port_come_from_settings(home, write_config, how):
    env = {**os.environ, **SCRIPTED}
    if how == "env":
        env.update(PROMPT_ALCHEMY_SERVER__HOST="127.0.0.2", PROMPT_ALCHEMY_SERVER__PORT="0")
    else:
        write_config("server:\n  host: 127.0.0.2\n  port: 0\n")
    log = home / "http.log"
    proc = subprocess.Popen(
        [*CLI, "serve", "--transport", "http", "--log-file", str(log)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _listening(log, proc)
        assert url.startswith("http://127.0.0.2:") and not url.endswith(":8080")
        assert httpx.get(url + "/health", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_bad_port_setting_is_one_clear_error(cli, home):
    proc = cli("serve", "--transport", "http", env={"PROMPT_ALCHEMY_SERVER__PORT": "70000"})
    assert proc.returncode == 2 and proc.stderr.startswith("error: invalid configuration: server.port")
    assert proc.stderr.count("\n") == 1
