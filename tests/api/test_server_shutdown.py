"""Shutdown under load: a real `serve --transport http` process with 50 MCP clients (the SDK's client, each with
its session's event stream open) calling tools in a loop gets SIGTERM mid-burst and must exit: requests in flight
are drained or cancelled and the streams closed. The bound is the timeout of the wait (no timing assertion).

The server logs to a stderr pipe that is read only up to the "listening" line, as a benchmark or a careless
supervisor does: every request writes an access-log line, and a full pipe must neither stall the requests nor keep
SIGTERM from being handled."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess

import httpx
import pytest
from testkit import SCRIPT, SCRIPTED

pytestmark = pytest.mark.e2e

CLIENTS = 50
BURST_WAIT_S = 180  # a generous bound on 50 connections and 200 calls: a stalled server never gets there
EXIT_WAIT_S = 20
PREFILL_REQUESTS = 1500  # the server promises 10 s (a hard deadline at 9 s); the wait allows for a loaded machine


async def _client(url: str, index: int, ready: list[int], done: list[int], stop: asyncio.Event) -> None:
    """One MCP client in a task of its own (its SDK cancel scopes stay inside it): connect, then call tools until
    told to stop or the server goes away."""
    from mcp import Client

    try:
        async with Client(url, mode="legacy") as client:
            ready[0] += 1
            while not stop.is_set():
                if index % 5 == 0:
                    await client.call_tool(
                        "generate_prompts", {"idea": f"a shutdown test idea {index}", "count": 1, "save": False}
                    )
                else:
                    await client.call_tool("search_prompts", {"query": f"explain topic {index}", "limit": 5})
                done[0] += 1
    except Exception:  # noqa: BLE001 - the server is going away: the call or the session's close fails
        pass


def _start(home) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
    env.update(SCRIPTED, PROMPT_ALCHEMY_HOME=str(home))
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in iter(proc.stderr.readline, ""):  # then nobody reads it again
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)/mcp", line)
        if match:
            return proc, match.group(1)
    raise AssertionError(f"the server did not start (exit {proc.wait()})")


async def test_sigterm_under_a_50_client_mcp_burst_ends_the_server(tmp_path):
    proc, url = _start(tmp_path)
    try:
        await _burst_then_sigterm(proc, url)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _burst_then_sigterm(proc: subprocess.Popen, url: str) -> None:
    lines = "\n".join(
        json.dumps({"content": f"Explain topic {i} to a new colleague in five steps."}) for i in range(200)
    )
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/api/v1/import", json={"format": "jsonl", "content": lines}).status_code == 200
        try:  # ~100 KB of access log: more than the pipe holds (64 KiB)
            for _ in range(PREFILL_REQUESTS):
                assert c.get("/health").status_code == 200
        except httpx.TimeoutException:
            pytest.fail("the server stopped answering once its unread log pipe was full")
    ready, done, stop = [0], [0], asyncio.Event()
    tasks = [asyncio.create_task(_client(f"{url}/mcp", i, ready, done, stop)) for i in range(CLIENTS)]
    waited = 0.0
    try:
        while ready[0] < CLIENTS or done[0] < 4 * CLIENTS:  # every client connected, the burst under way
            await asyncio.sleep(0.05)
            waited += 0.05
            assert waited < BURST_WAIT_S, f"the burst stalled: {ready[0]} client(s) connected, {done[0]} call(s)"
            assert not all(t.done() for t in tasks), "every client failed before the signal"
            assert proc.poll() is None, "the server died"
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(proc.wait, EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server was still running {EXIT_WAIT_S} s after SIGTERM under a {CLIENTS}-client burst")
    finally:
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
    assert code == 0, f"exit code {code}: not a clean exit within the grace period"
