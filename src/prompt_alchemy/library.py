"""The prompt library as it is searched: the store, the embedder and the fusion of their rankings.

Like llm's ``Collection``, a :class:`Library` owns what a search needs: the :class:`Store` (its full-text search,
its vector search, the stored prompts), the embedder that turns text into vectors, and the query-vector cache in
front of it. The App builds it once; the library service validates a request and asks it. Text and vector hits
are fused by reciprocal rank (Cormack et al.), with each list cut to a pool before fusion.
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any

from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import SearchFilters, SearchResult

if TYPE_CHECKING:
    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.embeddings.query import QueryEmbedder
    from prompt_alchemy.storage.base import Store

log = get_logger("library")

SEARCH_MODES = ("hybrid", "semantic", "text")
RRF_K = 60  # reciprocal rank fusion constant
RRF_POOL = 50  # candidates taken from each list before fusion
EMBED_BATCH = 64  # texts per embedder call

Hits = list[tuple[str, float]]


class Library:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    @cached_property
    def embedder_problem(self) -> str | None:
        """Why the embedder cannot run (checked once: it looks for packages and model files), or None."""
        return self.embedder.unavailable_reason()

    @cached_property
    def query_embedder(self) -> QueryEmbedder:
        """Search queries' vectors: cached by (model, text), concurrent queries embedded in one batch."""
        from prompt_alchemy.embeddings.query import QueryEmbedder

        return QueryEmbedder(self.embedder)

    def vector_index(self, model: str | None = None, dimensions: int | None = None):
        """The store's vector space of (model, dimensions), the embedder's by default: its size and membership."""
        return self.store.vector_index(model or self.embedder.model, dimensions or self.embedder.dimensions)

    async def embed_texts(self, texts: list[str]):
        """Unit vectors for `texts`, in length-sorted batches (less padding)."""
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.embedder.dimensions), dtype=np.float32)
        for start in range(0, len(order), EMBED_BATCH):
            chunk = order[start : start + EMBED_BATCH]
            out[chunk] = await self.embedder.embed([texts[i] for i in chunk])
        return out

    async def search(self, query: str, mode: str, filters: SearchFilters, limit: int) -> list[SearchResult]:
        """The top `limit` prompts for a checked query: by words (the store's full-text ranking), by meaning (the
        query embedded by the model of the stored vectors) or both fused. Filters apply before ranking. Without an
        embedder, semantic search is an error and hybrid falls back to words (with a warning)."""
        pool = limit if mode != "hybrid" else max(RRF_POOL, limit * 3)
        embedding = None
        if mode in ("semantic", "hybrid"):
            reason = self.embedder_problem
            vector = self.query_embedder.cached(query) if reason is None else None
            if vector is not None:  # a repeated query: the whole search in one trip to a worker thread
                return await asyncio.to_thread(self._hits, mode, query, vector, filters, pool, None, limit)
            if reason is None:  # the query is embedded (batched with concurrent ones) while the text search runs
                embedding = asyncio.ensure_future(self.query_embedder.embed(query))
            elif mode == "semantic":
                raise AlchemyError(f"semantic search needs the embedder: {reason}")
            else:
                log.warning("hybrid search falls back to text only: %s", reason)
        # The CPU-bound parts run in worker threads (SQLite and numpy release the GIL), so the event loop goes on
        # serving other requests and concurrent searches use every core.
        if embedding is None:  # words only: one trip to a worker thread
            return await asyncio.to_thread(self._hits, mode, query, None, filters, pool, None, limit)
        text_hits: Hits = []
        try:
            if mode == "hybrid":
                text_hits = await asyncio.to_thread(self.store.search_text, query, filters, pool)
        finally:
            vector = await embedding
        return await asyncio.to_thread(self._hits, mode, query, vector, filters, pool, text_hits, limit)

    def _hits(
        self, mode: str, query: str, vector: Any, filters: SearchFilters, pool: int, text_hits: Hits | None, limit: int
    ) -> list[SearchResult]:
        """The text hits (searched here when not given), the vector hits, fused and read for the final top
        `limit`."""
        if text_hits is None:
            text_hits = self.store.search_text(query, filters, pool) if mode != "semantic" else []
        semantic_hits: Hits = []
        if vector is not None:
            semantic_hits = self.store.search_vectors(
                vector, self.embedder.model, self.embedder.dimensions, pool, filters
            )
        return self.fuse(mode, text_hits, semantic_hits, limit)

    def fuse(self, mode: str, text_hits: Hits, semantic_hits: Hits, limit: int) -> list[SearchResult]:
        """One ranking from the text and the vector hits: either list alone, or both by reciprocal rank (ties go
        to the closer meaning); the prompts are read for the final top `limit`."""
        text_rank = {pid: i for i, (pid, _) in enumerate(text_hits, 1)}
        sem_rank = {pid: i for i, (pid, _) in enumerate(semantic_hits, 1)}
        similarity = dict(semantic_hits)
        if mode == "text":
            scored = text_hits
        elif mode == "semantic":
            scored = semantic_hits
        else:
            fused: dict[str, float] = {}
            for ranks in (text_rank, sem_rank):
                for pid, rank in ranks.items():
                    fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank)
            scored = sorted(fused.items(), key=lambda kv: (-kv[1], sem_rank.get(kv[0], 10**9)))
        scored = scored[:limit]
        prompts = self.store.get_prompts([pid for pid, _ in scored])
        return [
            SearchResult(
                prompt=prompts[pid],
                score=score,
                mode=mode,
                text_rank=text_rank.get(pid),
                semantic_rank=sem_rank.get(pid),
                similarity=similarity.get(pid),
            )
            for pid, score in scored
            if pid in prompts
        ]
