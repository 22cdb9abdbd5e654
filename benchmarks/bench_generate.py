"""Parallel generation overhead: scripted provider at 200 ms per call, 3 phases x 3 variants.

The critical path is 3 x 200 ms (each variant's chain is sequential; chains run concurrently). Reports the ratio
of wall time to the critical path (target <= 1.15) and, as the in-run baseline, the sequential run
(use_parallel=false).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time

LATENCY = 0.2
RUNS = 5


async def _one(parallel: bool) -> float:
    from prompt_alchemy.services import AlchemyService

    overrides = {f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}
    overrides |= {"providers.scripted.latency": LATENCY, "generation.use_parallel": parallel}
    svc = AlchemyService.from_environment(overrides=overrides)
    request = svc.build_request("build a CLI that summarizes git logs", count=3)
    start = time.perf_counter()
    await svc.generate(request)
    elapsed = time.perf_counter() - start
    await svc.aclose()
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["PROMPT_ALCHEMY_HOME"] = home
        asyncio.run(_one(True))  # warm-up: imports, embedder load, migrations
        parallel = [asyncio.run(_one(True)) for _ in range(RUNS)]
        sequential = [asyncio.run(_one(False)) for _ in range(2)]
    critical = 3 * LATENCY
    wall = statistics.median(parallel)
    print(
        json.dumps(
            {
                "benchmark": "generate_scripted_3x3",
                "call_latency_s": LATENCY,
                "critical_path_s": critical,
                "wall_s_median": round(wall, 3),
                "ratio_to_critical_path": round(wall / critical, 3),
                "target_ratio": 1.15,
                "baseline_sequential_s": round(statistics.median(sequential), 3),
                "runs": RUNS,
            }
        )
    )


if __name__ == "__main__":
    main()
