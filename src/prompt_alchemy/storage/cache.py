"""The response-cache part of both stores: provider answers and embeddings, keyed by a hash of the request,
each with an expiry time (seconds since the epoch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

_CHUNK = 500  # keys per IN (...) query


class CacheRepository:
    """Cached answers and vectors: a part of each store, whose `transaction()` and `query()` it uses. PostgreSQL
    counts a hit and reads the answer in one statement, and reads vectors by `= ANY(array)` (its own methods)."""

    transaction: Callable[[], AbstractContextManager[Any]]
    query: Callable[..., list[Any]]

    def cached_response(self, key: str, now: float) -> str | None:
        """The stored answer (JSON) under `key` if it has not expired; counts the hit."""
        rows = self.query("SELECT response FROM response_cache WHERE key = ? AND expires_at > ?", (key, now))
        if not rows:
            return None
        with self.transaction() as db:
            db.execute("UPDATE response_cache SET hits = hits + 1 WHERE key = ?", (key,))
        return rows[0][0]

    def cache_response(
        self,
        key: str,
        provider: str,
        model: str,
        payload: str,
        now: float,
        expires_at: float,
        *,
        purge_expired: bool = False,
    ) -> None:
        """Store an answer; with `purge_expired`, first drop every expired answer and vector (same transaction)."""
        with self.transaction() as db:
            if purge_expired:
                db.execute("DELETE FROM response_cache WHERE expires_at <= ?", (now,))
                db.execute("DELETE FROM embedding_cache WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO response_cache (key, provider, model, response, created_at, expires_at, hits) "
                "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (key) DO UPDATE SET provider = excluded.provider, "
                "model = excluded.model, response = excluded.response, created_at = excluded.created_at, "
                "expires_at = excluded.expires_at, hits = 0",
                (key, provider, model, payload, now, now if expires_at is None else expires_at),
            )

    def cached_vectors(self, keys: Sequence[str], now: float) -> dict[str, bytes]:
        """The unexpired vectors (float32 bytes) stored under any of `keys`."""
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for key, blob in self.query(
                f"SELECT key, vector FROM embedding_cache WHERE expires_at > ? AND key IN ({marks})", [now, *chunk]
            ):
                found[key] = blob
        return found

    def cache_vectors(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store (key, provider, model, dimensions, vector bytes, created_at, expires_at) rows."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO embedding_cache (key, provider, model, dimensions, vector, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "provider = excluded.provider, model = excluded.model, dimensions = excluded.dimensions, "
                "vector = excluded.vector, created_at = excluded.created_at, "
                "expires_at = excluded.expires_at",
                rows,
            )

    def cache_stats(self, now: float) -> dict[str, int]:
        responses = self.query(
            "SELECT COUNT(*), COALESCE(SUM(hits), 0) FROM response_cache " "WHERE expires_at > ?", (now,)
        )[0]
        embeddings = self.query("SELECT COUNT(*) FROM embedding_cache WHERE expires_at > ?", (now,))[0]
        return {"responses": int(responses[0]), "response_hits": int(responses[1]), "embeddings": int(embeddings[0])}

    def clear_cache(self) -> int:
        """Remove every cached answer and vector; how many rows went."""
        with self.transaction() as db:
            removed = db.execute("DELETE FROM response_cache").rowcount
            removed += db.execute("DELETE FROM embedding_cache").rowcount
        return int(removed)
