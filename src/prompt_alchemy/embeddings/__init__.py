"""Text embedders: the local MiniLM ONNX model, and provider-backed embedders."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings
    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.providers.registry import ProviderRegistry


def make_embedder(settings: Settings, registry: ProviderRegistry) -> Embedder:
    """The configured embedder: local MiniLM by default, or a provider's embedding model."""
    gen = settings.generation
    if gen.embedding_provider == "local":
        from prompt_alchemy.embeddings.local import LocalEmbedder

        return LocalEmbedder()
    from prompt_alchemy.embeddings.provider import ProviderEmbedder

    return ProviderEmbedder(registry.get(gen.embedding_provider), gen.embedding_model, gen.embedding_dimensions)
