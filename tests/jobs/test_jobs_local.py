"""Jobs without workers: the SQLite in-process path through the real CLI, and the item runner's exactly-once rules
on both databases (an item stored by a run that died before recording it; two runners of one item at once)."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from testkit import SCRIPTED

SCRIPTED_ENV = {**SCRIPTED, "PROMPT_ALCHEMY_GENERATION__EMBEDDING_PROVIDER": "scripted"}


def test_sqlite_batch_async_runs_in_process_as_a_job(cli, home, tmp_path):
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("a haiku about rain\na limerick about tea\na riddle about clocks\n", encoding="utf-8")
    proc = cli("batch", str(ideas), "--count", "1", "--async", "--output", "json", env=SCRIPTED_ENV)
    assert proc.returncode == 0, proc.stderr
    submitted = json.loads(proc.stdout)
    assert submitted["status"] == "succeeded" and submitted["progress"]["done"] == 3
    job = submitted["job"]

    shown = json.loads(cli("jobs", "show", str(job), "--items", "-o", "json", env=SCRIPTED_ENV).stdout)
    assert shown["status"] == "succeeded" and shown["kind"] == "batch"
    sessions = {item["result"]["session_id"] for item in shown["items"]}
    with sqlite3.connect(home / "prompts.db") as db:
        stored = dict(db.execute("SELECT session_id, COUNT(*) FROM prompts GROUP BY session_id").fetchall())
    assert set(stored) == sessions and set(stored.values()) == {3}
    assert not (tmp_path / "ideas.txt.results.jsonl").exists()  # a job keeps its results in the job records

    listed = json.loads(cli("jobs", "list", "-o", "json", env=SCRIPTED_ENV).stdout)
    assert [j["job"] for j in listed["jobs"]] == [job]
    refused = cli("jobs", "cancel", str(job), env=SCRIPTED_ENV)
    assert refused.returncode == 2 and "succeeded already" in refused.stderr
    missing = cli("jobs", "show", "999", env=SCRIPTED_ENV)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no job 999")
    bad = cli("jobs", "list", "--status", "done", env=SCRIPTED_ENV)
    assert bad.returncode == 2 and "unknown job status" in bad.stderr


def test_sqlite_failed_job_is_retried_without_redoing_stored_items(cli, home, tmp_path):
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text(
        '{"idea": "first idea"}\n{"idea": "second idea", "provider": "nowhere-provider"}\n', encoding="utf-8"
    )
    refused = cli("batch", str(ideas), "--async", "-o", "json", env=SCRIPTED_ENV)
    assert refused.returncode == 2 and "batch item 2" in refused.stderr  # bad input: no job is created
    assert json.loads(cli("jobs", "list", "-o", "json", env=SCRIPTED_ENV).stdout)["count"] == 0

    ideas.write_text('{"idea": "first idea"}\n{"idea": "second idea"}\n', encoding="utf-8")
    failing = {**SCRIPTED_ENV, "PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__FAIL_PHASES": '["solutio"]'}
    proc = cli("batch", str(ideas), "--count", "1", "--async", "-o", "json", env=failing)
    assert proc.returncode == 1
    job = json.loads(proc.stdout)
    assert job["status"] == "failed" and job["progress"]["failed"] == 2

    retried = cli("jobs", "retry", str(job["job"]), "-o", "json", env=SCRIPTED_ENV)
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "succeeded"
    with sqlite3.connect(home / "prompts.db") as db:
        assert db.execute("SELECT COUNT(DISTINCT session_id), COUNT(*) FROM prompts").fetchone() == (2, 6)


@pytest.fixture
def jobs_service(backend):
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(
        overrides={
            **{f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")},
            "generation.embedding_provider": "scripted",
        }
    )
    yield svc
    asyncio.run(svc.aclose())


def _submit_without_running(svc, ideas):
    """Job records for a batch, with nothing run yet (as a queue holds them before a worker takes them)."""
    from prompt_alchemy.models import BatchItem, BatchOptions

    plan = svc.batch.plan([BatchItem(idea=i) for i in ideas], defaults=BatchOptions(count=1))
    rows = [(j.key, j.index, {"request": j.request.model_dump(mode="json")}) for j in plan]
    return svc.jobs.records.create("batch", {"items": len(rows)}, rows), [j.key for j in plan]


def test_an_item_stored_by_a_run_that_died_is_recovered_not_stored_again(jobs_service):
    from prompt_alchemy.models import PromptRequest
    from prompt_alchemy.services.jobs import item_session_id

    svc = jobs_service
    job_id, keys = _submit_without_running(svc, ["an idea stored before its worker died"])

    async def scenario():
        # the earlier run stored the prompts under the item's session id, then died before recording the item
        request = PromptRequest.model_validate(svc.jobs.records.item(job_id, keys[0]).payload["request"])
        await svc.generation.generate(request, session_id=item_session_id(job_id, keys[0]))
        svc.jobs.records.start_item(job_id, keys[0])  # it was running when it died
        await svc.jobs.run_item(job_id, keys[0])  # the retry
        return await svc.jobs.show(job_id, items=True)

    info = asyncio.run(scenario())
    assert info.status == "succeeded" and info.items[0].attempts == 2
    stored = svc.store.list_prompts(session_id=item_session_id(job_id, keys[0]))
    assert len(stored) == 3 and info.items[0].result["prompt_ids"] == [p.id for p in stored]
    assert svc.store.count_prompts() == 3


def test_two_runners_of_one_item_store_it_once(jobs_service, monkeypatch):
    svc = jobs_service
    monkeypatch.setattr(svc.settings.providers.scripted, "latency", 0.2, raising=False)
    job_id, keys = _submit_without_running(svc, ["one idea, two workers"])

    async def both():
        await asyncio.gather(svc.jobs.run_item(job_id, keys[0]), svc.jobs.run_item(job_id, keys[0]))
        return await svc.jobs.show(job_id, items=True)

    info = asyncio.run(both())
    assert info.status == "succeeded" and info.items[0].attempts == 1
    assert svc.store.count_prompts() == 3


def test_sqlite_generate_and_train_async_are_jobs(cli):
    proc = cli("generate", "a haiku about queues", "--count", "2", "--async", "-o", "json", env=SCRIPTED_ENV)
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    assert job["kind"] == "generate" and job["status"] == "succeeded" and len(job["result"]["prompt_ids"]) == 6
    kinds = [j["kind"] for j in json.loads(cli("jobs", "list", "-o", "json", env=SCRIPTED_ENV).stdout)["jobs"]]
    assert kinds == ["generate"]


def test_bad_options_of_async_commands_are_refused_at_submit(cli, home):
    """Checked at submit by the code the synchronous command runs: one error line, exit 2, and no job."""
    refusals = [
        (("optimize", "--prompt", "Add.", "--task", "add", "--max-iterations", "0"), "--max-iterations"),
        (("optimize", "no-such-prompt", "--task", "add"), "no-such-prompt"),
        (("train",), "at least"),  # too little feedback
    ]
    for args, named in refusals:
        proc = cli(*args, "--async", "-o", "json", env=SCRIPTED_ENV)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], (args, proc.stderr)
        assert proc.stdout == ""
    assert json.loads(cli("jobs", "list", "-o", "json", env=SCRIPTED_ENV).stdout)["count"] == 0
    assert not (home / "prompts.db").exists() or sqlite3.connect(home / "prompts.db").execute(
        "SELECT COUNT(*) FROM prompts"
    ).fetchone() == (0,)
