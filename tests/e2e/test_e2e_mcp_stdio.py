"""End to end over stdio: the real `prompt-alchemy serve` process, a raw JSON-RPC conversation that generates with the
real local model, and a check that every byte the server wrote on stdout is a JSON-RPC message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
pytestmark = pytest.mark.e2e


class RawStdioSession:
    """A minimal JSON-RPC client that keeps every byte the server writes on stdout."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(SCRIPT), "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        self.raw = bytearray()
        self.messages: list[dict] = []
        self._lock = threading.Condition()
        self._stderr = bytearray()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr.read()), daemon=True).start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            with self._lock:
                self.raw.extend(line)
                try:
                    self.messages.append(json.loads(line))
                except ValueError:
                    pass
                self._lock.notify_all()

    def send(self, message: dict) -> None:
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, id_: int, method: str, params: dict, timeout: float = 300) -> dict:
        self.send({"id": id_, "method": method, "params": params})
        with self._lock:
            ok = self._lock.wait_for(
                lambda: any(m.get("id") == id_ and "method" not in m for m in self.messages), timeout=timeout
            )
        assert ok, f"no response to {method}; stderr: {self._stderr.decode(errors='replace')[-2000:]}"
        return next(m for m in self.messages if m.get("id") == id_ and "method" not in m)

    def close(self) -> tuple[int, str]:
        self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        return code, self._stderr.decode(errors="replace")


@pytest.fixture
def session(home):
    env = {k: v for k, v in os.environ.items()}
    s = RawStdioSession(env)
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def test_stdio_generate_with_the_local_model_writes_only_json_rpc_on_stdout(session, home):
    init = session.request(
        1,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-e2e", "version": "1"}},
        timeout=60,
    )
    assert init["result"]["serverInfo"]["name"] == "prompt-alchemy"
    session.send({"method": "notifications/initialized"})
    tools = session.request(2, "tools/list", {}, timeout=60)
    assert "generate_prompts" in {t["name"] for t in tools["result"]["tools"]}
    call = session.request(
        3,
        "tools/call",
        {
            "name": "generate_prompts",
            "_meta": {"progressToken": "gen-1"},
            "arguments": {"idea": "a haiku about rivers", "count": 1, "max_tokens": 24, "tags": ["e2e-mcp"]},
        },
    )
    result = call["result"]
    assert result.get("isError") is not True, result
    data = result["structuredContent"]
    assert data["saved"] is True and len(data["prompts"]) == 3
    assert {p["provider"] for p in data["prompts"]} == {"local"}
    bad = session.request(4, "tools/call", {"name": "generate_prompts", "arguments": {"idea": "x", "count": 99}})
    assert bad["result"]["isError"] is True
    code, stderr = session.close()
    assert code == 0, stderr

    progress = [m for m in session.messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progress"] for m in progress if float(m["params"]["progress"]).is_integer()] == [1, 2, 3]
    final = next(p for p in data["prompts"] if p["phase"] == "coagulatio")
    assert any(final["content"] in m["params"].get("message", "") for m in progress)  # the final text, as it came
    assert {m["params"]["progressToken"] for m in progress} == {"gen-1"}
    # Every byte on stdout is part of a newline-terminated JSON-RPC 2.0 message.
    assert session.raw.endswith(b"\n")
    lines = bytes(session.raw).split(b"\n")[:-1]
    assert len(lines) == len(session.messages) >= 7
    for line in lines:
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0"
        assert ("method" in message) or ("id" in message and ("result" in message or "error" in message))

    import sqlite3

    with sqlite3.connect(home / "prompts.db") as db:
        rows = db.execute(
            "SELECT phase, provider, tags FROM prompts WHERE session_id = ?", (data["session_id"],)
        ).fetchall()
    assert sorted(r[0] for r in rows) == ["coagulatio", "prima-materia", "solutio"]
    assert all(r[1] == "local" and "e2e-mcp" in r[2] for r in rows)


def test_stdio_server_exits_cleanly_when_the_client_closes_stdin(session):
    session.request(
        1,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-e2e", "version": "1"}},
        timeout=60,
    )
    code, stderr = session.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr


async def test_search_is_answered_while_the_local_model_generates(home):
    """Over stdio with the real local model: a search sent while generate_prompts runs comes back before it. The
    free-form path keeps the model busy in every phase (the structured default needs it for a moment at most)."""
    import asyncio

    from mcp import Client, StdioServerParameters

    env = dict(os.environ, PROMPT_ALCHEMY_GENERATION__MODE="freeform")
    params = StdioServerParameters(command=str(SCRIPT), args=["serve"], env=env)
    async with Client(params) as client:
        seeded = await client.call_tool(
            "generate_prompts",
            {"idea": "a haiku about mountains", "count": 1, "max_tokens": 16, "phases": ["coagulatio"]},
        )
        assert not seeded.is_error
        first_phase_done = asyncio.Event()

        async def on_progress(progress, total, message):
            first_phase_done.set()

        generation = asyncio.create_task(
            client.call_tool(
                "generate_prompts",
                {"idea": "a long essay about rivers", "count": 1, "max_tokens": 64},
                progress_callback=on_progress,
            )
        )
        await first_phase_done.wait()  # the model is now busy with the second phase
        search = await client.call_tool("search_prompts", {"query": "haiku mountains"})
        assert not generation.done()
        assert not search.is_error and search.structured_content["count"] >= 1
        result = await generation
        assert not result.is_error


async def test_a_cancelled_call_over_stdio_saves_nothing_and_the_server_goes_on(home):
    """The client cancels (notifications/cancelled) during the second phase; the third never runs and nothing
    is saved."""
    import asyncio

    from mcp import Client, StdioServerParameters

    env = dict(
        os.environ,
        PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY="0.5",
        **{f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")},
    )
    params = StdioServerParameters(command=str(SCRIPT), args=["serve"], env=env)
    async with Client(params) as client:
        first_phase_done = asyncio.Event()

        async def on_progress(progress, total, message):
            first_phase_done.set()

        call = asyncio.create_task(
            client.call_tool("generate_prompts", {"idea": "cancel me", "count": 1}, progress_callback=on_progress)
        )
        await first_phase_done.wait()  # the server is running the call: cancel during the second phase
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.sleep(1.5)  # the two remaining phases would have finished and been saved by now
        metrics = await client.call_tool("get_metrics", {})
        assert metrics.structured_content["prompts"]["total"] == 0
        done = await client.call_tool("generate_prompts", {"idea": "after the cancel", "count": 1})
        assert not done.is_error and done.structured_content["saved"] is True
