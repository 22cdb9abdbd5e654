"""Embeddings through a generation provider's embedding API (OpenAI, Google, Ollama ...)."""

from __future__ import annotations

from prompt_alchemy.embeddings.base import normalize
from prompt_alchemy.errors import ProviderError


class ProviderEmbedder:
    def __init__(self, provider, model: str, dimensions: int) -> None:
        self._provider = provider
        self.provider = provider.name
        self.model = model
        self.dimensions = dimensions

    def unavailable_reason(self) -> str | None:
        if not self._provider.supports_embeddings():
            return f"provider '{self.provider}' does not produce embeddings"
        return self._provider.unavailable_reason()

    async def embed(self, texts: list[str]):
        import numpy as np

        vectors = await self._provider.embed(texts, model=self.model, dimensions=self.dimensions)
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dimensions:
            raise ProviderError(
                self.provider,
                f"embedding model {self.model} returned vectors of shape "
                f"{matrix.shape}, expected {self.dimensions} dimensions",
            )
        return normalize(matrix)
