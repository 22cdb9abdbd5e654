"""Learning from feedback: how well the ranker orders a simulated user's held-out prompts before and after training,
by how many ratings it was trained on, and what training and the learned component cost.

The simulated user (tests/learning/learning_testkit.py) prefers prompts that specify an output format and are over
400 characters; prompts are built from the awesome-chatgpt-prompts CSV. For each training-set size, a fresh
library (temporary PROMPT_ALCHEMY_HOME) holds the rated prompts and 100 unrated held-out prompts; the baseline is
the ranker before training (the rubric alone), measured in the same run on the same held-out prompts.

Usage: python benchmarks/bench_learning.py [--sizes 50,100,300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "learning")]


def run_size(n: int) -> dict:
    from learning_testkit import build_prompts, make_service, rate_all, ranker_accuracy, store_prompts

    train = build_prompts(n, seed=1)
    held = build_prompts(100, seed=2, offset=300, prefix="held")
    with tempfile.TemporaryDirectory() as home:
        os.environ["PROMPT_ALCHEMY_HOME"] = home
        service = make_service()
        store_prompts(service, train + held)
        rate_all(service, train)
        before = ranker_accuracy(service, held)
        started = time.perf_counter()
        report = asyncio.run(service.train())
        train_s = time.perf_counter() - started
        after = ranker_accuracy(service, held)

        stored = service.store.get_prompts([p.id for p in held])
        contexts = asyncio.run(service._stored_feature_contexts(list(stored.values())))
        learned = service.ranker.learned
        timings = {}
        for label, model in (("rubric_only", None), ("with_learned", learned)):
            service.ranker.learned = model
            started = time.perf_counter()
            for _ in range(10):
                for p in held:
                    service.ranker.score(p.content, contexts[p.id])
            timings[label] = (time.perf_counter() - started) / (10 * len(held)) * 1e6
        service.ranker.learned = learned
        asyncio.run(service.aclose())
    return {
        "ratings": n, "heldout_prompts": len(held),
        "heldout_accuracy_before": round(before, 4), "heldout_accuracy_after": round(after, 4),
        "gain": round(after - before, 4), "adopted": report.adopted,
        "validation_accuracy_current": report.current_accuracy,
        "validation_accuracy_candidate": report.candidate_accuracy,
        "model_alone_validation_accuracy": report.model_accuracy,
        "train_pairs": report.train_pairs, "validation_pairs": report.validation_pairs,
        "train_seconds": round(train_s, 3),
        "score_us_per_prompt": {k: round(v, 1) for k, v in timings.items()},
        "top_features": [f["feature"] for f in report.top_features[:4]],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,100,300")
    args = parser.parse_args()
    from prompt_alchemy.config import LearningConfig

    cfg = LearningConfig()
    results = [run_size(int(n)) for n in args.sizes.split(",")]
    print(json.dumps({
        "benchmark": "learning", "simulated_preference": "output format and over 400 characters",
        "params": {"learning_rate": cfg.learning_rate, "batch_size": cfg.batch_size, "epochs": cfg.epochs,
                   "validation_split": cfg.validation_split, "seed": cfg.seed},
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
