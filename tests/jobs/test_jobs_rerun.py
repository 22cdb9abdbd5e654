"""A job that is run again stores nothing twice: its worker died after storing (the stalled item goes back on the
queue) or `jobs retry` runs it again. On both databases, through the job service's own item runner."""

from __future__ import annotations

import asyncio

import pytest

EXAMPLES = [{"input": f"{n} + {n}", "expected": str(2 * n)} for n in range(6)]


@pytest.fixture
def svc(backend):
    from prompt_alchemy.services import AlchemyService

    service = AlchemyService.from_environment(
        overrides={
            **{f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")},
            "generation.embedding_provider": "scripted",
            "learning.enabled": False,
        }
    )
    yield service
    asyncio.run(service.aclose())


def _optimize_options(**changes):
    options = {
        "prompt": "Add the two numbers.",
        "task": "add two numbers",
        "examples": EXAMPLES,
        "metric": "accuracy",
        "task_provider": "scripted",
        "max_iterations": 2,
    }
    return {**options, **changes}


async def _submitted_not_run(svc, monkeypatch, submit):
    """A job as submit records it, with nothing run yet (as the queue holds it before a worker takes it)."""

    async def hold(job_id, keys, *, wait):
        return None

    with monkeypatch.context() as m:
        m.setattr(svc.jobs, "_dispatch", hold)
        info = await submit()
    return info.job


async def _died_after_storing(svc, job_id, key="main"):
    """A worker takes the item and runs it to the end (storing what it stores), then dies before recording it:
    the item is left running, as the stalled-worker check finds it."""
    records = svc.jobs.records
    item = records.start_item(job_id, key)
    await svc.jobs._execute(records.get(job_id), item)


def _optimized(svc):
    return [p for p in svc.store.list_prompts(limit=1000) if p.source_type == "optimized"]


def test_an_optimize_job_run_again_stores_no_second_candidate_set(svc, monkeypatch):
    async def scenario():
        job = await _submitted_not_run(svc, monkeypatch, lambda: svc.jobs.submit_optimize(_optimize_options()))
        await _died_after_storing(svc, job)
        first = {p.id for p in _optimized(svc)}
        await svc.jobs.run_item(job, "main")  # the retry on another worker
        return job, first, await svc.jobs.show(job, items=True)

    job, first, info = asyncio.run(scenario())
    assert first, "the first run stored nothing: nothing was tested"
    assert info.status == "succeeded" and info.items[0].attempts == 2
    stored = _optimized(svc)
    assert {p.id for p in stored} == first  # nothing stored twice, nothing new
    assert {p.session_id for p in stored} == {info.result["run_id"]}
    assert any("earlier run" in event for event in info.result["events"])


def test_an_optimize_job_that_died_mid_run_goes_on_after_its_stored_rounds(svc, monkeypatch):
    """The earlier run stored the seed and round 1, then died: the re-run does round 2 only."""

    async def scenario():
        job = await _submitted_not_run(svc, monkeypatch, lambda: svc.jobs.submit_optimize(_optimize_options()))
        item = svc.jobs.records.start_item(job, "main")
        options = {**item.payload["options"], "max_iterations": 1}
        await svc.ranking.optimize(**options, run_id=item.payload["run_id"])  # rounds 0 and 1, then it died
        rounds_before = sorted(p.generation_request["optimizer"]["iteration"] for p in _optimized(svc))
        await svc.jobs.run_item(job, "main")
        return rounds_before, await svc.jobs.show(job)

    rounds_before, info = asyncio.run(scenario())
    assert set(rounds_before) == {0, 1}
    stored = _optimized(svc)
    meta = [p.generation_request["optimizer"] for p in stored]
    slots = [(m["iteration"], m["method"]) for m in meta]
    assert len(slots) == len(set(slots)), slots  # no round stored twice
    assert sorted(i for i, _ in slots)[: len(rounds_before)] == rounds_before
    assert info.status == "succeeded" and info.result["iterations"] == 2
    assert {p.session_id for p in stored} == {info.result["run_id"]}
    assert len({p.content for p in stored}) == len(stored)  # a re-run proposes nothing stored already


def test_a_generate_job_run_again_saves_its_prompts_once(svc, monkeypatch):
    async def scenario():
        request = svc.build_request({"idea": "a haiku about retries", "count": 2})
        job = await _submitted_not_run(svc, monkeypatch, lambda: svc.jobs.submit_generate(request))
        await _died_after_storing(svc, job)
        await svc.jobs.run_item(job, "main")
        return await svc.jobs.show(job)

    info = asyncio.run(scenario())
    assert info.status == "succeeded"
    stored = svc.store.list_prompts(limit=1000)
    assert len(stored) == 6 and sorted(info.result["prompt_ids"]) == sorted(p.id for p in stored)


def test_a_train_job_run_again_stores_no_second_model_version(backend, monkeypatch):
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(
        overrides={"generation.embedding_provider": "scripted", "learning.min_feedback": 10}
    )
    good = "Write a clear, specific answer with examples and a numbered list. "
    prompts = [
        Prompt(id=f"p{n:02d}", content=good * (1 + n % 4) if n % 2 else f"do thing {n}", source_type="imported")
        for n in range(30)
    ]
    svc.store.save_session(prompts)

    async def scenario():
        for p in prompts:
            await svc.rate(p.id, 5 if "numbered" in p.content else 1, source="cli")
        job = await _submitted_not_run(svc, monkeypatch, lambda: svc.jobs.submit_train())
        await _died_after_storing(svc, job)
        stored = [m.version for m in svc.store.list_models(limit=10)]
        await svc.jobs.run_item(job, "main")
        return stored, [m.version for m in svc.store.list_models(limit=10)], await svc.jobs.show(job)

    try:
        stored, after, info = asyncio.run(scenario())
    finally:
        asyncio.run(svc.aclose())
    assert len(stored) == 1, "the first run stored no version: nothing was tested"
    assert info.status == "succeeded" and info.result["version"] == stored[0]
    assert after == stored  # no second version
