"""End to end over streamable HTTP: the real `prompt-alchemy serve --transport http` process on 127.0.0.1, the
SDK's HTTP client, /health, progress, errors, resources, a clean SIGTERM, and an empty stdout."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mcp import Client

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
SCRIPTED = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}
pytestmark = pytest.mark.e2e


def start_http_server(extra_env: dict[str, str] | None = None, *args: str) -> tuple[subprocess.Popen, str]:
    """Start `serve --transport http --port 0` and return the process and its base URL (read from the log)."""
    env = dict(os.environ, **SCRIPTED, **(extra_env or {}))
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in iter(proc.stderr.readline, ""):
        seen.append(line)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)/mcp", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise AssertionError("server did not start: " + "".join(seen))


@pytest.fixture
def http_server(home):
    proc, url = start_http_server()
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_health_endpoint(http_server):
    _, url = http_server
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
        assert response.status == 200
        data = json.loads(response.read())
    assert data["status"] == "ok" and data["prompts"] == 0 and data["server"] == "prompt-alchemy"


async def test_tools_over_http_with_progress_errors_and_resources(http_server):
    proc, url = http_server
    events = []

    async def on_progress(progress, total, message):
        events.append(progress)

    async with Client(f"{url}/mcp") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"generate_prompts", "batch_generate", "validate_config"} <= names
        result = await client.call_tool(
            "generate_prompts", {"idea": "an HTTP idea", "count": 2}, progress_callback=on_progress
        )
        assert not result.is_error
        data = result.structured_content
        assert [e for e in events if float(e).is_integer()] == [1, 2, 3, 4, 5, 6]  # partial text between
        bad = await client.call_tool("generate_prompts", {"idea": "x", "phases": ["alembic"]})
        assert bad.is_error
        read = await client.read_resource(f"prompt://{data['best']['id']}")
        assert json.loads(read.contents[0].text)["content"] == data["best"]["content"]
        batch = await client.call_tool("batch_generate", {"items": [{"idea": "a"}, {"idea": "b"}], "workers": 2})
        assert batch.structured_content["generated"] == 2
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
        assert json.loads(response.read())["prompts"] == 6 + 2 * 9

    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert stdout == ""
    assert "server stopped" in stderr


def test_unknown_paths_and_a_busy_port(http_server, tmp_path):
    _, url = http_server
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/nope", timeout=10)
    assert err.value.code == 404
    port = url.rsplit(":", 1)[1]
    proc = subprocess.run(
        [str(SCRIPT), "serve", "--transport", "http", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **SCRIPTED),
    )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "--port" in proc.stderr
    bad = subprocess.run(
        [str(SCRIPT), "serve", "--transport", "http", "--port", "70000"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "--port" in bad.stderr


def test_log_file_takes_the_logs(home, tmp_path):
    log = tmp_path / "logs" / "server.log"
    env = dict(os.environ, **SCRIPTED)
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--transport", "http", "--port", "0", "--log-file", str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (log.exists() and "listening on" in log.read_text()):
            time.sleep(0.05)
        assert "listening on" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert stdout == "" and stderr == ""
    assert "server stopped" in log.read_text()


def test_requests_with_a_foreign_host_or_origin_are_refused(http_server):
    _, url = http_server
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
    ).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    for extra in ({"Host": "evil.example:80"}, {"Origin": "http://evil.example"}):
        request = urllib.request.Request(f"{url}/mcp", data=body, headers={**headers, **extra}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code in (403, 421)
    request = urllib.request.Request(f"{url}/mcp", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_the_server_runs_due_database_maintenance(home):
    proc, url = start_http_server({"PROMPT_ALCHEMY_STORAGE__BACKUP_INTERVAL": "1h"})
    try:
        import time

        backups = home / "backups"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (backups.is_dir() and list(backups.glob("*.db"))):
            time.sleep(0.1)  # (a backup is written as NAME.db.partial, then renamed)
        assert len(list(backups.glob("*.db"))) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
