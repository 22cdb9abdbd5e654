"""The default `generate` (3 variants x 3 phases) with the embedded local model: wall time, and how much of it is
model time, on the structured small-model path (the default) beside the freeform path (the phase templates, as
before) in the same run.

Runs the installed CLI as a user would (a fresh home, `--no-cache` so every call reaches the model) and reads model
time from the JSON output (the sum of provider call latencies). `--repeat N` runs each idea N times per path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
IDEAS = ("write a cover letter for a junior data analyst job", "build a CLI that summarizes git logs")


def _run(home: str, idea: str, mode: str) -> dict:
    env = dict(os.environ, PROMPT_ALCHEMY_HOME=home, PROMPT_ALCHEMY_GENERATION__MODE=mode)
    start = time.perf_counter()
    proc = subprocess.run(
        [str(SCRIPT), "generate", "--no-cache", "--output", "json", idea],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - start
    data = json.loads(proc.stdout)
    return {
        "process_wall_s": wall,
        "engine_wall_s": data["wall_ms"] / 1000,
        "model_s": data["model_ms"] / 1000,
        "output_tokens": sum(p["output_tokens"] for p in data["prompts"]),
    }


def _summary(runs: list[dict]) -> dict:
    wall = statistics.median(r["process_wall_s"] for r in runs)
    model = statistics.median(r["model_s"] for r in runs)
    return {
        "runs": len(runs),
        "process_wall_s_median": round(wall, 2),
        "process_wall_s_max": round(max(r["process_wall_s"] for r in runs), 2),
        "engine_wall_s_median": round(statistics.median(r["engine_wall_s"] for r in runs), 2),
        "model_s_median": round(model, 2),
        "model_share_of_wall": round(model / wall, 3),
        "output_tokens_median": statistics.median(r["output_tokens"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    out = {"benchmark": "generate_local_default", "count": 3, "cores": os.cpu_count(), "ideas": IDEAS}
    with tempfile.TemporaryDirectory() as home:
        _run(home, "warm up the page cache", "structured")
        for mode in ("structured", "freeform"):
            out[mode] = _summary([_run(home, idea, mode) for idea in IDEAS for _ in range(args.repeat)])
    out["speedup"] = round(out["freeform"]["process_wall_s_median"] / out["structured"]["process_wall_s_median"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
