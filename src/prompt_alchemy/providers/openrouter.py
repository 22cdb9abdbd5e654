"""OpenRouter: the OpenAI wire format at openrouter.ai, with its attribution headers and model fallback list.

`providers.openrouter.fallback_models` becomes OpenRouter's `models` list: when the primary model is down or
refuses, OpenRouter itself tries the next one, and the response names the model that actually answered.
"""

from __future__ import annotations

from typing import Any

from prompt_alchemy.providers.openai import OpenAIProvider

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
APP_URL = "https://pypi.org/project/prompt-alchemy/"
APP_TITLE = "Prompt Alchemy"


class OpenRouterProvider(OpenAIProvider):
    name = "openrouter"
    default_base_url = OPENROUTER_BASE_URL

    @property
    def official(self) -> bool:
        # OpenRouter normalises parameters for every model, so no reasoning-model special cases are needed.
        return False

    def unavailable_reason(self) -> str | None:
        if self._key() is None:
            return "no API key; set OPENROUTER_API_KEY or providers.openrouter.api_key"
        return super().unavailable_reason()

    @property
    def endpoint(self) -> str:
        return self.base_url or OPENROUTER_BASE_URL

    def supports_embeddings(self) -> bool:
        return False

    def _headers(self) -> dict[str, str]:
        return {"HTTP-Referer": APP_URL, "X-Title": APP_TITLE}

    def _extra_params(self, model: str) -> dict[str, Any]:
        fallbacks = [m for m in self.config.fallback_models if m != model]
        return {"extra_body": {"models": [model, *fallbacks]}} if fallbacks else {}

    async def embed(
        self, texts: list[str], model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        from prompt_alchemy.errors import ProviderError

        raise ProviderError(
            self.name,
            "OpenRouter does not serve embeddings here; choose openai, google, ollama "
            "or local for generation.embedding_provider",
        )
