"""The optimizer on three small labelled tasks, with the embedded local model as task model and rewriter.

Each task file (benchmarks/data/*.jsonl, 40 items) is split into a propose half and a held-out half. The optimizer
is given only the propose half, which it divides again (deterministically) into the examples it may show the
rewriter and the examples it scores candidates on. The held-out half is never seen during optimization: the seed
prompt (the baseline, measured in the same run) and the optimized prompt are both measured there, by

* mean log-likelihood per example of the expected answer (nats, 95% t interval), and
* accuracy of the answer generated at temperature 0 (95% Wilson interval; match mode from the data file),

plus the paired per-example gain (optimized − seed) with its 95% interval. Prints one JSON object.

Usage: python benchmarks/bench_optimizer.py [--iterations N]   (default 1)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
TASKS = {
    "antonyms": ("Give the antonym.", "Reply with the antonym (the word of opposite meaning) of the given word."),
    "plurals": ("Write the plural.", "Reply with the plural form of the given English noun."),
    "sentiment": (
        "Classify the sentiment of the review.",
        "Classify the sentiment of a short product or service review as positive or negative.",
    ),
}


async def run_task(service, name: str, seed: str, task: str, iterations: int, workdir: Path) -> dict:
    from prompt_alchemy.ranking.evaluation import (
        ExampleResult,
        accuracy_evaluation,
        answer_request,
        load_examples,
        loglik_evaluation,
        loglik_results,
        matches,
        paired_difference,
    )

    examples = load_examples(DATA / f"{name}.jsonl")
    propose_half = [e for e in examples if e.split == "propose"]
    heldout = [e for e in examples if e.split == "heldout"]
    given = workdir / f"{name}.propose.jsonl"
    given.write_text(
        "".join(json.dumps({"input": e.input, "expected": e.expected, "match": e.match}) + "\n" for e in propose_half),
        encoding="utf-8",
    )
    started = time.perf_counter()
    result = await service.optimize(
        prompt=seed, task=task, examples_path=given, metric="loglik", max_iterations=iterations, provider="local"
    )
    optimize_s = time.perf_counter() - started
    local = service.registry.get("local")

    async def measure(prompt: str):
        ll = loglik_evaluation(await loglik_results(local, prompt, heldout))
        answers = []
        for ex in heldout:
            reply = await local.generate(answer_request(prompt, ex))
            answers.append(
                ExampleResult(
                    input=ex.input,
                    expected=ex.expected,
                    output=reply.text.strip(),
                    correct=matches(reply.text, ex.expected, ex.match),
                )
            )
        return ll, accuracy_evaluation(answers)

    seed_ll, seed_acc = await measure(seed)
    best_ll, best_acc = await measure(result.best.content)
    ll_gain = paired_difference(seed_ll, best_ll)
    acc_gain = paired_difference(seed_acc, best_acc)

    def ll_dict(e):
        return {"mean": e.mean, "ci95": [e.ci_low, e.ci_high], "per_token": e.per_token}

    def acc_dict(e):
        return {"accuracy": round(e.mean, 4), "ci95": [round(e.ci_low, 4), round(e.ci_high, 4)]}

    return {
        "task": name,
        "heldout_n": len(heldout),
        "optimizer_examples": result.examples,
        "seed_prompt": seed,
        "optimized_prompt": result.best.content,
        "optimized_by": [s.method for s in result.steps if s.best_so_far and s.method != "seed"],
        "changes": result.changes,
        "iterations": result.iterations,
        "stop_reason": result.stop_reason,
        "candidates_evaluated": len(result.steps) - 1,
        "optimize_s": round(optimize_s, 1),
        "selection_score": {"seed": result.seed.score, "optimized": result.best.score},
        "heldout_loglik": {
            "seed": ll_dict(seed_ll),
            "optimized": ll_dict(best_ll),
            "gain": {"mean": round(ll_gain[0], 4), "ci95": [round(ll_gain[1], 4), round(ll_gain[2], 4)]},
        },
        "heldout_accuracy": {
            "seed": acc_dict(seed_acc),
            "optimized": acc_dict(best_acc),
            "gain": {"mean": round(acc_gain[0], 4), "ci95": [round(acc_gain[1], 4), round(acc_gain[2], 4)]},
        },
        "improved_loglik": best_ll.mean > seed_ll.mean,
        "improved_accuracy": best_acc.mean > seed_acc.mean,
    }


async def main(iterations: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        os.environ["PROMPT_ALCHEMY_HOME"] = home
        from prompt_alchemy.services import AlchemyService

        service = AlchemyService.from_environment()
        started = time.perf_counter()
        try:
            results = [
                await run_task(service, name, seed, task, iterations, Path(home))
                for name, (seed, task) in TASKS.items()
            ]
        finally:
            await service.aclose()
        wall = time.perf_counter() - started
    improved = sum(r["improved_loglik"] for r in results)
    return {
        "benchmark": "optimizer_heldout",
        "task_model": "local (SmolLM2-135M-Instruct)",
        "iterations": iterations,
        "tasks": results,
        "summary": {
            "tasks_improved_heldout_loglik": improved,
            "tasks_improved_heldout_accuracy": sum(r["improved_accuracy"] for r in results),
            "tasks_improved_loglik_ci_excludes_zero": sum(r["heldout_loglik"]["gain"]["ci95"][0] > 0 for r in results),
            "target_met": improved >= 2,
        },
        "wall_s": round(wall, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.iterations))))
