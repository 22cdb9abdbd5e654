"""In-process MCP client tests for optimize_prompt, train_model and learning_status (and the top-rated MCP
prompts that ratings drive), with their error paths. Real SQLite; the scripted provider answers in call order."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from prompt_alchemy.mcp.server import build_server

pytestmark = pytest.mark.usefixtures("backend")


CRITERIA = ["clarity", "specificity", "completeness", "structure", "intent"]
SEED = "Summarize {article} for a busy reader."


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def judge_reply(score: int) -> str:
    return json.dumps(
        {
            "scores": {c: {"score": score, "reasoning": f"{c} could be better"} for c in CRITERIA},
            "summary": f"scored {score}",
        }
    )


def optimizer_script(scores: list[int]) -> list[str]:
    """Seed judgment, then per round: a critique, a rewrite and its judgment."""
    out = [judge_reply(scores[0])]
    for n in range(1, len(scores)):
        out += [
            f"Critique {n}: the prompt does not say how long the summary should be.",
            f"<prompt>\nYou are an editor. Summarize {{article}} in {n + 2} bullet points.\n</prompt>\n"
            f"Changes: round {n} made the length explicit.",
            judge_reply(scores[n]),
        ]
    return out


async def test_optimize_prompt_improves_and_reports_progress(make_service):
    svc = make_service(
        **{"ranking.judge_provider": "scripted", "providers.scripted.responses": optimizer_script([5, 8])}
    )
    messages = []

    async def on_progress(progress, total, message):
        messages.append((progress, message))

    async with Client(build_server(svc)) as client:
        result = await client.call_tool(
            "optimize_prompt",
            {"prompt": SEED, "task": "summarize an article", "max_iterations": 1, "provider": "scripted"},
            progress_callback=on_progress,
        )
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data["improved"] is True and data["metric"] == "judge"
    assert (data["seed"]["score"], data["best"]["score"]) == (0.5, 0.8)
    assert "bullet points" in data["best"]["content"] and data["best"]["content"] in text_of(result)
    assert "Improved" in text_of(result)
    assert [p for p, _ in messages] == list(range(1, len(messages) + 1)) and len(messages) >= 2
    assert svc.store.get_prompt(data["best"]["prompt_id"]).parent_id == data["seed"]["prompt_id"]


async def test_optimize_prompt_errors_change_nothing(service):
    async with Client(build_server(service)) as client:
        for arguments, expected in [
            ({"task": "summarize"}, "give the prompt to optimize"),
            ({"task": "summarize", "prompt": SEED, "id": "abcd1234"}, "give the prompt to optimize"),
            ({"task": "summarize", "prompt": SEED, "metric": "accuracy"}, "needs --examples"),
            ({"task": "summarize", "prompt": SEED, "max_iterations": 21}, "max_iterations"),
            ({"task": "summarize", "prompt": SEED, "examples_file": "ex.jsonl"}, "no examples file 'ex.jsonl'"),
            ({"task": "summarize", "prompt": SEED, "examples_file": "../../etc/passwd"}, "a name, not a path"),
            ({"task": "", "prompt": SEED}, "task"),
            ({"task": "summarize", "id": "ffff0000"}, "no prompt"),
        ]:
            result = await client.call_tool("optimize_prompt", arguments)
            assert result.is_error, arguments
            assert expected in text_of(result), (arguments, text_of(result))
    assert service.store.count_prompts() == 0


def store_rateable_prompts(svc, n: int = 20) -> list[str]:
    """n final prompts with fixed ids (so the learner's seeded validation split is the same on every run)."""
    from prompt_alchemy.models import Phase, Prompt

    prompts = []
    for i in range(n):
        body = f"You are an assistant for task {i}. Explain topic {i} to a new colleague."
        if i % 2:
            body += " Format the answer as a Markdown table with one row per step."
        body += " Give context and examples." * (i % 5)
        prompts.append(
            Prompt(
                id=f"00000000-0000-4000-8000-{i:012d}",
                content=body,
                phase=Phase.COAGULATIO,
                session_id=f"00000000-0000-4000-9000-{i:012d}",
                score=0.5 + i / 100,
                title=f"task {i}",
                provider="scripted",
            )
        )
    svc.store.save_prompts(prompts)
    return [p.id for p in prompts]


async def test_ratings_train_the_model_and_rank_the_mcp_prompts(make_service):
    svc = make_service(**{"learning.min_feedback": 4})
    ids = store_rateable_prompts(svc)
    ratings = [1 + (i % 2) * 2 + (i % 5 > 2) * 2 for i in range(len(ids))]  # table format and length are liked
    async with Client(build_server(svc)) as client:
        early = await client.call_tool("train_model", {})
        assert early.is_error and "feedback" in text_of(early)
        for prompt_id, rating in zip(ids, ratings):
            rated = await client.call_tool("rate_prompt", {"id": prompt_id, "score": rating})
            assert not rated.is_error, text_of(rated)

        listed = [p.description.split(" ")[2] for p in (await client.list_prompts()).prompts]
        five_star = [pid for pid, r in zip(ids, ratings) if r == 5]
        assert set(listed[: len(five_star)]) == set(five_star)  # rated best first, then by score
        assert listed[0] == max(five_star)  # among equal ratings, the higher score

        dry = await client.call_tool("train_model", {"dry_run": True})
        assert not dry.is_error, text_of(dry)
        report = dry.structured_content
        assert report["dry_run"] is True and report["adopted"] is False and report["stored"] is False
        assert report["ratings"] == len(ids) and report["reason"] in text_of(dry)

        real = await client.call_tool("train_model", {})
        assert not real.is_error, text_of(real)
        report = real.structured_content
        assert report["dry_run"] is False and report["trigger"] == "mcp" and report["stored"] is True
        assert ("not adopted" in text_of(real)) != report["adopted"]
        assert (await client.call_tool("train_model", {"dry_run": "perhaps"})).is_error


async def test_a_rated_prompt_without_a_score_is_offered_too(make_service):
    from prompt_alchemy.models import Prompt

    svc = make_service()
    imported = Prompt(content="An imported prompt about tea ceremonies.", source_type="imported")
    svc.store.save_prompts([imported])
    async with Client(build_server(svc)) as client:
        assert (await client.list_prompts()).prompts == []
        assert not (await client.call_tool("rate_prompt", {"id": imported.id, "score": 4})).is_error
        listed = (await client.list_prompts()).prompts
        assert [p.description.split(" ")[2] for p in listed] == [imported.id]
        assert "unscored" in listed[0].description
        got = await client.get_prompt(listed[0].name)
        assert got.messages[0].content.text == imported.content


async def test_learning_status_before_and_after_training(make_service):
    svc = make_service(**{"learning.min_feedback": 4, "learning.schedule": "03:30"})
    ids = store_rateable_prompts(svc, 120)  # enough held-out pairs for a significant gain
    async with Client(build_server(svc)) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "learning_status")
        assert tool.annotations.read_only_hint is True and tool.annotations.destructive_hint is False

        before = await client.call_tool("learning_status", {})
        assert not before.is_error, text_of(before)
        data = before.structured_content
        assert data["active"] is None and data["versions"] == [] and data["last_attempt"] is None
        assert data["enabled"] is True and data["schedule"] == "03:30" and "T03:30" in data["next_run"]
        assert data["feedback"] == {
            "total": 0,
            "ratings": 0,
            "choices": 0,
            "rated_prompts": 0,
            "choice_sessions": 0,
            "needed": 4,
        }
        text = text_of(before)
        assert "active model: none" in text and "training needs 4" in text and "nightly at 03:30" in text

        # this user likes the prompts without an output-format sentence, which the rubric prefers: a model that
        # learns it ranks held-out ratings better than the rubric and is adopted
        for n, prompt_id in enumerate(ids):
            rated = await client.call_tool("rate_prompt", {"id": prompt_id, "score": 5 if n % 2 == 0 else 1})
            assert not rated.is_error, text_of(rated)
        rated_only = (await client.call_tool("learning_status", {})).structured_content
        assert rated_only["feedback"]["ratings"] == 120 and rated_only["feedback"]["rated_prompts"] == 120
        assert rated_only["active"] is None

        trained = await client.call_tool("train_model", {})
        assert not trained.is_error and trained.structured_content["adopted"] is True, text_of(trained)

        after = await client.call_tool("learning_status", {})
        assert not after.is_error, text_of(after)
        data = after.structured_content
        active = data["active"]
        assert active["version"] == 1 and active["active"] is True and active["status"] == "adopted"
        assert active["trigger"] == "mcp" and active["training_size"] == 120
        assert active["metrics"]["validation_accuracy"] > active["metrics"]["current_accuracy"]
        formats = next(f for f in active["top_features"] if f["feature"] == "output_format")
        assert formats["direction"] == "lower"
        assert [(v["version"], v["status"], v["active"]) for v in data["versions"]] == [(1, "adopted", True)]
        assert data["last_attempt"]["detail"] == "v1 adopted"
        text = text_of(after)
        assert "active model: v1 (pairwise-logistic, mcp" in text and "trained on 120 ratings" in text
        assert "- output_format: specifies the output format" in text
        assert "versions: v1 adopted (active)" in text and "last training:" in text


async def test_learning_status_when_learning_is_disabled(make_service):
    svc = make_service(**{"learning.enabled": False})
    async with Client(build_server(svc)) as client:
        result = await client.call_tool("learning_status", {})
        assert not result.is_error, text_of(result)
        assert result.structured_content["enabled"] is False and result.structured_content["next_run"] is None
        assert "learning: disabled · not scheduled" in text_of(result)
