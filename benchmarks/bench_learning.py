"""Learning from feedback: how well the ranker follows simulated users with different hidden tastes, before and
after training, by how many ratings it was trained on; and whether a model trained on random ratings is adopted.

Prompts are built from the packaged awesome-chatgpt-prompts CSV and varied at random (shortened, role line
dropped, an example, a format or a constraint sentence added; tests/learning/learning_testkit.py). Each simulated
user rates N training prompts with their hidden taste (one rating in ten off by one); the ranker is then scored on
200 held-out prompts they never rated, by pairwise agreement with the taste (pairs the taste rates differently).
The baseline is the ranker before training (the rubric alone), measured in the same run on the same prompts.

Tastes: concise (60 words or fewer), no role line, examples, and format-and-detail (an output format and over
400 characters: a taste the rubric largely shares).

Usage: python benchmarks/bench_learning.py [--sizes 20,50,100,300] [--tastes concise,no_role,...] [--noise-seeds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "learning")]

HELD_N = 200
POOL_N = 300
HELD_OFFSET = 400  # CSV rows past those the training pool draws on


def run_one(taste_name: str, n: int, train, held, *, noise_seed: int | None = None) -> dict:
    from learning_testkit import TASTES, make_service, ranker_scores, rate_with, store_prompts, taste_accuracy

    from prompt_alchemy.errors import InputError

    taste = TASTES[taste_name]
    with tempfile.TemporaryDirectory() as home:
        os.environ["PROMPT_ALCHEMY_HOME"] = home
        service = make_service()
        store_prompts(service, train[:n] + held)
        if noise_seed is None:
            rate_with(service, train[:n], taste)
        else:
            rng = random.Random(noise_seed)
            for p in train[:n]:
                asyncio.run(service.rate(p.id, rng.randint(1, 5), source="cli"))
        before = taste_accuracy(ranker_scores(service, held), held, taste)
        started = time.perf_counter()
        try:
            report = asyncio.run(service.train())
        except InputError as exc:
            report = None
            why = str(exc)
        train_s = time.perf_counter() - started
        after = taste_accuracy(ranker_scores(service, held), held, taste)
        asyncio.run(service.aclose())
    out = {
        "ratings": n,
        "before": round(before, 4),
        "after": round(after, 4),
        "gain": round(after - before, 4),
        "train_seconds": round(train_s, 2),
    }
    if report is None:
        out.update(adopted=False, reason=why)
        return out
    out.update(
        adopted=report.adopted,
        trust=report.trust,
        gain_z=report.gain_z,
        validation_current=report.current_accuracy,
        validation_candidate=report.candidate_accuracy,
        validation_full=report.full_accuracy,
        train_pairs=report.train_pairs,
        validation_pairs=report.validation_pairs,
    )
    if n >= 300:
        out["top_features"] = [f["feature"] for f in report.top_features[:4]]
        out["reweighted"] = {w["name"]: [w["default"], w["weight"]] for w in report.learned_weights[:4]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20,50,100,300")
    parser.add_argument("--tastes", default="concise,no_role,examples,format_and_detail")
    parser.add_argument("--noise-seeds", type=int, default=3)
    args = parser.parse_args()
    from learning_testkit import build_varied_prompts

    from prompt_alchemy.config import LearningConfig
    from prompt_alchemy.ranking.learning import EVIDENCE_HALF, MIN_Z

    train = build_varied_prompts(POOL_N, seed=1)
    held = build_varied_prompts(HELD_N, seed=2, offset=HELD_OFFSET, prefix="held")
    sizes = [int(n) for n in args.sizes.split(",")]
    tastes = {}
    for name in args.tastes.split(","):
        runs = [run_one(name, n, train, held) for n in sizes]
        print(
            f"{name}: " + ", ".join(f"{r['ratings']}: {r['before']:.3f}->{r['after']:.3f}" for r in runs),
            file=sys.stderr,
        )
        tastes[name] = {"growth": runs, "before": runs[-1]["before"], "after": runs[-1]["after"]}
    noise = [run_one("concise", POOL_N, train, held, noise_seed=seed) for seed in range(args.noise_seeds)]
    cfg = LearningConfig()
    print(
        json.dumps(
            {
                "benchmark": "learning",
                "heldout_prompts": HELD_N,
                "metric": "pairwise agreement with the hidden taste",
                "baseline": "the ranker before training (rubric alone), same run, same prompts",
                "params": {
                    "learning_rate": cfg.learning_rate,
                    "batch_size": cfg.batch_size,
                    "epochs": cfg.epochs,
                    "validation_split": cfg.validation_split,
                    "seed": cfg.seed,
                    "evidence_half": EVIDENCE_HALF,
                    "min_z": MIN_Z,
                },
                "summary": {name: {"rubric": t["before"], "learned": t["after"]} for name, t in tastes.items()},
                "tastes": tastes,
                "random_ratings": {
                    "runs": [
                        {
                            k: r.get(k)
                            for k in (
                                "ratings",
                                "adopted",
                                "trust",
                                "gain_z",
                                "validation_current",
                                "validation_candidate",
                            )
                        }
                        for r in noise
                    ],
                    "adopted": sum(bool(r["adopted"]) for r in noise),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
