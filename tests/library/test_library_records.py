"""Records and history through the service: prefix IDs, lineage, versions, delete, filters before ranking, the
vector index kept current on writes, models never mixed, re-embedding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prompt_alchemy.errors import InputError, NotFoundError
from prompt_alchemy.models import Phase, Prompt, SearchFilters

pytestmark = pytest.mark.usefixtures("backend")


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


async def _generate(service, idea, **kw):
    return await service.generate(service.build_request(idea, count=1, **kw))


async def test_prefix_ids_like_git(service, tmp_path):
    rows = [
        {"id": "abcd1111-0000", "content": "first"},
        {"id": "abcd2222-0000", "content": "second"},
        {"id": "ffff0000-9999", "content": "third"},
    ]
    report = await service.import_prompts(_write_jsonl(tmp_path / "p.jsonl", rows))
    assert report.imported == 3
    assert await service.resolve_id("ffff") == "ffff0000-9999"
    assert (await service.get_prompt("abcd2")).content == "second"
    assert await service.resolve_id("abcd1111-0000") == "abcd1111-0000"
    with pytest.raises(NotFoundError) as ambiguous:
        await service.get_prompt("abcd")
    message = str(ambiguous.value)
    assert "ambiguous" in message and "abcd1111-0000" in message and "abcd2222-0000" in message
    assert "\n" not in message
    with pytest.raises(NotFoundError, match="no prompt with id 'beef'"):
        await service.get_prompt("beef")
    with pytest.raises(InputError, match="too short"):
        await service.get_prompt("ab")
    with pytest.raises(InputError):
        await service.get_prompt("  ")


async def test_lineage_of_a_generated_chain(service):
    result = await _generate(service, "a tool that names git branches")
    first, middle, last = result.prompts  # prima-materia -> solutio -> coagulatio
    lineage = await service.lineage(middle.id[:8])
    assert [p.id for p in lineage["ancestors"]] == [first.id]
    assert [p.id for p in lineage["descendants"]] == [last.id]
    assert [p.id for p in (await service.lineage(last.id))["ancestors"]] == [first.id, middle.id]
    assert [p.id for p in (await service.lineage(first.id))["descendants"]] == [middle.id, last.id]


async def test_update_makes_a_linked_reembedded_version_and_history(service):
    result = await _generate(service, "summarize release notes", tags=["release"])
    final = result.prompts[-1]
    v2 = await service.update_prompt(
        final.id[:10],
        content="Summarize the changelog as five bullet points",
        tags=["release", "bullets"],
        notes="shorter",
    )
    assert v2.id != final.id and v2.parent_id == final.id and v2.enhancement_method == "edit"
    assert v2.tags == ["release", "bullets"] and v2.notes == "shorter"
    old = await service.get_prompt(final.id)
    assert old.content == final.content  # the old version is kept unchanged
    stored = await service.get_prompt(v2.id)
    assert stored.embedding_model == service.embedder.model and stored.embedding is not None
    expected = (await service.embedder.embed([stored.content]))[0]
    assert float(np.dot(np.asarray(stored.embedding), expected)) > 0.999
    assert float(np.dot(np.asarray(stored.embedding), np.asarray(old.embedding))) < 0.99
    # the text index follows
    assert [r.prompt.id for r in await service.search("changelog bullet", mode="text")] == [v2.id]
    v3 = await service.update_prompt(v2.id, notes="")  # notes only: same content, vector reused
    assert v3.notes is None and v3.content == v2.content
    assert (await service.get_prompt(v3.id)).embedding == stored.embedding
    for member in (final.id, v2.id, v3.id):
        assert [p.id for p in await service.history(member)] == [final.id, v2.id, v3.id]
    # the phase chain is not mistaken for versions
    assert [p.id for p in await service.history(result.prompts[0].id)] == [result.prompts[0].id]
    with pytest.raises(InputError, match="nothing to update"):
        await service.update_prompt(v3.id)
    with pytest.raises(InputError, match="empty"):
        await service.update_prompt(v3.id, content="   ")
    assert len(await service.history(v3.id)) == 3  # bad input wrote nothing


async def test_delete_removes_vector_context_metrics_and_children_keep_working(service, tmp_path):
    ctx = tmp_path / "notes.txt"
    ctx.write_text("background for the idea", encoding="utf-8")
    result = await service.generate(service.build_request("a quiz about rivers", count=1, context_files=[ctx]))
    first, middle, last = result.prompts
    assert await service.search("quiz rivers", mode="semantic")  # loads the vector index
    index = service.library.vector_index(service.embedder.model, service.embedder.dimensions)
    assert last.id in index
    q = service.store.query
    assert q("SELECT COUNT(*) FROM prompt_context WHERE prompt_id = ?", (first.id,))[0][0] == 1
    assert q("SELECT COUNT(*) FROM metrics WHERE prompt_id = ?", (middle.id,))[0][0] == 1

    await service.delete_prompt(middle.id)
    assert q("SELECT COUNT(*) FROM metrics WHERE prompt_id = ?", (middle.id,))[0][0] == 0
    with pytest.raises(NotFoundError):
        await service.get_prompt(middle.id)
    child = await service.get_prompt(last.id)
    assert child.parent_id == first.id  # relinked over the gap
    assert [p.id for p in (await service.lineage(last.id))["ancestors"]] == [first.id]

    await service.delete_prompt(first.id)
    assert q("SELECT COUNT(*) FROM prompt_context WHERE prompt_id = ?", (first.id,))[0][0] == 0
    assert (await service.get_prompt(last.id)).parent_id is None

    await service.delete_prompt(last.id)
    assert last.id not in index
    assert all(r.prompt.id != last.id for r in await service.search("quiz rivers", mode="semantic"))
    service.store.fts_check()
    with pytest.raises(NotFoundError):
        await service.delete_prompt(last.id)


async def test_generate_updates_a_loaded_index(service):
    first = await _generate(service, "a limerick about databases")
    await service.search("limerick", mode="semantic")
    index = service.library.vector_index(service.embedder.model, service.embedder.dimensions)
    before = len(index)
    second = await _generate(service, "a checklist for reviewing pull requests")
    assert len(index) == before + 1
    hits = await service.search("pull request review checklist", mode="semantic", limit=1)
    assert hits[0].prompt.id == second.prompts[-1].id
    assert first.prompts[-1].id in index


async def test_filters_apply_before_ranking(service, tmp_path):
    rows = [{"content": f"Write a bedtime story about a dragon, version {i}", "tags": ["stories"]} for i in range(30)]
    rows.append({"content": "A dragon appears briefly in this gardening guide", "tags": ["garden"], "phase": "solutio"})
    await service.import_prompts(_write_jsonl(tmp_path / "d.jsonl", rows))
    for mode in ("text", "semantic", "hybrid"):
        unfiltered = await service.search("dragon bedtime story", mode=mode, limit=5)
        assert all("garden" not in r.prompt.tags for r in unfiltered)
        for filters in (SearchFilters(tags=["garden"]), SearchFilters(phase="human")):
            hits = await service.search("dragon bedtime story", mode=mode, filters=filters, limit=5)
            assert [h.prompt.tags for h in hits] == [["garden"]], mode
    assert await service.search("dragon", filters=SearchFilters(provider="nobody")) == []


async def test_vectors_of_other_models_are_never_compared(service, tmp_path):
    rng = np.random.default_rng(0)
    foreign = rng.standard_normal(384).astype(np.float32)
    foreign /= np.linalg.norm(foreign)
    rows = [
        {
            "content": "Translate legal contracts into plain English",
            "embedding": foreign.tolist(),
            "embedding_model": "other-embedder",
            "embedding_provider": "elsewhere",
        },
        {"content": "Plan a weekly vegetarian menu"},
    ]
    report = await service.import_prompts(_write_jsonl(tmp_path / "m.jsonl", rows))
    assert report.imported == 2 and report.embedded == 1
    hits = await service.search("plain english legal contracts", mode="semantic", limit=10)
    assert [h.prompt.content for h in hits] == ["Plan a weekly vegetarian menu"]
    models = {e["model"]: e["prompts"] for e in (await service.db_stats())["embeddings"]}
    assert models == {"other-embedder": 1, service.embedder.model: 1}

    done = await service.reembed()
    assert done["reembedded"] == 1
    hits = await service.search("plain english legal contracts", mode="semantic", limit=1)
    assert hits[0].prompt.content.startswith("Translate legal contracts")
    assert (await service.reembed())["reembedded"] == 0  # nothing left from another model


async def test_search_rejects_bad_input(service):
    for kwargs, message in (({"mode": "fuzzy"}, "unknown search mode"), ({"limit": 0}, "limit")):
        with pytest.raises(InputError, match=message):
            await service.search("x", **kwargs)
    with pytest.raises(InputError, match="empty"):
        await service.search("   ")
    with pytest.raises(InputError):
        await service.list_prompts(limit=0)


async def test_search_result_shape(service):
    result = await _generate(service, "an onboarding email for new engineers", tags=["email"])
    hits = await service.search("onboarding email", limit=3)
    data = hits[0].public_dict()
    assert {"id", "content", "score", "phase", "tags", "created_at"} <= set(data)
    final = result.prompts[-1]
    assert any(h.prompt.id == final.id and h.text_rank and h.semantic_rank for h in hits)
    listed = await service.list_prompts(SearchFilters(phase=Phase.COAGULATIO))
    assert [p.id for p in listed] == [final.id]
    assert isinstance(listed[0], Prompt) and listed[0].embedding is None  # lists skip the vectors


async def test_without_an_embedder_text_still_works(home, tmp_path, caplog):
    from prompt_alchemy.errors import AlchemyError
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(overrides={"generation.embedding_provider": "openai"})  # no key here
    try:
        path = _write_jsonl(tmp_path / "p.jsonl", [{"content": "Draft a polite reminder email"}])
        report = await svc.import_prompts(path)
        assert (report.imported, report.embedded) == (1, 0)
        assert any("without embeddings" in w and "OPENAI_API_KEY" in w for w in report.warnings)
        with pytest.raises(AlchemyError, match="semantic search needs the embedder"):
            await svc.search("reminder email", mode="semantic")
        import logging

        logger = logging.getLogger("prompt_alchemy")
        logger.addHandler(caplog.handler)  # direct, in case an in-process CLI run turned propagation off
        try:
            with caplog.at_level("WARNING", logger="prompt_alchemy"):
                hits = await svc.search("reminder email")  # hybrid falls back to text
        finally:
            logger.removeHandler(caplog.handler)
        assert [h.prompt.content for h in hits] == ["Draft a polite reminder email"]
        assert any("falls back to text" in r.getMessage() for r in caplog.records)
        with pytest.raises(AlchemyError, match="cannot re-embed"):
            await svc.reembed()
    finally:
        await svc.aclose()
