"""With the real embedded model (sparingly): log-likelihood ranks instructions in a known order, and one
end-to-end `optimize` with an examples file through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from learning.learning_testkit import library_rows

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def local_provider():
    from prompt_alchemy.config import load_settings
    from prompt_alchemy.providers.local import LocalProvider

    provider = LocalProvider(load_settings().settings.providers.local)
    reason = provider.unavailable_reason()
    assert reason is None, reason
    return provider


async def test_loglik_recovers_correct_paraphrase_wrong_empty(local_provider):
    from prompt_alchemy.ranking.evaluation import load_examples, rank_by_loglik

    examples = load_examples(ROOT / "benchmarks" / "data" / "antonyms.jsonl")[:16]
    ranked = await rank_by_loglik(
        local_provider,
        {
            "empty": "",
            "wrong": "Write the plural form of the given word.",
            "paraphrase": "Reply with a word that means the opposite of the word you are given.",
            "correct": "Write the antonym of the given word.",
        },
        examples,
    )
    assert [name for name, _ in ranked] == ["correct", "paraphrase", "wrong", "empty"]
    for _, evaluation in ranked:
        assert evaluation.n == 16 and evaluation.ci_low < evaluation.mean < evaluation.ci_high < 0
        assert all(r.tokens and r.tokens >= 1 for r in evaluation.examples)
    # the same prompt scores the same every time (the KV cache reuse does not change the numbers)
    again = await rank_by_loglik(local_provider, {"correct": "Write the antonym of the given word."}, examples)
    assert again[0][1].mean == pytest.approx(ranked[0][1].mean, abs=1e-6)


@pytest.mark.usefixtures("backend")
@pytest.mark.sqlite_only(
    "slow (the real model); PostgreSQL adds nothing: the optimizer's stored rows are checked on "
    "both backends in test_ranking_optimizer.py"
)
def test_optimize_end_to_end_with_the_local_model(tmp_path, home):
    lines = [
        ("hot", "cold"),
        ("big", "small"),
        ("fast", "slow"),
        ("happy", "sad"),
        ("up", "down"),
        ("light", "dark"),
        ("early", "late"),
        ("strong", "weak"),
    ]
    examples = tmp_path / "antonyms.jsonl"
    examples.write_text(
        "".join(json.dumps({"input": a, "expected": b, "match": "contains"}) + "\n" for a, b in lines), encoding="utf-8"
    )
    proc = subprocess.run(
        [
            str(SCRIPT),
            "optimize",
            "--prompt",
            "Give the antonym.",
            "--task",
            "antonyms of English words",
            "--examples",
            str(examples),
            "--max-iterations",
            "1",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert data["metric"] == "loglik" and data["examples"] == {"propose": 4, "heldout": 4}
    assert data["proposer"] == "local" and data["iterations"] == 1
    assert data["stop_reason"] in ("max_iterations", "converged")
    seed = data["seed"]["evaluation"]
    assert seed["n"] == 4 and seed["ci_low"] <= seed["mean"] <= seed["ci_high"] and 0 < data["seed"]["score"] < 1
    heldout_inputs = {e["input"] for e in seed["examples"]}
    assert len(data["steps"]) >= 2  # the seed and at least one evaluated candidate
    for step in data["steps"][1:]:
        assert step["parent_id"] == data["seed"]["prompt_id"]
        assert {e["input"] for e in step["evaluation"]["examples"]} == heldout_inputs
        assert not any(f"Input: {i}\n" in step["content"] for i in heldout_inputs)  # held-out never shown
    assert data["best"]["score"] >= data["seed"]["score"]
    rows = [
        tuple(r.values())
        for r in library_rows(
            home, f"SELECT id, parent_id, score, source_type FROM prompts WHERE session_id = '{data['run_id']}'"
        )
    ]
    assert len(rows) == len(data["steps"])
    assert {r[3] for r in rows} == {"optimized"} and all(r[2] is not None for r in rows)
