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
from typing import TYPE_CHECKING, Any

from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse
from prompt_alchemy.security import known_secrets

if TYPE_CHECKING:
    from prompt_alchemy.storage.base import CacheStore

log = get_logger("providers.cache")


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def response_key(provider: str, endpoint: str | None, model: str, request: GenerationRequest) -> str:
    return _digest(
        {
            "provider": provider,
            "endpoint": endpoint or "",
            "model": model,
            "messages": [[m.role, m.content] for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "seed": request.seed,
            "stop": list(request.stop or []),
        }
    )


def embedding_key(provider: str, model: str, dimensions: int | None, text: str) -> str:
    return _digest(
        {
            "provider": provider,
            "model": model,
            "dimensions": dimensions,
            "text": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
    )


def _contains_secret(text: str) -> bool:
    return any(secret in text for secret in known_secrets())


class ResponseCache:
    """Keys, expiry and secret checks for cached answers and vectors; the rows live in the store."""

    def __init__(self, store: CacheStore, ttl_seconds: float, *, clock=time.time) -> None:
        self.store = store
        self.ttl = float(ttl_seconds)
        self._clock = clock
        self._purged = False

    # ------------------------------------------------------------------ generations

    def get(self, key: str) -> GenerationResponse | None:
        payload = self.store.cached_response(key, self._clock())
        if payload is None:
            return None
        data = json.loads(payload)
        return GenerationResponse(
            text=data["text"],
            provider=data["provider"],
            model=data["model"],
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            finish_reason=data.get("finish_reason"),
            cached=True,
        )

    def put(self, key: str, response: GenerationResponse) -> bool:
        """Store an answer; returns False (and stores nothing) when it contains a secret."""
        if _contains_secret(response.text) or _contains_secret(response.model):
            log.warning("a %s answer contained a configured secret; it was not cached", response.provider)
            return False
        now = self._clock()
        payload = json.dumps(
            {
                "text": response.text,
                "provider": response.provider,
                "model": response.model,
                "input_tokens": response.input_tokens,
                "output_tokens": response.output_tokens,
                "finish_reason": response.finish_reason,
            },
            ensure_ascii=False,
        )
        self.store.cache_response(
            key, response.provider, response.model, payload, now, now + self.ttl, purge_expired=not self._purged
        )
        self._purged = True
        return True

    # ------------------------------------------------------------------ embeddings

    def get_embeddings(
        self, provider: str, model: str, dimensions: int | None, texts: Sequence[str]
    ) -> list[list[float] | None]:
        import numpy as np

        keys = [embedding_key(provider, model, dimensions, t) for t in texts]
        found = self.store.cached_vectors(keys, self._clock())
        return [np.frombuffer(found[k], dtype=np.float32).tolist() if k in found else None for k in keys]

    def put_embeddings(
        self,
        provider: str,
        model: str,
        dimensions: int | None,
        texts: Sequence[str],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        import numpy as np

        now = self._clock()
        self.store.cache_vectors(
            [
                (
                    embedding_key(provider, model, dimensions, t),
                    provider,
                    model,
                    len(v),
                    np.asarray(v, dtype=np.float32).tobytes(),
                    now,
                    now + self.ttl,
                )
                for t, v in zip(texts, vectors)
            ]
        )

    # ------------------------------------------------------------------ housekeeping

    def stats(self) -> dict[str, int]:
        return self.store.cache_stats(self._clock())

    def clear(self) -> int:
        return self.store.clear_cache()
