"""Import and export on small files: formats, malformed rows by line, duplicates, lineage order, precomputed
embeddings, round trip, overwrite protection, batch atomicity, metrics and maintenance."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from datetime import timedelta

import pytest

from prompt_alchemy.errors import InputError
from prompt_alchemy.models import Prompt, SearchFilters, utcnow

pytestmark = pytest.mark.usefixtures("backend")


def _rows_of(service):
    return {p.id: p for p in service.store.iter_prompts()}


async def test_jsonl_import_reports_malformed_rows_by_line(service, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"content": "good one", "tags": "a, b"}),
                "{not json",
                json.dumps({"title": "no content"}),
                "",
                json.dumps(["not", "an", "object"]),
                json.dumps({"content": "bad phase", "phase": "fermentation"}),
                json.dumps({"content": "vector without model", "embedding": [0.1, 0.2]}),
                json.dumps({"content": "good one"}),  # duplicate by content
                json.dumps({"content": "  good two  ", "phase": "precision"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    report = await service.import_prompts(path)
    assert (report.rows, report.imported, report.duplicates, report.failed) == (8, 2, 1, 5)
    lines = [e.split(":")[0] for e in report.errors]
    assert lines == ["line 2", "line 3", "line 5", "line 6", "line 7"]
    assert "phase" in report.errors[3]
    stored = {p.content: p for p in await service.list_prompts()}
    assert set(stored) == {"good one", "  good two  "}  # content is kept exactly as given
    assert stored["good one"].tags == ["a", "b"] and stored["good one"].source_type == "imported"
    assert stored["  good two  "].phase.value == "coagulatio"


async def test_csv_formats_and_bad_files(service, tmp_path):
    awesome = tmp_path / "awesome.csv"
    awesome.write_text(
        'act,prompt,for_devs\nLinux Terminal,"I want you to act as a linux terminal.\nReply '
        'with output.",TRUE\n,,\nBroken,"x"\nChef,"Suggest recipes",FALSE\n',
        encoding="utf-8",
    )
    report = await service.import_prompts(awesome)
    assert (report.imported, report.failed) == (2, 1)
    assert report.errors == ["line 5: expected 3 fields, found 2"]  # counted from the row's first line
    chef = next(p for p in await service.list_prompts() if p.title == "Chef")
    assert chef.tags == ["Chef"] and chef.content == "Suggest recipes"

    generic = tmp_path / "generic.csv"
    generic.write_text('content,title,tags\nHello there,Greeting,"x,y"\n', encoding="utf-8")
    assert (await service.import_prompts(generic)).imported == 1
    assert (await service.list_prompts(SearchFilters(tags=["y"])))[0].title == "Greeting"

    nohead = tmp_path / "bad.csv"
    nohead.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="'content' or 'prompt' column"):  # no row can be read: bad input
        await service.import_prompts(nohead)

    broken = tmp_path / "broken.json"
    broken.write_text('[{"content": "x"},', encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        await service.import_prompts(broken)
    with pytest.raises(InputError, match="cannot tell"):
        await service.import_prompts(tmp_path / "prompts.xml")
    with pytest.raises(InputError, match="cannot read"):
        await service.import_prompts(tmp_path / "missing.jsonl")
    assert await service.count_prompts() == 3


@pytest.mark.sqlite_only("imports into a second library by switching PROMPT_ALCHEMY_HOME")
async def test_jsonl_round_trip_reproduces_the_library(service, tmp_path, monkeypatch):
    ctx = tmp_path / "ctx.txt"
    ctx.write_text("context text", encoding="utf-8")
    result = await service.generate(
        service.build_request("a haiku generator", count=2, context_files=[ctx], tags=["poetry"])
    )
    await service.update_prompt(result.prompts[-1].id, content="An edited haiku prompt")
    out = tmp_path / "lib.jsonl"
    count = await service.export_prompts(out, "jsonl")
    assert count == await service.count_prompts() == 7
    original = _rows_of(service)
    contexts = service.store.contexts_for(list(original))

    from prompt_alchemy.services import AlchemyService

    other_home = tmp_path / "other"
    other_home.mkdir()
    monkeypatch.setenv("PROMPT_ALCHEMY_HOME", str(other_home))
    fresh = AlchemyService.from_environment()
    try:
        report = await fresh.import_prompts(out)
        assert (report.imported, report.duplicates, report.failed, report.embedded) == (7, 0, 0, 0)
        copied = _rows_of(fresh)
        assert copied.keys() == original.keys()
        for pid, p in original.items():
            assert copied[pid].model_dump() == p.model_dump(), pid
        assert fresh.store.contexts_for(list(copied)) == contexts
        again = await fresh.import_prompts(out)
        assert (again.imported, again.duplicates) == (0, 7)
    finally:
        await fresh.aclose()


async def test_children_before_parents_and_missing_parents(service, tmp_path):
    rows = [
        {"id": "child-1", "content": "child", "parent_id": "root-1"},
        {"id": "orphan-1", "content": "orphan", "parent_id": "gone-1"},
        {"id": "root-1", "content": "root"},
        {"id": "loop-a", "content": "loop a", "parent_id": "loop-b"},
        {"id": "loop-b", "content": "loop b", "parent_id": "loop-a"},
    ]
    path = tmp_path / "lineage.json"
    path.write_text(json.dumps({"prompts": rows}), encoding="utf-8")
    report = await service.import_prompts(path)
    assert report.imported == 3 and report.failed == 2
    assert sorted(e.split(":")[0] for e in report.errors) == ["item 4", "item 5"]
    assert any("gone-1" in w for w in report.warnings)
    assert (await service.get_prompt("child-1")).parent_id == "root-1"
    assert (await service.get_prompt("orphan-1")).parent_id is None


async def test_export_formats_filters_and_overwrite(service, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"content": "Use ``` fences\ncarefully", "title": "Fences", "tags": ["md"]})
        + "\n"
        + json.dumps({"content": "second prompt", "tags": ["other"]})
        + "\n",
        encoding="utf-8",
    )
    await service.import_prompts(path)
    md = tmp_path / "out.md"
    assert await service.export_prompts(md, None, SearchFilters(tags=["md"])) == 1
    text = md.read_text(encoding="utf-8")
    assert "## Fences" in text and "````\nUse ``` fences\ncarefully\n````" in text
    with pytest.raises(InputError, match="already exists"):
        await service.export_prompts(md, "markdown")
    assert md.read_text(encoding="utf-8") == text  # untouched
    assert await service.export_prompts(md, "markdown", force=True) == 2
    buf = io.StringIO()
    assert await service.export_prompts(buf, "json") == 2
    assert [p["content"] for p in json.loads(buf.getvalue())] == ["Use ``` fences\ncarefully", "second prompt"]
    buf = io.StringIO()
    await service.export_prompts(buf, "txt")
    assert "second prompt" in buf.getvalue() and "{" not in buf.getvalue()
    with pytest.raises(InputError, match="unknown export format"):
        await service.export_prompts(tmp_path / "x.out", "yaml")
    with pytest.raises(InputError, match="does not exist"):
        await service.export_prompts(tmp_path / "nope" / "x.jsonl", "jsonl")
    buf = io.StringIO()
    assert await service.export_prompts(buf, "json", SearchFilters(tags=["none"])) == 0
    assert json.loads(buf.getvalue()) == []


@pytest.mark.sqlite_only("injects sqlite3.IntegrityError")
def test_a_failing_batch_writes_nothing(service):
    a, b = Prompt(content="first of batch"), Prompt(content="second of batch")
    b.id = a.id  # the second insert violates the primary key
    with pytest.raises(sqlite3.IntegrityError):
        service.store.save_prompts([a, b])
    assert asyncio.run(service.count_prompts()) == 0
    assert service.store.stats()["fts_documents"] == 0


async def test_metrics_report(service):
    await service.generate(service.build_request("a study plan for statistics", count=2, persona="analysis"))
    report = await service.metrics_report()
    prompts = report["prompts"]
    assert prompts["total"] == 6
    assert prompts["by_phase"] == {"prima-materia": 2, "solutio": 2, "coagulatio": 2}
    assert prompts["by_provider"] == {"scripted": 6} and prompts["by_persona"] == {"analysis": 6}
    assert sum(prompts["per_day"].values()) == 6
    lat = report["phase_latency_ms"]["solutio"]
    assert lat["count"] == 2 and lat["p50"] is not None and lat["p95"] >= lat["p50"]
    assert report["providers"]["scripted"]["calls"] == 6 and report["providers"]["scripted"]["error_rate"] == 0
    assert report["totals"]["output_tokens"] > 0
    assert report["database"]["database"] > 0
    only = await service.metrics_report(phase="idea")
    assert only["prompts"]["total"] == 2 and list(only["phase_latency_ms"]) == ["prima-materia"]
    assert (await service.metrics_report(since="1d"))["prompts"]["total"] == 6
    assert (await service.metrics_report(provider="openai"))["prompts"]["total"] == 0
    with pytest.raises(InputError):
        await service.metrics_report(since="yesterday-ish")


async def test_backup_prune_and_scheduled_maintenance(service, tmp_path):
    await service.generate(service.build_request("a packing list for hiking", count=1))
    service.settings.storage.max_backups = 2
    made = [await service.backup_database() for _ in range(3)]
    kept = (await service.db_stats())["backups"]
    assert kept == [m["path"] for m in made[1:]] and made[2]["pruned"] == [made[0]["path"]]
    copy = sqlite3.connect(made[-1]["path"])
    assert copy.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 3
    copy.close()
    target = tmp_path / "manual.db"
    await service.backup_database(target)
    with pytest.raises(InputError, match="already exists"):
        await service.backup_database(target)

    service.settings.storage.backup_interval = "1d"
    service.settings.storage.vacuum_interval = "7d"
    start = utcnow() + timedelta(days=1)
    first = await service.run_maintenance_if_due(start)
    assert set(first) == {"backup", "vacuum"}  # vacuum never ran; the last backup was a day ago
    assert await service.run_maintenance_if_due(start + timedelta(hours=2)) == {}
    later = await service.run_maintenance_if_due(start + timedelta(days=1, minutes=1))
    assert set(later) == {"backup"}
    service.store.fts_check()
    assert (await service.migrate_database())["version"] >= 2
