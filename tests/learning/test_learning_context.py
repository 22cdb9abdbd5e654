"""`generation.include_context`: the phases get the top-rated library prompts most similar to the idea (by
embedding) as examples; unrated and low-rated prompts never."""

from __future__ import annotations

import asyncio
import json

import pytest
from learning_testkit import library_rows, make_service

pytestmark = pytest.mark.usefixtures("backend")

LIBRARY = {
    "ctx-sql-good": "You are a patient SQL tutor. Explain INNER, LEFT and FULL joins with two small example tables, "
    "then give three practice queries. Format: a Markdown table per example.",
    "ctx-sql-poor": "Teach me SQL joins step by step.",
    "ctx-sql-unrated": "Explain SQL joins and how to write them, with practice queries.",
    "ctx-poem-good": "Write a short poem about autumn leaves falling in a quiet park, in four rhyming stanzas.",
}
RATINGS = {"ctx-sql-good": 5, "ctx-sql-poor": 2, "ctx-poem-good": 5}


def _library(tmp_path):
    service = make_service()
    path = tmp_path / "library.jsonl"
    path.write_text("".join(json.dumps({"id": k, "content": v}) + "\n" for k, v in LIBRARY.items()))
    report = asyncio.run(service.import_prompts(path))
    assert report.imported == 4 and report.embedded == 4
    for pid, score in RATINGS.items():
        asyncio.run(service.rate(pid, score))
    asyncio.run(service.aclose())


def _sent(service) -> str:
    return "\n".join(m.content for call in service.registry.get("scripted").calls for m in call.messages)


def test_top_rated_similar_prompts_are_examples(home, tmp_path):
    _library(tmp_path)
    service = make_service(**{"generation.include_context": True, "generation.context_examples": 1})
    request = service.build_request("teach me SQL joins", count=1)
    result = asyncio.run(service.generate(request))
    sent = _sent(service)
    assert LIBRARY["ctx-sql-good"] in sent
    assert "example from the library: prompt ctx-sql-, rated 5.0/5 (1 ratings)" in sent
    for other in ("ctx-sql-poor", "ctx-sql-unrated", "ctx-poem-good"):
        assert LIBRARY[other] not in sent
    assert any("top-rated similar library prompt" in e for e in result.events)
    asyncio.run(service.aclose())
    rows = [tuple(r.values()) for r in library_rows(home, "SELECT context_type, content FROM prompt_context")]
    assert rows == [("example", LIBRARY["ctx-sql-good"])]


def test_the_rating_threshold_and_example_count_come_from_config(home, tmp_path):
    _library(tmp_path)
    service = make_service(
        **{"generation.include_context": True, "generation.context_min_rating": 2, "generation.context_examples": 3}
    )
    asyncio.run(service.generate(service.build_request("teach me SQL joins", count=1)))
    sent = _sent(service)
    assert LIBRARY["ctx-sql-poor"] in sent and LIBRARY["ctx-sql-good"] in sent
    assert LIBRARY["ctx-sql-unrated"] not in sent
    asyncio.run(service.aclose())


def test_without_include_context_no_examples(home, tmp_path):
    _library(tmp_path)
    service = make_service()
    assert service.settings.generation.include_context is False
    result = asyncio.run(service.generate(service.build_request("teach me SQL joins", count=1)))
    sent = _sent(service)
    assert all(text not in sent for text in LIBRARY.values())
    assert not any("library prompt" in e for e in result.events)
    asyncio.run(service.aclose())


def test_include_context_with_an_empty_library(home):
    service = make_service(**{"generation.include_context": True})
    result = asyncio.run(service.generate(service.build_request("teach me SQL joins", count=1)))
    assert result.saved and not any("library prompt" in e for e in result.events)
    asyncio.run(service.aclose())
    second = make_service(**{"generation.include_context": True})  # a library without ratings
    result = asyncio.run(second.generate(second.build_request("teach me SQL joins", count=1)))
    assert "example from the library" not in _sent(second)
    asyncio.run(second.aclose())
