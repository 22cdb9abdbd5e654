"""The packaged awesome-chatgpt-prompts CSV through the real local embedder: counts, dedup, round trip, and recall@5
of semantic, hybrid and text search on our paraphrase query set (tests/data/library_queries.json).

The CSV is imported once for the module (embedding 846 prompts is the slow part)."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from pathlib import Path

import pytest
from testkit import AWESOME_CSV

pytestmark = pytest.mark.usefixtures("backend")

QUERIES = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "library_queries.json").read_text(encoding="utf-8")
)["queries"]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """(service, import report) over a fresh home holding the imported CSV."""
    from prompt_alchemy.services import AlchemyService

    home = tmp_path_factory.mktemp("csvhome")
    service = AlchemyService.from_environment(env={"PROMPT_ALCHEMY_HOME": str(home)})
    if service.embedder.unavailable_reason():
        pytest.fail(f"the local embedder is required: {service.embedder.unavailable_reason()}")
    report = asyncio.run(service.import_prompts(AWESOME_CSV))
    yield service, report
    asyncio.run(service.aclose())


def test_counts_and_dedup(library):
    service, report = library
    with AWESOME_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    distinct = {r["prompt"].strip() for r in rows}
    assert report.rows == len(rows) == 848
    assert report.imported == len(distinct) == 846
    assert report.duplicates == 2 and report.failed == 0 and report.errors == []
    assert report.embedded == 846 and report.embedding_model == service.embedder.model
    assert asyncio.run(service.count_prompts()) == 846
    stats = asyncio.run(service.db_stats())
    assert stats["fts_documents"] == 846 and stats["without_embedding"] == 0
    terminal = next(p for p in asyncio.run(service.list_prompts(limit=1000)) if p.title == "Linux Terminal")
    assert terminal.tags == ["Linux Terminal"] and terminal.content.startswith("I want you to act as a linux terminal")
    assert terminal.source_type == "imported"


def test_reimport_skips_everything(library):
    service, _ = library
    again = asyncio.run(service.import_prompts(AWESOME_CSV))
    assert (again.imported, again.duplicates, again.embedded) == (0, 848, 0)
    assert asyncio.run(service.count_prompts()) == 846


def _recall(service, mode: str) -> tuple[float, list[str]]:
    async def run():
        hits, misses = 0, []
        for q in QUERIES:
            results = await service.search(q["query"], mode=mode, limit=5)
            if {r.prompt.title for r in results} & set(q["expected"]):
                hits += 1
            else:
                misses.append(q["query"])
        return hits / len(QUERIES), misses

    return asyncio.run(run())


def test_query_set_is_large_enough_and_names_real_prompts():
    with AWESOME_CSV.open(encoding="utf-8", newline="") as fh:
        acts = {r["act"] for r in csv.DictReader(fh)}
    assert len(QUERIES) >= 40
    for q in QUERIES:
        assert set(q["expected"]) <= acts, q
        for title in q["expected"]:  # paraphrases, not titles
            assert not re.search(rf"\b{re.escape(title.lower())}\b", q["query"].lower()), q


def test_semantic_recall_at_5(library):
    recall, misses = _recall(library[0], "semantic")
    assert recall >= 0.85, misses


def test_hybrid_recall_at_5(library):
    recall, misses = _recall(library[0], "hybrid")
    assert recall >= 0.85, misses


def test_text_recall_at_5(library):
    recall, misses = _recall(library[0], "text")
    assert recall >= 0.6, misses  # words alone miss paraphrases; reported by benchmarks/bench_search.py


def test_jsonl_round_trip_of_the_csv_library(library, tmp_path):
    from prompt_alchemy.services import AlchemyService

    service, _ = library
    out = tmp_path / "awesome.jsonl"
    assert asyncio.run(service.export_prompts(out, "jsonl")) == 846
    home = tmp_path / "copy"
    home.mkdir()
    copy = AlchemyService.from_environment(env={"PROMPT_ALCHEMY_HOME": str(home)})
    try:
        report = asyncio.run(copy.import_prompts(out))
        assert (report.imported, report.embedded, report.failed) == (846, 0, 0)
        original = {p.id: p.model_dump() for p in service.store.iter_prompts()}
        copied = {p.id: p.model_dump() for p in copy.store.iter_prompts()}
        assert copied == original
        for mode in ("semantic", "hybrid", "text"):  # the copy answers exactly like the original
            query = "pretend to be a unix shell and show what commands print"
            before = asyncio.run(service.search(query, mode=mode, limit=5))
            after = asyncio.run(copy.search(query, mode=mode, limit=5))
            assert [(r.prompt.id, r.score) for r in after] == [(r.prompt.id, r.score) for r in before], mode
    finally:
        asyncio.run(copy.aclose())
