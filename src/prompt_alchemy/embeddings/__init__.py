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
    from prompt_alchemy.config import DEFAULT_EMBEDDING_MODELS
    from prompt_alchemy.embeddings.provider import ProviderEmbedder

    # Left at the local default, the model and dimensions become the provider's own (providers.X.embedding_model,
    # else its default with its native dimensions); an explicitly chosen model uses generation.embedding_dimensions.
    model, dimensions = gen.embedding_model, gen.embedding_dimensions
    if model == DEFAULT_EMBEDDING_MODELS["local"][0]:
        default_model, native = DEFAULT_EMBEDDING_MODELS.get(gen.embedding_provider, ("", dimensions))
        configured = getattr(settings.providers.get(gen.embedding_provider), "embedding_model", None)
        model = configured or default_model
        dimensions = dimensions if configured else native
    return ProviderEmbedder(registry.embedding_client(gen.embedding_provider), model, dimensions)
