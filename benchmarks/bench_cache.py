"""Response-cache hit latency for a repeated generation call (target < 5 ms).

A generation call goes through the registry's gateway to the OpenAI SDK and a fake OpenAI server on 127.0.0.1;
the same call repeated is answered from the SQLite response cache. The in-run baseline is the uncached call
(`--no-cache`). Also reported: a whole repeated 3-phase x 3-variant session through the service, first run
(all misses) against the second (all hits).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "providers"))

CALLS = 200


def _p(values: list[float], q: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(len(values) * q))], 3)


async def _calls(service) -> tuple[list[float], list[float]]:
    from prompt_alchemy.models import Phase
    from prompt_alchemy.providers.base import GenerationRequest, Message

    registry = service.registry
    chain = registry.chain(Phase.SOLUTIO)
    requests = [
        GenerationRequest(
            messages=[
                Message("system", "You refine prompts."),
                Message("user", f"idea number {i}: " + "details " * 200),
            ],
            temperature=0.7,
            max_tokens=500,
        )
        for i in range(CALLS)
    ]
    misses, hits = [], []
    for request in requests[:5]:  # warm-up: SDK import, connection, cache table
        await registry.generate(Phase.SOLUTIO, chain, request)
    with registry.run_options(read_cache=False):  # the baseline: every call goes to the server (--no-cache)
        for request in requests[5:]:
            start = time.perf_counter()
            await registry.generate(Phase.SOLUTIO, chain, request)
            misses.append((time.perf_counter() - start) * 1000.0)
    for request in requests[5:]:
        start = time.perf_counter()
        outcome = await registry.generate(Phase.SOLUTIO, chain, request)
        hits.append((time.perf_counter() - start) * 1000.0)
        assert outcome.response.cached
    return misses, hits


async def _session(service) -> float:
    request = service.build_request("a CLI that summarizes git logs for release notes", count=3)
    start = time.perf_counter()
    await service.generate(request)
    return (time.perf_counter() - start) * 1000.0


def main() -> None:
    from fake_llm_servers import FakeLLMServer

    from prompt_alchemy.logging_setup import setup_logging
    from prompt_alchemy.services import AlchemyService

    setup_logging("ERROR")
    with tempfile.TemporaryDirectory() as home, FakeLLMServer("openai") as server:
        os.environ.update({"PROMPT_ALCHEMY_HOME": home, "OPENAI_API_KEY": "sk-bench-0123456789abcdef"})
        overrides = {"providers.openai.base_url": server.base_url, "generation.embedding_provider": "openai"}
        overrides |= {f"phases.{p}.provider": "openai" for p in ("prima-materia", "solutio", "coagulatio")}

        async def run():
            service = AlchemyService.from_environment(overrides=overrides)
            try:
                misses, hits = await _calls(service)
                first = await _session(service)
                requests_before = len(server.requests)
                second = await _session(service)
                assert len(server.requests) == requests_before  # the repeated session made no server call
                return misses, hits, first, second
            finally:
                await service.aclose()

        misses, hits, first, second = asyncio.run(run())
    print(
        json.dumps(
            {
                "benchmark": "response_cache",
                "calls": len(hits),
                "hit_ms_median": round(statistics.median(hits), 3),
                "hit_ms_p95": _p(hits, 0.95),
                "baseline_miss_ms_median": round(statistics.median(misses), 3),
                "baseline_miss_ms_p95": _p(misses, 0.95),
                "target_hit_ms": 5.0,
                "session_3x3_first_run_ms": round(first, 1),
                "session_3x3_repeated_run_ms": round(second, 1),
                "provider": "openai SDK -> 127.0.0.1 fake server",
            }
        )
    )


if __name__ == "__main__":
    main()
