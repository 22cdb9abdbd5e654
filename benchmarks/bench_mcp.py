"""MCP server over streamable HTTP on a 10,000-prompt library: concurrent search latency, and how much a running
local-model generation delays a search.

Builds a temporary library (PROMPT_ALCHEMY_HOME in a temp dir) of 10,000 prompts: texts are windows of the
awesome-chatgpt-prompts CSV's word stream, vectors are random unit vectors tagged with the local embedder's model
(exact search costs the same whatever the values; the query itself is embedded for real). Starts the real
`prompt-alchemy serve --transport http` process on 127.0.0.1 with the default configuration (local model, local
embedder) and talks to it over HTTP with two clients: the MCP SDK's client, and a lightweight client that speaks
the streamable HTTP wire format directly with httpx (initialize, notifications/initialized, tools/call with the
Mcp-Session-Id header, protocol 2025-11-25). Both clients run in this process, on the same cores as the server; the
SDK client costs 2-3x the client CPU of the wire client, so the two sets of figures separate what the server costs
from what the Python SDK client costs. Prints one JSON object:

- `concurrent_search` (SDK client) and `concurrent_search_wire_client`: 50 clients each call `search_prompts`
  (hybrid) at the same moment, for several rounds: p50/p99/max latency and errors (target: p99 < 100 ms, zero
  errors); the same-run baseline is one client searching alone, one call at a time. Every call of the benchmark
  uses a query not searched before (the paraphrase queries of tests/data/library_queries.json, then the CSV's act
  names, shuffled), so the server's query-vector cache never answers: the figures are for distinct queries.
  `server_cpu_ms_per_call` and `client_cpu_ms_per_call` are the CPU time (all threads) the server process and this
  client process spent per concurrent call; `server_loop_cpu_ms_per_call` is the part spent on the server's event
  loop thread (HTTP, the MCP protocol, the tool adapter: the rest is the search in worker threads). On a 2-core
  machine 50 calls cannot all finish within T ms unless 50 x (server + client CPU per call) <= 2 x T. The SDK
  clients use the initialize handshake (protocol 2025-11-25), as Claude Desktop, Claude Code and the MCP Inspector
  do; `single_client_modern_protocol_p50_ms` is the same single-client search with the SDK client's default, the
  2026-07-28 stateless protocol. `repeated_queries` is the SDK clients' concurrent load repeating the first
  round's queries (answered from the query-vector cache: agents repeat searches);
- `sdk_floor_concurrent`: the same 50-client loads (SDK client, wire client) against a server built from the same
  MCP SDK, HTTP app and uvicorn whose `search_prompts` does no work and returns a fixed result of the same shape
  and size: what the protocol stack alone costs on this machine, the floor under any search implementation;
- `search_during_generate`: searches (one every 0.2 s) while a `generate_prompts` call runs on the local model,
  against the same searches at the same pace with the model idle (target: p50 delay <= 50 ms).

- `shutdown_under_burst`: 50 wire clients call `search_prompts` in a loop; SIGTERM arrives mid-burst; how long
  the server took to exit, its exit code, and the calls that finished before (target: exit within 10 s, code 0).
  `server_exit_code` and `server_stop_s` are the same for the plain stop after the measurements.

The servers' stderr is read to the end by a thread (their log: one line per request), as any supervisor must.
`load_average_start`/`_end` and each burst's `load_average_after` show what else ran on the machine.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from pathlib import Path
from types import SimpleNamespace

import numpy as np

N = int(os.environ.get("BENCH_PROMPTS", "10000"))
CLIENTS = 50
ROUNDS = 4
IDLE_SEARCHES = 30
SEARCH_PAUSE_S = 0.2
ROOT = Path(__file__).resolve().parent.parent
CSV_PATH = ROOT / "src" / "prompt_alchemy" / "data" / "awesome-chatgpt-prompts.csv"
QUERIES = ROOT / "tests" / "data" / "library_queries.json"
SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
STOP_WAIT_S = 30


def _pct(samples: list[float], q: float) -> float | None:
    return round(float(np.percentile(samples, q)), 1) if samples else None


def _cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system, every thread) used so far by process `pid` (default: this process)."""
    if pid is None:
        return sum(os.times()[:2])
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_queries() -> list[str]:
    """Distinct realistic search queries: the paraphrases first, then the act names (\"linux terminal\", ...)."""
    queries = [q["query"] for q in json.loads(QUERIES.read_text(encoding="utf-8"))["queries"]]
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        acts = [r["act"].strip().lower() for r in csv.DictReader(fh)]
    rest = list(dict.fromkeys(a for a in acts if a and a not in queries))
    np.random.default_rng(7).shuffle(rest)
    return queries + rest


def build_library() -> None:
    """10,000 stored prompts through the store's own save path."""
    from prompt_alchemy.models import Phase, Prompt
    from prompt_alchemy.services import AlchemyService

    rng = np.random.default_rng(42)
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    words = re.findall(r"\w+", " ".join(r["prompt"] for r in rows))
    service = AlchemyService.from_environment()
    embedder = service.embedder
    phases = list(Phase)
    for start in range(0, N, 1000):
        batch = []
        for i in range(start, min(N, start + 1000)):
            at = int(rng.integers(0, len(words) - 200))
            text = " ".join(words[at : at + int(rng.integers(40, 160))])
            vector = rng.standard_normal(embedder.dimensions).astype(np.float32)
            vector /= np.linalg.norm(vector)
            batch.append(
                Prompt(
                    content=text,
                    title=rows[i % len(rows)]["act"],
                    phase=phases[i % 3],
                    provider="local",
                    model="smollm2-135m-instruct",
                    tags=[f"t{i % 20}"],
                    score=float(rng.uniform(0.3, 1.0)),
                    embedding=vector.tolist(),
                    embedding_model=embedder.model,
                    embedding_provider=embedder.provider,
                    embedding_dim=embedder.dimensions,
                    source_type="imported",
                )
            )
        service.store.save_prompts(batch)
    asyncio.run(service.aclose())


def start_server(command: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    command = command or [str(SCRIPT), "serve", "--transport", "http", "--port", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in iter(proc.stderr.readline, ""):
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)/mcp", line)
        if match:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # the log, read to its end
            return proc, match.group(1) + "/mcp"
    raise SystemExit("the server did not start")


def stop_server(proc: subprocess.Popen) -> dict:
    """SIGTERM, then wait (at most STOP_WAIT_S, then kill): the seconds it took and the exit code."""
    start = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_WAIT_S)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        timed_out = True
    return {"stop_s": round(time.perf_counter() - start, 2), "exit_code": proc.returncode, "timed_out": timed_out}


async def shutdown_under_burst(url: str, proc: subprocess.Popen, queries: list[str]) -> dict:
    """50 wire clients search in a loop; SIGTERM once every client has finished a few calls."""
    next_query = _query_source(queries)
    done = [0]
    async with AsyncExitStack() as stack:
        wire = await wire_clients(stack, url)

        async def loop(client: WireClient) -> None:
            try:
                while True:
                    await client.call_tool("search_prompts", {"query": next_query(), "limit": 10})
                    done[0] += 1
            except BaseException:  # noqa: BLE001 - the server went away (or the queries ran out)
                return

        tasks = [asyncio.create_task(loop(c)) for c in wire]
        while done[0] < 2 * CLIENTS and not all(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        calls_before = done[0]
        stopped = await asyncio.to_thread(stop_server, proc)
        await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            task.cancel()
    return {"clients": CLIENTS, "calls_before_sigterm": calls_before, **stopped, "target_s": 10}


def _loop_cpu_s(pid: int) -> float:
    """CPU seconds used so far by process `pid`'s main thread: the server's event loop (HTTP, the MCP protocol,
    the tool adapters); the rest of its CPU is the worker threads (the search itself)."""
    with open(f"/proc/{pid}/task/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WireClient:
    """A minimal MCP client speaking the streamable HTTP wire format directly with httpx, like the SDK client:
    initialize (protocol 2025-11-25), notifications/initialized, then tools/call with the Mcp-Session-Id and
    MCP-Protocol-Version headers; reads a plain JSON reply or the SSE stream up to the call's response. It costs
    far less client CPU than the SDK client, so the server's own figures are not crowded out by the client on the
    same cores."""

    PROTOCOL = "2025-11-25"

    def __init__(self, http, url: str) -> None:
        self.http, self.url, self.session, self.next_id = http, url, None, 0

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        if self.session is not None:
            headers |= {"mcp-session-id": self.session, "mcp-protocol-version": self.PROTOCOL}
        return headers

    async def _request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        request_id = self.next_id
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        async with self.http.stream("POST", self.url, headers=self._headers(), content=body) as response:
            response.raise_for_status()
            if self.session is None:
                self.session = response.headers["mcp-session-id"]
            if not response.headers["content-type"].startswith("text/event-stream"):
                return json.loads(await response.aread())
            async for line in response.aiter_lines():
                if line.startswith("data: ") and (message := json.loads(line[6:])).get("id") == request_id:
                    return message
        raise RuntimeError(f"no response to request {request_id}")

    async def open(self) -> WireClient:
        await self._request(
            "initialize",
            {
                "protocolVersion": self.PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "bench-wire", "version": "1"},
            },
        )
        done = await self.http.post(
            self.url,
            headers=self._headers(),
            content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        done.raise_for_status()
        return self

    async def call_tool(self, name: str, arguments: dict) -> SimpleNamespace:
        reply = await self._request("tools/call", {"name": name, "arguments": arguments})
        result = reply.get("result") or {}
        return SimpleNamespace(
            is_error="error" in reply or bool(result.get("isError")), structured_content=result.get("structuredContent")
        )


async def wire_clients(stack: AsyncExitStack, url: str) -> list[WireClient]:
    import httpx

    return [
        await WireClient(await stack.enter_async_context(httpx.AsyncClient(timeout=120)), url).open()
        for _ in range(CLIENTS)
    ]


async def timed_search(client, query: str) -> tuple[float, bool]:
    start = time.perf_counter()
    try:
        result = await client.call_tool("search_prompts", {"query": query, "limit": 10})
        ok = not result.is_error and result.structured_content["count"] > 0
    except Exception:  # noqa: BLE001 - counted as an error
        ok = False
    return (time.perf_counter() - start) * 1000.0, ok


async def bursts(clients: list, rounds: list[list[str]], server_pid: int) -> dict:
    """Each round, every client searches at the same moment (one query each): latency percentiles, errors, and
    the CPU time the server and this client process spent per call."""
    latencies: list[float] = []
    errors = 0
    wall = []
    cpu_server, cpu_client, cpu_loop = _cpu_s(server_pid), _cpu_s(), _loop_cpu_s(server_pid)
    for round_queries in rounds:
        start = time.perf_counter()
        outcomes = await asyncio.gather(*(timed_search(c, q) for c, q in zip(clients, round_queries)))
        wall.append((time.perf_counter() - start) * 1000.0)
        latencies += [ms for ms, _ in outcomes]
        errors += sum(not ok for _, ok in outcomes)
    return {
        "calls": len(latencies),
        "errors": errors,
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
        "max_ms": round(max(latencies), 1),
        "round_wall_ms_median": _pct(wall, 50),
        "server_cpu_ms_per_call": round((_cpu_s(server_pid) - cpu_server) * 1000.0 / len(latencies), 2),
        "server_loop_cpu_ms_per_call": round((_loop_cpu_s(server_pid) - cpu_loop) * 1000.0 / len(latencies), 2),
        "client_cpu_ms_per_call": round((_cpu_s() - cpu_client) * 1000.0 / len(latencies), 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def _query_source(queries: list[str]):
    fresh = iter(queries)  # every call takes a query no earlier call used

    def next_query() -> str:
        try:
            return next(fresh)
        except StopIteration:
            raise SystemExit(f"not enough distinct queries ({len(queries)})") from None

    return next_query


def floor_server() -> None:
    """The SDK floor: the same MCP SDK, streamable HTTP transport and uvicorn, serving a `search_prompts` tool that
    does no work and returns a fixed result of a real search's shape and size (10 results of ~700 characters)."""
    import socket

    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from mcp_types import CallToolResult, TextContent

    from prompt_alchemy.mcp.http import build_http_app

    server = MCPServer("floor", log_level="WARNING")
    result = {
        "id": "0" * 36,
        "content": "word " * 140,
        "score": 0.03,
        "phase": "coagulatio",
        "tags": ["t1"],
        "created_at": "2026-01-01T00:00:00+00:00",
        "title": "Linux Terminal",
        "provider": "local",
        "model": "smollm2-135m-instruct",
        "persona": None,
        "parent_id": None,
        "similarity": 0.5,
        "text_rank": 1,
        "semantic_rank": 1,
    }
    data = {"query": "", "mode": "hybrid", "count": 10, "results": [result] * 10}
    summary = "\n".join(["10 result(s):"] + [f"{n}. {result['id']} · coagulatio · {'word ' * 32}" for n in range(10)])

    async def search_prompts(query: str, limit: int = 10):
        """Returns a fixed result."""
        return CallToolResult(
            content=[TextContent(type="text", text=summary)], structured_content={**data, "query": query}
        )

    search_prompts.__annotations__["return"] = CallToolResult  # a class, not this module's postponed string
    server.add_tool(search_prompts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as `serve` does (no Nagle)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/mcp", file=sys.stderr, flush=True)
    app = build_http_app(server, host="127.0.0.1")  # the app `serve` runs: plain JSON replies without progress
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


async def measure_floor(url: str, queries: list[str], server_pid: int) -> dict:
    from mcp import Client

    next_query = _query_source(queries)
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(url, mode="legacy")) for _ in range(CLIENTS)]
        await timed_search(clients[0], next_query())
        alone = [(await timed_search(clients[0], next_query()))[0] for _ in range(IDLE_SEARCHES)]
        figures = await bursts(clients, [[next_query() for _ in clients] for _ in range(ROUNDS)], server_pid)
    async with AsyncExitStack() as stack:
        wire = await wire_clients(stack, url)
        await timed_search(wire[0], next_query())
        wire_alone = [(await timed_search(wire[0], next_query()))[0] for _ in range(IDLE_SEARCHES)]
        wire_figures = await bursts(wire, [[next_query() for _ in wire] for _ in range(ROUNDS)], server_pid)
    return {
        "sdk_client": {**figures, "single_client_p50_ms": _pct(alone, 50)},
        "wire_client": {**wire_figures, "single_client_p50_ms": _pct(wire_alone, 50)},
    }


async def measure(url: str, queries: list[str], server_pid: int) -> dict:
    from mcp import Client

    next_query = _query_source(queries)
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(url, mode="legacy")) for _ in range(CLIENTS)]
        await timed_search(clients[0], next_query())  # warm: vector index load, embedder load
        alone = [(await timed_search(clients[0], next_query()))[0] for _ in range(IDLE_SEARCHES)]
        modern = await stack.enter_async_context(Client(url))  # the SDK's default: 2026-07-28 if the server has it
        await timed_search(modern, next_query())
        alone_modern = [(await timed_search(modern, next_query()))[0] for _ in range(IDLE_SEARCHES)]

        rounds = [[next_query() for _ in clients] for _ in range(ROUNDS)]
        concurrent = await bursts(clients, rounds, server_pid)
        repeated = await bursts(clients, [rounds[0]] * ROUNDS, server_pid)
        errors = concurrent["errors"]

        async with AsyncExitStack() as wire_stack:  # the same load from the lightweight wire client
            wire = await wire_clients(wire_stack, url)
            await timed_search(wire[0], next_query())
            wire_alone = [(await timed_search(wire[0], next_query()))[0] for _ in range(IDLE_SEARCHES)]
            wire_concurrent = await bursts(wire, [[next_query() for _ in wire] for _ in range(ROUNDS)], server_pid)

        # search while the local model generates
        client = clients[0]
        started = asyncio.Event()

        async def on_progress(progress, total, message):
            started.set()

        gen_start = time.perf_counter()
        generation = asyncio.create_task(
            client.call_tool(
                "generate_prompts",
                {"idea": "a CLI that summarizes git logs", "count": 1, "max_tokens": 48, "save": False},
                progress_callback=on_progress,
            )
        )
        during: list[float] = []
        while not generation.done():  # an agent searching now and then while the model works
            ms, ok = await timed_search(clients[1], next_query())
            if not generation.done():
                during.append(ms)
                errors += not ok
            await asyncio.sleep(SEARCH_PAUSE_S)
        gen_result = generation.result()
        gen_s = time.perf_counter() - gen_start
        idle = []
        for _ in range(max(IDLE_SEARCHES, len(during))):  # as many new searches at the same pace, the model idle
            idle.append((await timed_search(clients[1], next_query()))[0])
            await asyncio.sleep(SEARCH_PAUSE_S)

    providers = sorted({p["provider"] for p in (gen_result.structured_content or {}).get("prompts", [])})
    return {
        "concurrent_search": {
            "client": "mcp SDK",
            "clients": CLIENTS,
            "rounds": ROUNDS,
            **concurrent,
            "errors": errors,
            "distinct_queries": True,
            "baseline_single_client_p50_ms": _pct(alone, 50),
            "baseline_single_client_p99_ms": _pct(alone, 99),
            "single_client_modern_protocol_p50_ms": _pct(alone_modern, 50),
            "target_p99_ms": 100,
        },
        "concurrent_search_wire_client": {
            "clients": CLIENTS,
            "rounds": ROUNDS,
            **wire_concurrent,
            "distinct_queries": True,
            "baseline_single_client_p50_ms": _pct(wire_alone, 50),
            "target_p99_ms": 100,
        },
        "repeated_queries": {
            key: repeated[key] for key in ("calls", "errors", "p50_ms", "p99_ms", "server_cpu_ms_per_call")
        },
        "search_during_generate": {
            "generate_ok": not gen_result.is_error,
            "generate_providers": providers,
            "generate_s": round(gen_s, 2),
            "searches_during": len(during),
            "idle_p50_ms": _pct(idle, 50),
            "during_p50_ms": _pct(during, 50),
            "during_p95_ms": _pct(during, 95),
            "delay_p50_ms": round(_pct(during, 50) - _pct(idle, 50), 1) if during else None,
            "delay_p95_ms": round(_pct(during, 95) - _pct(idle, 95), 1) if during else None,
            "target_delay_ms": 50,
        },
    }


def main() -> None:
    if sys.argv[1:] == ["--floor-server"]:
        floor_server()
        return
    tmp = tempfile.mkdtemp(prefix="bench-mcp-")
    os.environ["PROMPT_ALCHEMY_HOME"] = tmp
    for var in [v for v in os.environ if v.startswith("PROMPT_ALCHEMY_") and v != "PROMPT_ALCHEMY_HOME"]:
        del os.environ[var]
    queries = load_queries()
    load_start = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    build_library()
    build_s = time.perf_counter() - t0
    proc, url = start_server()
    try:
        figures = asyncio.run(measure(url, queries, proc.pid))
    finally:
        stopped = stop_server(proc)
    proc, url = start_server()
    try:
        figures["shutdown_under_burst"] = asyncio.run(shutdown_under_burst(url, proc, queries[::-1]))
    finally:
        if proc.poll() is None:
            stop_server(proc)
    floor, floor_url = start_server([sys.executable, __file__, "--floor-server"])
    try:
        figures["sdk_floor_concurrent"] = asyncio.run(measure_floor(floor_url, queries, floor.pid))
    finally:
        stop_server(floor)
    print(
        json.dumps(
            {
                "benchmark": "mcp_http",
                "prompts": N,
                "build_s": round(build_s, 1),
                **figures,
                "server_exit_code": stopped["exit_code"],
                "server_stop_s": stopped["stop_s"],
                "load_average_start": load_start,
                "load_average_end": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
