"""Wall time of the default offline `generate`, as a user runs it: one whole CLI process per idea (start-up, the
embedded model and embedder, choosing, three variants, ranking), no key, `--no-cache`, nothing saved; one home per
checkout, warmed by one run first (a user's caches, such as the pattern examples' vectors, persist).

The ideas are a fixed sample of the development set (the first idea of every Nth pattern, in the set's run order).
`--baseline SRC` runs the same ideas against another checkout's `src` (e.g. `git worktree add /tmp/pa-before
<commit>`), idea by idea in turn with the current one, so both see the same machine; ratios are taken pair by pair.

    python benchmarks/bench_latency.py [--ideas N] [--src SRC] [--baseline SRC]

Prints one JSON object: median, min and max wall and CPU seconds (user + system of the process and its children)
per checkout, the medians of the pairwise ratios, and the load average at the start and the end. On a shared machine
the wall time waits for cores; the CPU time is what an idle 2-core machine would spend, and bounds its wall time
from below.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_quality import load_dev_set, run_order  # noqa: E402


def sample(count: int) -> list[str]:
    """The first idea of every pattern in the set's run order, then `count` of them evenly spread over the
    patterns (so bots and images, which never needed the model, are not all of the sample)."""
    seen: dict[str, str] = {}
    for idea in run_order(load_dev_set()):
        seen.setdefault(idea["pattern"], idea["idea"])
    firsts = list(seen.values())
    step = max(1.0, len(firsts) / count)
    return [firsts[int(i * step)] for i in range(min(count, len(firsts)))]


def run_once(src: Path, idea: str, home: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one whole `generate` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(PYTHONPATH=str(src), PROMPT_ALCHEMY_HOME=home)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "prompt_alchemy", "generate", "--no-cache", "--no-save", "-q", idea],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"generate failed for {idea!r} ({src}): {proc.stderr.strip()[-400:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def figures(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def _run_figures(src: Path, runs: list[tuple[float, float]]) -> dict[str, object]:
    return {"src": str(src), "wall": figures([w for w, _ in runs]), "cpu": figures([c for _, c in runs])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ideas", type=int, default=12)
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    ideas = sample(args.ideas)
    load_before = os.getloadavg()[0]
    current: list[tuple[float, float]] = []
    baseline: list[tuple[float, float]] = []
    # one home per checkout, as a user's: its caches (the pattern examples' vectors) warm after the first run
    homes = {src: tempfile.mkdtemp(prefix="pa-latency-") for src in (args.src, args.baseline) if src}
    for src, home in homes.items():
        run_once(src, "warm up", home)
    for idea in ideas:
        current.append(run_once(args.src, idea, homes[args.src]))
        if args.baseline:
            baseline.append(run_once(args.baseline, idea, homes[args.baseline]))
        pair = f"{current[-1][0]:6.2f}s" + (f" {baseline[-1][0]:6.2f}s" if baseline else "")
        print(f"{pair}  {idea[:70]}", file=sys.stderr)
    out: dict[str, object] = {
        "benchmark": "generate_wall_time",
        "ideas": len(ideas),
        "current": _run_figures(args.src, current),
        "load_average": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "note": "whole CLI processes, a warmed home per checkout, no key, --no-cache; a shared 2-core machine",
    }
    if baseline:
        out["baseline"] = _run_figures(args.baseline, baseline)
        out["wall_ratio_median"] = round(statistics.median(c[0] / b[0] for c, b in zip(current, baseline)), 2)
        out["cpu_ratio_median"] = round(statistics.median(c[1] / b[1] for c, b in zip(current, baseline)), 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
