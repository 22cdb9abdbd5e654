"""Search under concurrency: query vectors cached and batched, read caches that follow every write (from this
connection or another process's), and concurrent searches answering exactly what sequential ones do."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from prompt_alchemy.embeddings.local import LocalEmbedder
from prompt_alchemy.embeddings.query import QueryEmbedder
from prompt_alchemy.models import Phase, Prompt, SearchFilters
from prompt_alchemy.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.usefixtures("backend")

TEXTS = [
    "pretend to be a unix shell",
    "a travel guide for rome",
    "review my python code for bugs",
    "write a cover letter",
    "explain quantum physics to a child",
    "a chess opponent",
]


class CountingEmbedder(LocalEmbedder):
    """The real local embedder, recording the batches it is called with."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def embed(self, texts: list[str]):
        self.batches.append(list(texts))
        return await super().embed(texts)


@pytest.fixture
def embedder():
    emb = CountingEmbedder()
    if emb.unavailable_reason():
        pytest.skip(emb.unavailable_reason())
    return emb


async def test_concurrent_queries_are_batched_and_equal_to_single_embeddings(embedder):
    queries = QueryEmbedder(embedder)
    vectors = await asyncio.gather(*(queries.embed(t) for t in TEXTS))
    assert [sorted(b) for b in embedder.batches] == [sorted(TEXTS)]  # arrived together: one model call
    first = asyncio.ensure_future(queries.embed("a lone query"))
    await asyncio.sleep(0.001)  # the model is busy with it...
    later = await asyncio.gather(*(queries.embed(f"then {t}") for t in TEXTS))  # ...so these queue up together
    await first
    assert [sorted(b) for b in embedder.batches[1:]] == [["a lone query"], sorted(f"then {t}" for t in TEXTS)]
    vectors += later
    for text, vector in zip(TEXTS + [f"then {t}" for t in TEXTS], vectors):
        np.testing.assert_allclose(vector, embedder.embed_sync([text])[0], atol=1e-6)


async def test_repeated_query_comes_from_the_cache_and_the_cache_is_bounded(embedder):
    queries = QueryEmbedder(embedder, cache_size=2)
    first = await queries.embed(TEXTS[0])
    again = await queries.embed(TEXTS[0])
    assert again is first and len(embedder.batches) == 1
    assert not first.flags.writeable  # shared between callers: nobody may change it
    await queries.embed(TEXTS[1])
    await queries.embed(TEXTS[2])  # evicts TEXTS[0], the least recently used
    await queries.embed(TEXTS[0])
    assert embedder.batches[-1] == [TEXTS[0]] and len(embedder.batches) == 4


async def test_a_cancelled_caller_does_not_cancel_the_others(embedder):
    queries = QueryEmbedder(embedder)
    busy = asyncio.ensure_future(queries.embed(TEXTS[0]))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(queries.embed(TEXTS[1])) for _ in range(2)]
    await asyncio.sleep(0)
    waiting[0].cancel()
    vector = await waiting[1]
    await busy
    np.testing.assert_allclose(vector, embedder.embed_sync([TEXTS[1]])[0], atol=1e-6)


def _prompt(content: str, tag: str) -> Prompt:
    return Prompt(content=content, phase=Phase.COAGULATIO, provider="scripted", tags=[tag])


def test_filter_cache_follows_writes_from_this_and_other_connections(tmp_path):
    path = tmp_path / "lib.db"
    store, other = SQLiteStore(path), SQLiteStore(path)
    try:
        store.save_prompts([_prompt("alpha", "x")])
        filters = SearchFilters(tags=["x"])
        assert len(store.filter_ids(filters)) == 1
        before = store.generation()
        store.save_prompts([_prompt("beta", "x")])  # this store's own connection
        assert store.generation() != before
        assert len(store.filter_ids(filters)) == 2
        other.save_prompts([_prompt("gamma", "x")])  # another connection, as another process would
        third = store.filter_ids(filters)
        assert len(third) == 3
        other.delete_prompts([sorted(third)[0]])
        assert store.filter_ids(filters) == third - {sorted(third)[0]}
    finally:
        store.close()
        other.close()


def test_in_memory_store_searches_through_its_one_connection():
    store = SQLiteStore(":memory:")
    try:
        store.save_prompts([_prompt("a unix shell that prints output", "x")])
        assert len(store.search_text("unix shell")) == 1
        assert len(store.filter_ids(SearchFilters(tags=["x"]))) == 1
        store.save_prompts([_prompt("another unix tool", "x")])
        assert len(store.filter_ids(SearchFilters(tags=["x"]))) == 2
    finally:
        store.close()


async def test_concurrent_searches_answer_what_sequential_ones_do(service):
    if service.embedder.unavailable_reason():
        pytest.skip(service.embedder.unavailable_reason())
    contents = [f"{t} with clear steps and examples number {i}" for i, t in enumerate(TEXTS * 4)]
    vectors = service.embedder.embed_sync(contents)
    service.store.save_prompts(
        [
            Prompt(
                content=c,
                phase=Phase.COAGULATIO,
                provider="scripted",
                tags=[f"t{i % 2}"],
                embedding=v.tolist(),
                embedding_model=service.embedder.model,
                embedding_provider=service.embedder.provider,
                embedding_dim=service.embedder.dimensions,
            )
            for i, (c, v) in enumerate(zip(contents, vectors))
        ]
    )
    calls = [
        (q, mode, f)
        for q in TEXTS
        for mode in ("text", "semantic", "hybrid")
        for f in (None, SearchFilters(tags=["t1"]))
    ]

    def shape(results):
        return [(r.prompt.id, round(r.score, 6), r.text_rank, r.semantic_rank) for r in results]

    sequential = [shape(await service.search(q, mode=m, filters=f, limit=5)) for q, m, f in calls]
    service.library.query_embedder._cache.clear()  # the concurrent pass embeds again, in batches
    concurrent = await asyncio.gather(*(service.search(q, mode=m, filters=f, limit=5) for q, m, f in calls))
    assert [shape(r) for r in concurrent] == sequential
    assert all(s for s, (_, _, f) in zip(sequential, calls) if f is None)
    assert len({s[0][0] for s in sequential if s}) > 3  # different queries find different prompts
    # filtered searches only return prompts tagged t1
    for (_query, _mode, f), results in zip(calls, concurrent):
        if f is not None:
            assert all("t1" in r.prompt.tags for r in results)


async def test_a_repeated_search_answers_from_the_cached_vector_what_the_first_did(service):
    if service.embedder.unavailable_reason():
        pytest.skip(service.embedder.unavailable_reason())
    contents = [f"{t}, step by step" for t in TEXTS]
    vectors = service.embedder.embed_sync(contents)
    service.store.save_prompts(
        [
            Prompt(
                content=c,
                embedding=v.tolist(),
                embedding_model=service.embedder.model,
                embedding_provider=service.embedder.provider,
                embedding_dim=service.embedder.dimensions,
            )
            for c, v in zip(contents, vectors)
        ]
    )

    def shape(results):
        return [(r.prompt.id, r.score, r.text_rank, r.semantic_rank, r.similarity) for r in results]

    for mode in ("hybrid", "semantic"):
        service.library.query_embedder.clear()
        first = shape(await service.search("a unix shell to pretend with", mode=mode, limit=4))
        calls = service.library.query_embedder.calls
        again = shape(await service.search("a unix shell to pretend with", mode=mode, limit=4))
        assert service.library.query_embedder.calls == calls  # the vector came from the cache
        assert again == first and len(first) == 4
