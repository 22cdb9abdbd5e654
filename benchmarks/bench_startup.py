"""Cold start of `prompt-alchemy --help` versus a bare `python -c pass` (target: under 0.3 s)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10
SCRIPT = Path(sys.executable).parent / "prompt-alchemy"


def _time(cmd: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    bare = _time([sys.executable, "-c", "pass"])
    help_ = _time([str(SCRIPT), "--help"])
    version = _time([str(SCRIPT), "--version"])
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "python_pass_s": round(bare, 4),
                "help_s": round(help_, 4),
                "version_s": round(version, 4),
                "help_ratio_to_bare_python": round(help_ / bare, 2),
                "target_help_s": 0.3,
            }
        )
    )


if __name__ == "__main__":
    main()
