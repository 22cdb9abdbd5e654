"""What counting a request against its key's rate limit adds to an authenticated request, in one run:

- `step_*`: the limiter step alone, as the team server awaits it (`service.count_request`, a worker-thread hop plus
  the count), against the in-memory token bucket the server used before (`bucket`, called inline): per call, p50
  and p99 in microseconds, sequential;
- `request_*`: a whole authenticated REST request (`GET /api/v1/prompts?limit=1`, key lookup and hash check
  included) through the team server's ASGI app in this process (httpx's ASGI transport, no sockets), with each
  limiter: p50 and p99 in milliseconds, sequential, and calls/s with 16 concurrent clients.

The libraries: SQLite (the count stays in the process's memory) and PostgreSQL 16 from the `pgserver` package on a
unix socket (the count is one UPSERT on the UNLOGGED `rate_windows` table). The key's limit is high enough that
nothing is refused. Prints one JSON object.

    .venv/bin/python benchmarks/bench_rate_limit.py          # BENCH_CALLS=2000 by default; about a minute
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
CONCURRENT = 16
ROUNDS = 4


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _summary(samples: list[float], scale: float, unit: str) -> dict:
    return {
        f"p50_{unit}": round(_pct(samples, 50) * scale, 2),
        f"p99_{unit}": round(_pct(samples, 99) * scale, 2),
        f"mean_{unit}": round(statistics.fmean(samples) * scale, 2),
    }


def old_bucket_limiter():
    """The server's limiter before: a token bucket per key in the process (providers.resilience.TokenBucket),
    refusing instead of waiting."""
    from prompt_alchemy.providers.resilience import TokenBucket

    class Bucket(TokenBucket):
        def try_take(self) -> float:
            with self._lock:
                if self.rate is None:
                    return 0.0
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return 0.0
                return (1.0 - self._tokens) / self.rate

    buckets: dict[str, Bucket] = {}

    async def count_request(key, default_limit: int) -> float:
        bucket = buckets.get(key.id) or buckets.setdefault(key.id, Bucket(key.rate_limit or default_limit))
        return bucket.try_take()

    return count_request


async def step(service, key, limiter) -> list[float]:
    samples = []
    for _ in range(CALLS // ROUNDS):
        t0 = time.perf_counter()
        wait = await limiter(key, 600)
        samples.append(time.perf_counter() - t0)
        assert wait == 0.0
    return samples


async def requests(client) -> list[float]:
    samples = []
    for _ in range(CALLS // 4 // ROUNDS):
        t0 = time.perf_counter()
        r = await client.get("/api/v1/prompts", params={"limit": 1})
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return samples


async def throughput(client) -> float:
    async def worker(n: int) -> None:
        for _ in range(n):
            assert (await client.get("/api/v1/prompts", params={"limit": 1})).status_code == 200

    per = max(1, CALLS // 4 // ROUNDS // CONCURRENT)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(per) for _ in range(CONCURRENT)))
    return per * CONCURRENT / (time.perf_counter() - t0)


async def bench_library(name: str, env: dict[str, str]) -> dict:
    """Both limiters on one library and one app, alternating in rounds so that the machine's drift hits both."""
    import httpx

    from prompt_alchemy.api import mount
    from prompt_alchemy.services import AlchemyService

    service = AlchemyService.from_environment(env=env, overrides={"server.require_auth": True})
    try:
        token, _ = await service.create_key(f"bench-{name}", "read", rate_limit=1_000_000)
        key = await service.authenticate(token)

        async def inner(scope, receive, send):  # the MCP app: not reached by these requests
            raise AssertionError(scope["path"])

        app = mount(inner, service, host="127.0.0.1")
        store_limiter, bucket_limiter = service.count_request, old_bucket_limiter()
        limiters = {"bucket": bucket_limiter, "store": store_limiter}
        steps: dict[str, list[float]] = {k: [] for k in limiters}
        calls: dict[str, list[float]] = {k: [] for k in limiters}
        rates: dict[str, list[float]] = {k: [] for k in limiters}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            for _ in range(50):  # warm up: connections, prepared statements, imports
                await store_limiter(key, 600)
                assert (await client.get("/api/v1/prompts", params={"limit": 1})).status_code == 200
            for _ in range(ROUNDS):
                for kind, limiter in limiters.items():
                    service.count_request = limiter  # type: ignore[method-assign] - the app awaits this one
                    steps[kind] += await step(service, key, limiter)
                    calls[kind] += await requests(client)
                    rates[kind].append(await throughput(client))
            service.count_request = store_limiter  # type: ignore[method-assign]
        result: dict = {}
        for kind in limiters:
            result[f"step_{kind}"] = _summary(steps[kind], 1e6, "us")
            result[f"request_{kind}"] = {
                **_summary(calls[kind], 1e3, "ms"),
                f"calls_per_s_{CONCURRENT}_clients": round(statistics.fmean(rates[kind]), 1),
            }
        result["step_added_p50_us"] = round(result["step_store"]["p50_us"] - result["step_bucket"]["p50_us"], 1)
        result["request_added_p50_ms"] = round(
            result["request_store"]["p50_ms"] - result["request_bucket"]["p50_ms"], 2
        )
        return result
    finally:
        await service.aclose()


async def main() -> dict:
    import pgserver

    root = Path(tempfile.mkdtemp(prefix="pa-rl-"))
    server = pgserver.get_server(root / "pg", cleanup_mode="delete")
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
        (root / "lite").mkdir()
        (root / "pg-home").mkdir()
        out = {"calls": CALLS, "cores": os.cpu_count()}
        out["sqlite"] = await bench_library("sqlite", {**base, "PROMPT_ALCHEMY_HOME": str(root / "lite")})
        out["postgres"] = await bench_library(
            "postgres",
            {**base, "PROMPT_ALCHEMY_HOME": str(root / "pg-home"), "PROMPT_ALCHEMY_DATABASE_URL": server.get_uri()},
        )
        return out
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main()), indent=2))
