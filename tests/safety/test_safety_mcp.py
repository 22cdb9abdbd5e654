"""Nothing leaked over MCP: no server-side paths from clients, errors with reasons (never silence or a
traceback), malformed JSON-RPC answered over stdio, deep HTTP bodies a 400, Host checks beyond loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from testkit import ROOT

from prompt_alchemy.mcp.server import build_server

SCRIPTED_ENV = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}
SEED = "Summarize the text."


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


# ------------------------------------------------------------------ 2: examples never from a client's path


async def test_optimize_prompt_takes_no_server_paths(service, tmp_path):
    secret_file = tmp_path / "secret.jsonl"
    secret_file.write_text(
        json.dumps({"input": "TOP-SECRET-INPUT", "expected": "TOP-SECRET-EXPECTED"}) + "\n", encoding="utf-8"
    )
    async with Client(build_server(service)) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "optimize_prompt")
        assert "examples_path" not in tool.input_schema["properties"]
        for name in (str(secret_file), "../" + secret_file.name, "/dev/zero", "/etc/passwd", ".hidden"):
            result = await client.call_tool("optimize_prompt", {"task": "t", "prompt": SEED, "examples_file": name})
            assert result.is_error
            text = text_of(result)
            assert "TOP-SECRET" not in text and "a name, not a path" in text or "no examples file" in text, text
        # an existing file and a missing one outside the folder get the same answer
        missing = await client.call_tool(
            "optimize_prompt", {"task": "t", "prompt": SEED, "examples_file": "nothere.jsonl"}
        )
        present = await client.call_tool("optimize_prompt", {"task": "t", "prompt": SEED, "examples_file": "passwd"})
        assert text_of(missing).replace("nothere.jsonl", "X") == text_of(present).replace("passwd", "X")
    assert service.store.count_prompts() == 0


async def test_unknown_tool_arguments_are_errors_not_ignored(service, tmp_path):
    async with Client(build_server(service)) as client:
        result = await client.call_tool(
            "optimize_prompt", {"task": "t", "prompt": SEED, "examples_path": str(tmp_path / "x.jsonl")}
        )
        assert result.is_error and "unknown argument(s) for optimize_prompt: examples_path" in text_of(result)
    assert service.store.count_prompts() == 0


async def test_optimize_prompt_inline_examples_are_validated(service):
    async with Client(build_server(service)) as client:
        bad = await client.call_tool("optimize_prompt", {"task": "t", "prompt": SEED, "examples": [{"input": "a"}]})
        assert bad.is_error and '"expected" must be a non-empty string' in text_of(bad)
        too_few = await client.call_tool(
            "optimize_prompt",
            {"task": "t", "prompt": SEED, "metric": "accuracy", "examples": [{"input": "a", "expected": "b"}]},
        )
        assert too_few.is_error and "examples" in text_of(too_few)


async def test_examples_file_from_the_examples_folder_is_read(service):
    folder = service.examples_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.jsonl").write_text(
        "\n".join(json.dumps({"input": f"w{i}", "expected": f"x{i}"}) for i in range(4)) + "\n", encoding="utf-8"
    )
    assert service.examples_file("good.jsonl") == folder / "good.jsonl"
    from prompt_alchemy.ranking.evaluation import load_examples

    assert len(load_examples(service.examples_file("good.jsonl"))) == 4


# ------------------------------------------------------------------ 9: reasons, not silence or tracebacks


async def test_date_filters_out_of_range_give_a_reason(service):
    async with Client(build_server(service)) as client:
        for since in ("99999999d", "9999-12-31T23:59:59-05:00", "not a date"):
            result = await client.call_tool(
                "search_prompts", {"query": "x", "mode": "text", "filters": {"since": since}}
            )
            assert result.is_error
            assert "since" in text_of(result) and (
                "out of range" in text_of(result) or "not a date" in text_of(result)
            ), text_of(result)
        metrics = await client.call_tool("get_metrics", {"since": "99999999d"})
        assert metrics.is_error and "out of range" in text_of(metrics)


async def test_prompts_get_of_an_unknown_name_is_invalid_params(service, caplog):
    async with Client(build_server(service)) as client:
        for name in ("nope", "nope-12345678"):
            with pytest.raises(MCPError) as info:
                await client.get_prompt(name)
            assert info.value.code == -32602 and "Unknown prompt" in info.value.message
    assert "Traceback" not in caplog.text


# ------------------------------------------------------------------ 12: malformed JSON-RPC over stdio


class StdioServer:
    def __init__(self, home) -> None:
        env = dict(os.environ, **SCRIPTED_ENV, PROMPT_ALCHEMY_HOME=str(home))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prompt_alchemy", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        self.replies: list[dict] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.replies.append(json.loads(line))
                self.cond.notify_all()

    def send(self, raw: bytes) -> None:
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def reply(self, count: int, timeout: float = 60) -> dict:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.replies) >= count, timeout), self.replies
            return self.replies[count - 1]

    def close(self) -> str:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.stderr.read().decode()


def test_stdio_answers_malformed_json_rpc(home):
    server = StdioServer(home)
    try:
        server.send(
            json.dumps(
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
        )
        assert "result" in server.reply(1)
        server.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        cases = [
            (b"this is not json", None, -32700),
            (b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": 5}', 7, -32602),
            (
                b'{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "search_prompts", '
                b'"arguments": {"query": "\\ud800"}}}',
                8,
                -32602,
            ),
            (b'{"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": []}', 9, -32602),
            (b"[1, 2, 3]", None, -32600),
            (b'\xff\xfe{"broken', None, -32700),
            (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', None, -32600),
        ]
        for n, (raw, msg_id, code) in enumerate(cases, 2):
            server.send(raw)
            reply = server.reply(n)
            assert reply.get("id") == msg_id and reply["error"]["code"] == code, (raw, reply)
        server.send(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "tools/list"}).encode())
        assert "result" in server.reply(len(cases) + 2)  # still serving
    finally:
        log = server.close()
    assert "Traceback" not in log


# ------------------------------------------------------------------ 12, 13: the HTTP server


def start_http(home, *args: str, config: str | None = None):
    env = dict(os.environ, **SCRIPTED_ENV, PROMPT_ALCHEMY_HOME=str(home))
    cmd = [sys.executable, "-m", "prompt_alchemy"]
    if config:
        path = home / "server.yaml"
        path.write_text(config, encoding="utf-8")
        cmd += ["--config", str(path)]
    proc = subprocess.Popen(
        cmd + ["serve", "--transport", "http", "--port", "0", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if "--log-file" in args:  # the announcement goes to the log file; stderr keeps only the warning
        log_file = Path(args[args.index("--log-file") + 1])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            text = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
            match = re.search(r"listening on http://[^:]+:(\d+)/mcp", text)
            if match:
                return proc, int(match.group(1)), [text]
            time.sleep(0.1)
        proc.kill()
        raise AssertionError("server did not start: " + proc.stderr.read())
    seen = []
    for line in iter(proc.stderr.readline, ""):
        seen.append(line)
        match = re.search(r"listening on http://[^:]+:(\d+)/mcp", line)
        if match:
            return proc, int(match.group(1)), seen
    proc.kill()
    raise AssertionError("server did not start: " + "".join(seen))


def request(port: int, path: str, *, host: str | None = None, body: bytes | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if host:
        headers["Host"] = host
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers=headers, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def stop(proc) -> str:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.stderr.read()


def test_http_deep_body_is_400_and_health_checks_host_on_loopback(home):
    proc, port, _ = start_http(home)
    try:
        status, body = request(port, "/mcp", body=b"[" * 50_000 + b"]" * 50_000)
        assert status == 400 and "-32700" in body
        assert request(port, "/health", host=f"127.0.0.1:{port}")[0] == 200
        assert request(port, "/health", host="attacker.example")[0] == 421
    finally:
        log = stop(proc)
    assert "RecursionError" not in log and "Traceback" not in log


def test_beyond_loopback_warns_on_stderr_even_with_a_log_file_and_keeps_allowed_hosts(home, tmp_path):
    log_file = tmp_path / "server.log"
    proc, port, _ = start_http(
        home, "--host", "0.0.0.0", "--log-file", str(log_file), config="server:\n  allowed_hosts: ['team.example:*']\n"
    )
    try:
        assert request(port, "/health", host=f"team.example:{port}")[0] == 200
        assert request(port, "/health", host="attacker.example")[0] == 421
        ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
        assert request(port, "/mcp", host="attacker.example", body=ping)[0] == 421
    finally:
        stderr = stop(proc)
    assert "warning: listening on 0.0.0.0 beyond loopback" in stderr and "team.example" in stderr
    assert "beyond loopback" in log_file.read_text(encoding="utf-8")
