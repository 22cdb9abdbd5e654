"""The response cache and the embedding cache, in the library's SQLite database with a TTL.

A generation is keyed by a SHA-256 over (provider, endpoint, model, messages, temperature, max_tokens, seed, stop);
an embedding by (provider, model, dimensions, text). Only the hash of a key and the provider's answer are stored:
no request text, no headers, no keys. An answer that contains a registered secret is never cached.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from prompt_alchemy.observability import get_logger
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse
from prompt_alchemy.security import known_secrets

log = get_logger("providers.cache")


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def response_key(provider: str, endpoint: str | None, model: str, request: GenerationRequest) -> str:
    return _digest({
        "provider": provider, "endpoint": endpoint or "", "model": model,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature, "max_tokens": request.max_tokens, "seed": request.seed,
        "stop": list(request.stop or [])})


def embedding_key(provider: str, model: str, dimensions: int | None, text: str) -> str:
    return _digest({"provider": provider, "model": model, "dimensions": dimensions,
                    "text": hashlib.sha256(text.encode("utf-8")).hexdigest()})


def _contains_secret(text: str) -> bool:
    return any(secret in text for secret in known_secrets())


class ResponseCache:
    """Reads and writes through a store that offers `transaction()` and `query()` (the SQLite store)."""

    def __init__(self, store: Any, ttl_seconds: float, *, clock=time.time) -> None:
        self.store = store
        self.ttl = float(ttl_seconds)
        self._clock = clock
        self._purged = False

    # ------------------------------------------------------------------ generations

    def get(self, key: str) -> GenerationResponse | None:
        now = self._clock()
        rows = self.store.query("SELECT response FROM response_cache WHERE key = ? AND expires_at > ?", (key, now))
        if not rows:
            return None
        with self.store.transaction() as db:
            db.execute("UPDATE response_cache SET hits = hits + 1 WHERE key = ?", (key,))
        data = json.loads(rows[0][0])
        return GenerationResponse(text=data["text"], provider=data["provider"], model=data["model"],
                                  input_tokens=int(data.get("input_tokens", 0)),
                                  output_tokens=int(data.get("output_tokens", 0)),
                                  finish_reason=data.get("finish_reason"), cached=True)

    def put(self, key: str, response: GenerationResponse) -> bool:
        """Store an answer; returns False (and stores nothing) when it contains a secret."""
        if _contains_secret(response.text) or _contains_secret(response.model):
            log.warning("a %s answer contained a configured secret; it was not cached", response.provider)
            return False
        now = self._clock()
        payload = json.dumps({"text": response.text, "provider": response.provider, "model": response.model,
                              "input_tokens": response.input_tokens, "output_tokens": response.output_tokens,
                              "finish_reason": response.finish_reason}, ensure_ascii=False)
        with self.store.transaction() as db:
            if not self._purged:
                db.execute("DELETE FROM response_cache WHERE expires_at <= ?", (now,))
                db.execute("DELETE FROM embedding_cache WHERE expires_at <= ?", (now,))
                self._purged = True
            db.execute("INSERT OR REPLACE INTO response_cache (key, provider, model, response, created_at, "
                       "expires_at, hits) VALUES (?, ?, ?, ?, ?, ?, 0)",
                       (key, response.provider, response.model, payload, now, now + self.ttl))
        return True

    # ------------------------------------------------------------------ embeddings

    def get_embeddings(self, provider: str, model: str, dimensions: int | None,
                       texts: Sequence[str]) -> list[list[float] | None]:
        import numpy as np

        keys = [embedding_key(provider, model, dimensions, t) for t in texts]
        found: dict[str, list[float]] = {}
        now = self._clock()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for key, blob in self.store.query(
                    f"SELECT key, vector FROM embedding_cache WHERE expires_at > ? AND key IN ({marks})",
                    [now, *chunk]):
                found[key] = np.frombuffer(blob, dtype=np.float32).tolist()
        return [found.get(k) for k in keys]

    def put_embeddings(self, provider: str, model: str, dimensions: int | None, texts: Sequence[str],
                       vectors: Sequence[Sequence[float]]) -> None:
        import numpy as np

        now = self._clock()
        rows = [(embedding_key(provider, model, dimensions, t), provider, model, len(v),
                 np.asarray(v, dtype=np.float32).tobytes(), now, now + self.ttl) for t, v in zip(texts, vectors)]
        with self.store.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO embedding_cache (key, provider, model, dimensions, vector, "
                           "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    # ------------------------------------------------------------------ housekeeping

    def stats(self) -> dict[str, int]:
        now = self._clock()
        responses = self.store.query("SELECT COUNT(*), COALESCE(SUM(hits), 0) FROM response_cache "
                                     "WHERE expires_at > ?", (now,))[0]
        embeddings = self.store.query("SELECT COUNT(*) FROM embedding_cache WHERE expires_at > ?", (now,))[0]
        return {"responses": int(responses[0]), "response_hits": int(responses[1]), "embeddings": int(embeddings[0])}

    def clear(self) -> int:
        with self.store.transaction() as db:
            removed = db.execute("DELETE FROM response_cache").rowcount
            removed += db.execute("DELETE FROM embedding_cache").rowcount
        return int(removed)
