"""The optimizer with the scripted provider (its configured answers arrive in call order): every iteration stored
with lineage and score, each stop condition, variable preservation, held-out discipline, and bad input."""

from __future__ import annotations

import json

import pytest
import yaml
from learning.learning_testkit import library_rows

from prompt_alchemy.errors import InputError
from prompt_alchemy.ranking.evaluation import load_examples, split_examples
from prompt_alchemy.ranking.optimizer import Budget, _BudgetExhausted, add_demonstrations, parse_proposal

CRIT = ["clarity", "specificity", "completeness", "structure", "intent"]
SEED = "Summarize {article} for a busy reader."

pytestmark = pytest.mark.usefixtures("backend")


def judge_reply(score: int) -> str:
    return json.dumps(
        {
            "scores": {c: {"score": score, "reasoning": f"{c} could be better"} for c in CRIT},
            "summary": f"scored {score}",
        }
    )


def rewrite(n: int, extra: str = "") -> str:
    return (
        f"<prompt>\nYou are an editor. Summarize {{article}} for a busy reader in {n + 2} bullet points.{extra}\n"
        f"</prompt>\nChanges: round {n} made the length explicit."
    )


def script(rounds: int, scores: list[int]) -> list[str]:
    """Answers in call order: seed judgment, then per round a critique, a rewrite and its judgment."""
    out = [judge_reply(scores[0])]
    for n in range(1, rounds + 1):
        out += [
            f"Critique {n}: the prompt does not say how long the summary should be.",
            rewrite(n),
            judge_reply(scores[n]),
        ]
    return out


def make_service(responses: list[str], **extra):
    from prompt_alchemy.services import AlchemyService

    return AlchemyService.from_environment(
        overrides={
            "ranking.judge_provider": "scripted",
            "providers.scripted.responses": responses,
            "phases.coagulatio.provider": "scripted",
            **extra,
        }
    )


def stored(svc, run_id):
    return {p.id: p for p in svc.store.list_prompts(session_id=run_id, limit=100)}


async def test_every_iteration_is_stored_with_lineage_and_score(home):
    svc = make_service(script(3, [5, 6, 7, 8]))
    try:
        result = await svc.optimize(prompt=SEED, task="summarize an article", max_iterations=3, provider="scripted")
        assert result.stop_reason == "max_iterations" and result.iterations == 3
        assert [s.score for s in result.steps] == [0.5, 0.6, 0.7, 0.8]
        assert result.best.score == 0.8 and result.improved and result.best is result.steps[-1]
        rows = stored(svc, result.run_id)
        assert len(rows) == 4
        chain = [result.steps[0].prompt_id]
        for step in result.steps[1:]:
            assert rows[step.prompt_id].parent_id == chain[-1]  # each round starts from the best so far
            chain.append(step.prompt_id)
        for step in result.steps:
            row = rows[step.prompt_id]
            assert row.source_type == "optimized" and row.score == step.score and row.session_id == result.run_id
        assert rows[result.seed.prompt_id].enhancement_method == "optimizer:seed"
        assert rows[result.best.prompt_id].enhancement_method == "optimizer:rewrite"
        # the critique uses the latest evaluation: round 2's critique request quotes round 1's judgment
        calls = svc.registry.get("scripted").calls
        critiques = [c for c in calls if c.metadata.get("task") == "critique"]
        assert len(critiques) == 3
        assert "scored the prompt 5.0/10" in critiques[0].messages[-1].content
        assert "scored the prompt 6.0/10" in critiques[1].messages[-1].content
        assert "in 3 bullet points" in critiques[1].messages[-1].content
        assert result.changes == [f"round {n} (rewrite): round {n} made the length explicit." for n in (1, 2, 3)]
        assert result.diff.startswith("--- seed\n+++ best\n") and "+You are an editor." in result.diff
        kinds = {m.kind for m in svc.store.list_metrics(session_id=result.run_id)}
        assert {"judge_score", "optimize_critique", "optimize_rewrite"} <= kinds
    finally:
        await svc.aclose()


async def test_stops_at_the_target_score(home):
    svc = make_service(script(3, [5, 6, 7, 8]))
    try:
        result = await svc.optimize(
            prompt=SEED, task="summarize an article", max_iterations=3, target_score=0.7, provider="scripted"
        )
        assert result.stop_reason == "target" and result.iterations == 2 and result.best.score == 0.7
        assert len(stored(svc, result.run_id)) == 3
    finally:
        await svc.aclose()


async def test_seed_already_at_target_runs_no_round(home):
    svc = make_service(script(1, [9, 10]))
    try:
        result = await svc.optimize(prompt=SEED, task="summarize", target_score=0.9, provider="scripted")
        assert result.stop_reason == "target" and result.iterations == 0 and not result.improved
        assert len(stored(svc, result.run_id)) == 1
    finally:
        await svc.aclose()


async def test_a_worse_candidate_is_stored_but_the_best_is_kept(home):
    svc = make_service(script(2, [7, 4, 8]))
    try:
        result = await svc.optimize(prompt=SEED, task="summarize", max_iterations=2, provider="scripted")
        seed, worse, better = result.steps
        assert worse.score == 0.4 and worse.parent_id == seed.prompt_id
        assert better.parent_id == seed.prompt_id  # round 2 started again from the seed, still the best
        assert result.best is better
    finally:
        await svc.aclose()


async def test_stops_when_a_round_brings_nothing_new(home):
    svc = make_service([judge_reply(5), "Critique: too vague.", rewrite(1)])  # the same rewrite every round
    try:
        result = await svc.optimize(prompt=SEED, task="summarize", max_iterations=5, provider="scripted")
        assert result.stop_reason == "converged" and result.iterations == 2
        assert len(result.steps) == 2 and not result.improved
        assert any("repeats an earlier prompt" in e for e in result.events)
    finally:
        await svc.aclose()


async def test_stops_at_the_budget_and_keeps_finished_work(home):
    # price the scripted model so that every call costs money, then allow only part of the run
    svc = make_service(
        script(4, [5, 6, 7, 8, 9]), **{"gateway.prices": {"scripted/scripted-v1": {"input": 50.0, "output": 50.0}}}
    )
    try:
        result = await svc.optimize(prompt=SEED, task="summarize", max_iterations=4, max_cost=0.06, provider="scripted")
        assert result.stop_reason == "budget" and result.iterations < 4
        assert result.total_cost_usd >= 0.06
        assert any("--max-cost" in e for e in result.events)
        rows = stored(svc, result.run_id)
        assert len(rows) == len(result.steps) >= 1
        assert all(r.score is not None for r in rows.values())
        assert sum(r.cost_usd for r in rows.values()) > 0
    finally:
        await svc.aclose()


@pytest.mark.sqlite_only("no library: the budget's arithmetic")
def test_budget_unit():
    budget = Budget(0.01)
    budget.check()
    budget.charge(0.006)
    budget.check()
    budget.charge(0.006)
    with pytest.raises(_BudgetExhausted):
        budget.check()
    Budget(None).check()


async def test_rewrite_that_drops_a_variable_is_rejected(home):
    dropped = "<prompt>Summarize the article for a busy reader.</prompt>\nChanges: simpler."
    svc = make_service([judge_reply(5), "critique", dropped])
    try:
        result = await svc.optimize(prompt=SEED, task="summarize", max_iterations=1, provider="scripted")
        assert any("dropped {article}; rejected" in e for e in result.events)
        assert len(result.steps) == 1 and result.stop_reason == "converged"
        rewrite_call = [c for c in svc.registry.get("scripted").calls if c.metadata.get("task") == "rewrite"][0]
        assert "Keep these template variables exactly as written: {article}" in rewrite_call.messages[-1].content
    finally:
        await svc.aclose()


async def test_optimizing_a_stored_prompt_links_to_it(home):
    svc = make_service(["You are a writer. Summarize {article} briefly."])
    generated = await svc.generate(svc.build_request("summarize {article}", phases="coagulatio", count=1))
    await svc.aclose()
    seed_id = generated.prompts[0].id
    svc = make_service(script(1, [5, 6]))
    try:
        before = svc.store.count_prompts()
        result = await svc.optimize(prompt_id=seed_id, task="summarize", max_iterations=1, provider="scripted")
        assert result.seed.prompt_id == seed_id
        assert svc.store.count_prompts() == before + 1  # the seed is not stored twice
        assert svc.store.get_prompt(result.best.prompt_id).parent_id == seed_id
    finally:
        await svc.aclose()


async def test_examples_mode_scores_held_out_only_and_shows_propose_examples(home, tmp_path):
    lines = [{"input": f"propose-{i}", "expected": "cold", "split": "propose"} for i in range(4)]
    lines += [{"input": f"heldout-{i}", "expected": "cold" if i < 3 else "warm", "split": "heldout"} for i in range(4)]
    path = tmp_path / "ex.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    svc = make_service(["cold"])  # the task model always answers "cold"
    try:
        result = await svc.optimize(
            prompt="Give the antonym of the word.",
            task="antonyms",
            examples_path=path,
            metric="accuracy",
            provider="scripted",
            task_provider="scripted",
            max_iterations=1,
        )
        assert result.metric == "accuracy" and result.examples == {"propose": 4, "heldout": 4}
        assert result.seed.evaluation.n == 4 and result.seed.score == 0.75
        assert result.seed.evaluation.ci_low < 0.75 < result.seed.evaluation.ci_high
        calls = svc.registry.get("scripted").calls
        proposing = [c for c in calls if c.metadata.get("task") in ("critique", "rewrite")]
        assert proposing
        text = "\n".join(m.content for c in proposing for m in c.messages)
        assert "propose-" in text and "heldout-" not in text
        demo = next(s for s in result.steps if s.method == "examples")
        assert "Examples:\nInput: propose-" in demo.content and "heldout-" not in demo.content
    finally:
        await svc.aclose()


@pytest.mark.sqlite_only("no library: parsing and text assembly")
def test_proposal_parsing_and_demonstrations():
    assert parse_proposal("<prompt>\nNew text {x}\n</prompt>\nChanges: tightened.") == ("New text {x}", "tightened.")
    assert parse_proposal("Here is the improved prompt:\nDo it well.\n\nChanges: clarified")[0] == "Do it well."
    out = add_demonstrations("Translate {input} to French.", [("cat", "chat")])
    assert out == "Examples:\nInput: cat\nOutput: chat\n\nTranslate {input} to French."
    twice = add_demonstrations(add_demonstrations("Antonym?", [("hot", "cold")]), [("up", "down")])
    assert twice == "Antonym?\n\nExamples:\nInput: hot\nOutput: cold\nInput: up\nOutput: down\n"


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.sqlite_only("no library: reading examples files")
def test_examples_file_errors_name_the_line(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="is empty"):
        load_examples(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "expected": "b"}\n\n{"input": "c", "expected": \n')
    with pytest.raises(InputError, match="line 3: not valid JSON"):
        load_examples(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"input": "a", "expected": "b"}\n{"input": "c"}\n')
    with pytest.raises(InputError, match='line 2: "expected" must be a non-empty string'):
        load_examples(missing)
    regex = tmp_path / "regex.jsonl"
    regex.write_text('{"input": "a", "expected": "(", "match": "regex"}\n')
    with pytest.raises(InputError, match='line 1: "expected" is not a valid regex'):
        load_examples(regex)
    one = tmp_path / "one.jsonl"
    one.write_text('{"input": "a", "expected": "b"}\n')
    with pytest.raises(InputError, match="at least one propose and one held-out"):
        split_examples(load_examples(one))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--prompt", "Do X."], "--task is required"),
        (["--task", "t"], "a prompt ID or --prompt"),
        (["deadbeef", "--task", "t"], "no prompt with id 'deadbeef'"),
        (["--prompt", "Do X.", "--task", "t", "--target-score", "1.5"], "--target-score must be"),
        (["--prompt", "Do X.", "--task", "t", "--target-score", "0"], "--target-score must be"),
        (["--prompt", "Do X.", "--task", "t", "--max-iterations", "0"], "--max-iterations must be between 1 and 20"),
        (["--prompt", "Do X.", "--task", "t", "--max-cost", "-1"], "--max-cost must be a positive"),
        (["--prompt", "Do X.", "--task", "t", "--metric", "loglik"], "needs --examples"),
        (["--prompt", "Do X.", "--task", "t", "--examples", "EMPTY"], "is empty"),
        (["--prompt", "Do X.", "--task", "t", "--examples", "BAD"], "line 2: not valid JSON"),
        (["--prompt", "Do X.", "--task", "t", "--examples", "MISSING"], "cannot read examples file"),
    ],
)
def test_optimize_bad_input_exit_2_and_nothing_stored(cli, home, backend, tmp_path, write_config, args, message):
    write_config(
        yaml.safe_dump(
            {"ranking": {"judge_provider": "scripted"}, "providers": {"scripted": {"responses": [judge_reply(5)]}}}
        )
    )
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"input": "a", "expected": "b"}\nnot json\n')
    files = {
        "EMPTY": str(tmp_path / "empty.jsonl"),
        "BAD": str(tmp_path / "bad.jsonl"),
        "MISSING": str(tmp_path / "missing.jsonl"),
    }
    proc = cli("optimize", *[files.get(a, a) for a in args], "--provider", "scripted")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    if backend == "postgres" or (home / "prompts.db").exists():  # a SQLite library may not have been created
        assert library_rows(home, "SELECT COUNT(*) AS n FROM prompts")[0]["n"] == 0


def test_optimize_cli_text_and_json(cli, home, write_config):
    write_config(
        yaml.safe_dump(
            {
                "phases": {"coagulatio": {"provider": "scripted"}},
                "ranking": {"judge_provider": "scripted"},
                "providers": {"scripted": {"responses": script(2, [5, 6, 8])}},
            }
        )
    )
    proc = cli(
        "optimize", "--prompt", SEED, "--task", "summarize an article", "--max-iterations", "2", "--output", "json"
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["stop_reason"] == "max_iterations" and data["best"]["score"] == 0.8
    assert data["seed"]["score"] == 0.5 and len(data["steps"]) == 3 and data["metric"] == "judge"
    text = cli("optimize", "--prompt", SEED, "--task", "summarize an article", "--max-iterations", "2")
    assert text.returncode == 0, text.stderr
    for needle in ("before: 0.500", "after:  0.800", "what changed and why", "diff (seed → best)", "best prompt"):
        assert needle in text.stdout
    assert library_rows(home, "SELECT COUNT(*) AS n FROM prompts WHERE source_type = 'optimized'")[0]["n"] == 6


async def test_an_optimization_run_appends_one_audit_row_naming_what_it_stored(home):
    svc = make_service(script(2, [5, 6, 7]))
    try:
        result = await svc.optimize(prompt=SEED, task="summarize an article", max_iterations=2, provider="scripted")
        rows = await svc.list_audit(action="optimize")
        assert len(rows) == 1 and rows[0]["actor"] == "local" and rows[0]["outcome"] == "ok"
        assert set(rows[0]["targets"]) == {s.prompt_id for s in result.steps}
        assert "iterations=2" in rows[0]["detail"]
        await svc.optimize(prompt=SEED, task="summarize an article", max_iterations=1, provider="scripted", save=False)
        assert len(await svc.list_audit(action="optimize")) == 1  # nothing stored, nothing recorded
    finally:
        await svc.aclose()
