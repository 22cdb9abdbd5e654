"""Search-query embeddings: an LRU cache keyed by (model, dimensions, text) in front of the embedder, and
coalescing of concurrent queries into one embedder call.

A server answering many searches at once would otherwise run the model once per query, each call paying the
per-call overhead and fighting the other calls for the cores. Here at most LANES embedder calls run at once (one
per core); a query that arrives while they are all busy waits for one to finish and is then embedded together
with the other queries that arrived meanwhile (up to MAX_BATCH, shortest first: a batch pads to its longest text).
A query that finds a free lane starts at once, so a lone query waits for nothing. Identical concurrent queries are
embedded once, and repeated queries (agents often repeat a search) are answered from the cache.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompt_alchemy.embeddings.base import Embedder

CACHE_SIZE = 2048
MAX_BATCH = 16
#: Embedder calls in flight at once: one per core (up to 2), as a single call barely uses a second core.
LANES = max(1, min(2, os.cpu_count() or 1))


class QueryEmbedder:
    def __init__(
        self, embedder: Embedder, *, cache_size: int = CACHE_SIZE, max_batch: int = MAX_BATCH, lanes: int = LANES
    ) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self.max_batch = max_batch
        self.lanes = lanes
        self._cache: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: dict[str, asyncio.Future[Any]] = {}
        self._running = 0  # embedder calls in flight
        self.calls = 0  # embedder calls made (for tests and benchmarks)

    def _key(self, text: str) -> tuple[str, int, str]:
        return (self.embedder.model, self.embedder.dimensions, text)

    def cached(self, text: str) -> Any | None:
        """The cached unit vector of `text` (read-only), or None."""
        with self._cache_lock:
            vector = self._cache.get(self._key(text))
            if vector is not None:
                self._cache.move_to_end(self._key(text))
            return vector

    def clear(self) -> None:
        """Forget every cached vector."""
        with self._cache_lock:
            self._cache.clear()

    def _remember(self, text: str, vector: Any) -> None:
        vector.setflags(write=False)
        with self._cache_lock:
            self._cache[self._key(text)] = vector
            self._cache.move_to_end(self._key(text))
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    async def embed(self, text: str) -> Any:
        """The unit vector of `text` (a read-only float32 array)."""
        vector = self.cached(text)
        if vector is not None:
            return vector
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (each CLI command runs its own): nothing of the old one is valid
            self._loop, self._queue, self._running = loop, {}, 0
        future = self._queue.get(text)
        if future is None:
            future = self._queue[text] = loop.create_future()
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if nobody waits
            if self._running < self.lanes:
                self._running += 1
                loop.create_task(self._drain())
        # shielded: a caller that gives up must not cancel the result other callers of the same text wait for
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._queue:
                # shortest first, so that a batch pads its texts to a similar length (padding costs model time)
                texts = sorted(self._queue, key=len)[: self.max_batch]
                batch = {text: self._queue.pop(text) for text in texts}
                try:
                    vectors = await self.embedder.embed(texts)
                except BaseException as exc:
                    for future in batch.values():
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                    if not isinstance(exc, Exception):
                        raise
                    continue
                self.calls += 1
                for (text, future), vector in zip(batch.items(), vectors):
                    vector = vector.copy()
                    self._remember(text, vector)
                    if not future.done():
                        future.set_result(vector)
        finally:
            self._running -= 1
            if (
                self._queue and not self._running
            ):  # stopped early (the loop is closing): fail the rest rather than leave them waiting
                for future in self._queue.values():
                    if not future.done():
                        future.cancel()
                self._queue = {}
