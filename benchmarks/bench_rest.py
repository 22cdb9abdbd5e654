"""REST search beside MCP over HTTP, on one server process: 50 concurrent clients each.

Builds a temporary library (bench_mcp's builder: CSV word windows with random unit vectors tagged with the local
embedder's model; BENCH_PROMPTS prompts, default 10,000), creates an API key, and starts the real
`prompt-alchemy serve --transport http` on 127.0.0.1 with `server.require_auth` on, so every call below is
authenticated and counted against the key's rate limit as on a team server (the key is looked up once, then
checked from the server's memory of verified keys). Then, in the same run against the same process:

- `rest_search`: 50 httpx clients each send `GET /api/v1/search?q=...&limit=10` (hybrid) at the same moment, for
  several rounds: p50/p99/max latency, errors, server CPU per call;
- `mcp_search` (the baseline): 50 lightweight MCP wire clients (bench_mcp.WireClient: initialize, then
  tools/call search_prompts) do the same with the same number of distinct queries;
- `rest_search_repeated`: the same REST load repeating the first round's queries, already searched: the
  query-vector cache answers (agents repeat searches), the text and vector search still run;
- `floor`: the same 50 httpx clients against a bare Starlette route under uvicorn in its own process (no auth, no
  search) whose answer is a fixed copy of a real 10-result search answer, so that the clients read and parse as
  many bytes as from the real route: the least any HTTP route giving this answer can cost here.
  `rest_p99_vs_floor` and `rest_repeated_p99_vs_floor` compare the two.

Every call of `rest_search` and `mcp_search` uses a query not searched before (the query-vector cache never
answers). Both clients run in this process, on the same cores as the server: `client_cpu_ms_per_call` is this
process's CPU per call, `server_loop_cpu_ms_per_call` the server's event loop thread's (HTTP, auth, the route; the
rest of `server_cpu_ms_per_call` is the search in worker threads). On 2 cores a round of 50 calls cannot end
before 50 x (server + client CPU per call) / 2 ms (`cpu_bound_round_ms`). Timings are noisy when other work runs
on the machine (`load_average_*`). Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_mcp  # noqa: E402
from bench_mcp import CLIENTS, ROUNDS, _cpu_s, _loop_cpu_s, _pct  # noqa: E402


async def warm_up(call, clients: list) -> None:
    """One call per client before measuring; a call whose kept-alive connection the server closed meanwhile (its
    idle timeout passes while 50 clients open on a loaded machine) is sent again once."""
    import httpx

    async def once(client) -> None:
        try:
            await call(client)
        except httpx.TransportError:
            await call(client)

    await asyncio.gather(*(once(c) for c in clients))


async def rest_bursts(url: str, key: str, rounds: list[list[str]], pid: int) -> dict:
    import httpx

    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"})
            )
            for _ in range(CLIENTS)
        ]
        await warm_up(lambda c: c.get("/api/v1/search", params={"q": "warm up", "limit": 1}), clients)

        async def one(client, query: str) -> tuple[float, bool]:
            start = time.perf_counter()
            try:
                r = await client.get("/api/v1/search", params={"q": query, "limit": 10})
                ok = r.status_code == 200 and r.json()["count"] > 0
            except Exception:  # noqa: BLE001 - counted as an error
                ok = False
            return (time.perf_counter() - start) * 1000.0, ok

        return await _measure(clients, rounds, pid, one)


FLOOR_APP = """
import pathlib, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

ANSWER = pathlib.Path(sys.argv[2]).read_bytes()

async def search(request):
    return Response(ANSWER, media_type="application/json")

uvicorn.run(Starlette(routes=[Route("/api/v1/search", search)]), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""


def sample_answer(url: str, key: str, query: str, path: Path) -> int:
    """A real 10-result search answer of the server, written to `path` for the floor to return: its size."""
    import httpx

    answer = httpx.get(
        url + "/api/v1/search",
        params={"q": query, "limit": 10},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    answer.raise_for_status()
    path.write_bytes(answer.content)
    return len(answer.content)


def start_floor(answer: Path) -> tuple[subprocess.Popen, str]:
    """The bare Starlette + uvicorn route in a process of its own, once it answers."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port), str(answer)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/api/v1/search", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the bare Starlette floor did not start")


async def mcp_bursts(url: str, key: str, rounds: list[list[str]], pid: int) -> dict:
    import httpx

    async with AsyncExitStack() as stack:
        clients = [
            await bench_mcp.WireClient(
                await stack.enter_async_context(
                    httpx.AsyncClient(timeout=120, headers={"Authorization": f"Bearer {key}"})
                ),
                url + "/mcp",
            ).open()
            for _ in range(CLIENTS)
        ]
        await warm_up(lambda c: c.call_tool("search_prompts", {"query": "warm up", "limit": 1}), clients)
        return await _measure(clients, rounds, pid, bench_mcp.timed_search)


async def _measure(clients: list, rounds: list[list[str]], pid: int, one) -> dict:
    latencies: list[float] = []
    rounds_ms: list[float] = []
    errors = 0
    cpu0, loop0, client0, t0 = _cpu_s(pid), _loop_cpu_s(pid), _cpu_s(), time.perf_counter()
    for queries in rounds:
        start = time.perf_counter()
        results = await asyncio.gather(*(one(c, q) for c, q in zip(clients, queries)))
        rounds_ms.append((time.perf_counter() - start) * 1000.0)
        latencies += [ms for ms, _ in results]
        errors += sum(1 for _, ok in results if not ok)
    wall = time.perf_counter() - t0
    calls = len(latencies)
    server_ms, client_ms = (_cpu_s(pid) - cpu0) * 1000 / calls, (_cpu_s() - client0) * 1000 / calls
    return {
        "clients": CLIENTS,
        "calls": calls,
        "errors": errors,
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
        "max_ms": round(max(latencies), 1),
        "round_wall_ms_median": _pct(rounds_ms, 50),
        "calls_per_s": round(calls / wall, 1),
        "server_cpu_ms_per_call": round(server_ms, 2),
        "server_loop_cpu_ms_per_call": round((_loop_cpu_s(pid) - loop0) * 1000 / calls, 2),
        "client_cpu_ms_per_call": round(client_ms, 2),
        # the shortest a round of CLIENTS calls can take with every core free: the latency a p99 cannot beat
        "cpu_bound_round_ms": round(CLIENTS * (server_ms + client_ms) / (os.cpu_count() or 1), 1),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="bench-rest-")
    os.environ["PROMPT_ALCHEMY_HOME"] = tmp
    for var in [v for v in os.environ if v.startswith("PROMPT_ALCHEMY_") and v != "PROMPT_ALCHEMY_HOME"]:
        del os.environ[var]
    queries = bench_mcp.load_queries()
    load_start = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    bench_mcp.build_library()
    build_s = time.perf_counter() - t0
    from prompt_alchemy.services import AlchemyService

    service = AlchemyService.from_environment()
    key, _ = asyncio.run(service.create_key("bench", "write", rate_limit=1_000_000))
    asyncio.run(service.aclose())
    os.environ["PROMPT_ALCHEMY_SERVER__REQUIRE_AUTH"] = "true"
    proc, mcp_url = bench_mcp.start_server()
    url = mcp_url.removesuffix("/mcp")
    per = CLIENTS * ROUNDS
    rest_rounds = [queries[i * CLIENTS : (i + 1) * CLIENTS] for i in range(ROUNDS)]
    mcp_rounds = [queries[per + i * CLIENTS : per + (i + 1) * CLIENTS] for i in range(ROUNDS)]
    answer = Path(tmp) / "answer.json"
    try:
        answer_bytes = sample_answer(url, key, queries[2 * per], answer)
        mcp = asyncio.run(mcp_bursts(url, key, mcp_rounds, proc.pid))
        rest = asyncio.run(rest_bursts(url, key, rest_rounds, proc.pid))
        repeated = asyncio.run(rest_bursts(url, key, [rest_rounds[0]] * ROUNDS, proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    floor_proc, floor_url = start_floor(answer)
    try:
        floor = asyncio.run(rest_bursts(floor_url, key, rest_rounds, floor_proc.pid))
    finally:
        floor_proc.send_signal(signal.SIGTERM)
        floor_proc.wait(timeout=30)
    print(
        json.dumps(
            {
                "benchmark": "rest_http",
                "prompts": bench_mcp.N,
                "build_s": round(build_s, 1),
                "authenticated": True,
                "answer_bytes": answer_bytes,
                "rest_search": rest,
                "rest_search_repeated": repeated,
                "mcp_search": mcp,
                "rest_vs_mcp_p50": round(rest["p50_ms"] / mcp["p50_ms"], 2) if mcp["p50_ms"] else None,
                "floor": floor,
                "rest_p99_vs_floor": round(rest["p99_ms"] / floor["p99_ms"], 2) if floor["p99_ms"] else None,
                "rest_repeated_p99_vs_floor": (
                    round(repeated["p99_ms"] / floor["p99_ms"], 2) if floor["p99_ms"] else None
                ),
                "server_exit_code": proc.returncode,
                "load_average_start": load_start,
                "load_average_end": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
