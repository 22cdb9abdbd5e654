"""`generate` with the embedded local model: wall time and how much of it is model time.

Runs the installed CLI as a user would (fresh home, count 1, then count 3), and reads model time from the JSON
output (sum of provider call latencies).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
IDEA = "build a CLI that summarizes git logs"


def _run(home: str, count: int) -> dict:
    env = dict(os.environ, PROMPT_ALCHEMY_HOME=home)
    start = time.perf_counter()
    proc = subprocess.run([str(SCRIPT), "generate", "--count", str(count), "--output", "json", IDEA],
                          capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - start
    data = json.loads(proc.stdout)
    tokens = sum(p["output_tokens"] for p in data["prompts"])
    return {"count": count, "process_wall_s": round(wall, 2), "engine_wall_s": round(data["wall_ms"] / 1000, 2),
            "model_s": round(data["model_ms"] / 1000, 2), "model_share_of_process": round(data["model_ms"] / 1000 / wall, 3),
            "output_tokens": tokens, "output_tokens_per_model_s": round(tokens / (data["model_ms"] / 1000), 1)}


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        runs = [_run(home, 1), _run(home, 3)]
    print(json.dumps({"benchmark": "generate_local_model", "runs": runs}))


if __name__ == "__main__":
    main()
