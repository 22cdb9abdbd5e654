"""Cold start of `prompt-alchemy --help` against a bare `python -c pass`, measured in the same run.

The three commands (bare python, `--help`, `--version`) run in turn, round after round, so each round's ratio
compares runs made under the same machine load; the figure to quote is the median of those per-round ratios
(target: `--help` at most 8x bare python, wall time). Wall and CPU (user+sys of the child) are both reported.
Byte-code caching is left on for the children (as in an installed package) and one warm-up round writes it.
Timings are noisy on a shared machine: compare ratios from one run, not absolute times across runs.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
COMMANDS = {
    "bare": [sys.executable, "-c", "pass"],
    "help": [str(SCRIPT), "--help"],
    "version": [str(SCRIPT), "--version"],
}
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(cmd: list[str]) -> tuple[float, float]:
    """(wall s, cpu s) of one run of `cmd` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    for cmd in COMMANDS.values():  # warm-up: byte-code written, files in the page cache
        _run(cmd)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(ROUNDS):
        for name, cmd in COMMANDS.items():
            samples[name].append(_run(cmd))

    def median(name: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[name])

    def ratio(name: str, index: int) -> float:
        return statistics.median(a[index] / b[index] for a, b in zip(samples[name], samples["bare"]) if b[index] > 0)

    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "rounds": ROUNDS,
                "python_pass_wall_s": round(median("bare", 0), 4),
                "help_wall_s": round(median("help", 0), 4),
                "version_wall_s": round(median("version", 0), 4),
                "help_ratio_to_bare_python_wall": round(ratio("help", 0), 2),
                "help_ratio_to_bare_python_cpu": round(ratio("help", 1), 2),
                "version_ratio_to_bare_python_wall": round(ratio("version", 0), 2),
                "target_help_ratio": 8.0,
            }
        )
    )


if __name__ == "__main__":
    main()
