"""Failover overhead: the primary provider answers 503 at once; how much time does that add to each call before
the fallback answers?

Both providers run behind fake servers on 127.0.0.1 speaking their real wire formats (OpenAI for the primary,
Anthropic for the fallback), through the official SDKs and the registry's gateway. The in-run baseline is the same
call straight to the fallback. Reported: overhead per call with no retries (target < 50 ms), and with 2 retries at
a 10 ms backoff base (target < 50 ms + the configured backoff, which is reported too).
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

CALLS = 150
BACKOFF = 0.01


def _settings(primary_url: str, fallback_url: str, retries: int):
    from prompt_alchemy.config import load_settings

    env = {
        "PROMPT_ALCHEMY_HOME": os.environ["PROMPT_ALCHEMY_HOME"],
        "OPENAI_API_KEY": "sk-bench-0123456789abcdef",
        "ANTHROPIC_API_KEY": "sk-ant-bench-0123456789",
    }
    return load_settings(
        env=env,
        overrides={
            "providers.openai.base_url": primary_url,
            "providers.openai.max_retries": retries,
            "providers.anthropic.base_url": fallback_url,
            "providers.anthropic.max_retries": 0,
            "gateway.cache": False,
            "gateway.backoff_base_seconds": BACKOFF,
        },
    ).settings


async def _measure(settings, chain: list[str]) -> list[float]:
    from prompt_alchemy.models import Phase
    from prompt_alchemy.providers.base import GenerationRequest, Message
    from prompt_alchemy.providers.registry import ProviderRegistry

    registry = ProviderRegistry(settings)
    times = []
    try:
        for i in range(CALLS + 5):
            request = GenerationRequest(
                messages=[Message("system", "s"), Message("user", f"idea {i}")], temperature=0.5, max_tokens=64
            )
            start = time.perf_counter()
            outcome = await registry.generate(Phase.SOLUTIO, chain, request)
            elapsed = time.perf_counter() - start
            assert outcome.response.provider == "anthropic"
            if i >= 5:  # warm-up: SDK imports, first connections
                times.append(elapsed * 1000.0)
    finally:
        await registry.aclose()
    return times


def main() -> None:
    from fake_llm_servers import FakeLLMServer, Fault

    from prompt_alchemy.logging_setup import setup_logging

    setup_logging("ERROR")  # every call fails over; the warning per call is not what is measured

    results = {}
    with (
        tempfile.TemporaryDirectory() as home,
        FakeLLMServer("openai") as primary,
        FakeLLMServer("anthropic") as fallback,
    ):
        os.environ["PROMPT_ALCHEMY_HOME"] = home
        primary.always = Fault.error(503)
        for retries in (0, 2):
            settings = _settings(primary.base_url, fallback.base_url, retries)
            baseline = asyncio.run(_measure(settings, ["anthropic"]))
            failover = asyncio.run(_measure(settings, ["openai", "anthropic"]))
            overhead = statistics.median(failover) - statistics.median(baseline)
            # expected backoff sum: retries with full jitter in [d/2, d] -> mean 0.75 * base * (2^r - 1)
            backoff_ms = 0.75 * BACKOFF * 1000.0 * (2**retries - 1)
            results[f"retries_{retries}"] = {
                "baseline_fallback_only_ms_median": round(statistics.median(baseline), 2),
                "with_failover_ms_median": round(statistics.median(failover), 2),
                "with_failover_ms_p95": round(sorted(failover)[int(len(failover) * 0.95)], 2),
                "overhead_per_call_ms": round(overhead, 2),
                "configured_backoff_ms_expected": round(backoff_ms, 2),
                "overhead_minus_backoff_ms": round(overhead - backoff_ms, 2),
                "primary_requests_per_call": round(len(primary.requests) / (CALLS + 5), 2),
            }
            primary.requests.clear()
    print(
        json.dumps(
            {
                "benchmark": "failover_overhead",
                "calls": CALLS,
                "primary": "openai SDK -> 127.0.0.1 fake answering 503 at once",
                "fallback": "anthropic SDK -> 127.0.0.1 fake",
                "target_ms": "< 50 + configured backoff",
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
