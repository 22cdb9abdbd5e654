"""Prompt Alchemy: turn a raw idea into refined LLM prompts through three chained phases.

The public API, for use as a library::

    import asyncio
    from prompt_alchemy import AlchemyService

    async def main():
        service = AlchemyService.from_environment()
        try:
            result = await service.generate(service.build_request("a newsletter about Rust", count=2))
            print(result.best.content)
        finally:
            await service.aclose()

    asyncio.run(main())

Names are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # the application
    "AlchemyService": "prompt_alchemy.services",
    "App": "prompt_alchemy.services",
    "Settings": "prompt_alchemy.config",
    "load_settings": "prompt_alchemy.config",
    # the main models
    "Phase": "prompt_alchemy.models",
    "Prompt": "prompt_alchemy.models",
    "PromptRequest": "prompt_alchemy.models",
    "GenerationResult": "prompt_alchemy.models",
    "PromptScore": "prompt_alchemy.models",
    "SearchFilters": "prompt_alchemy.models",
    "SearchResult": "prompt_alchemy.models",
    "Feedback": "prompt_alchemy.models",
    "Persona": "prompt_alchemy.models",
    # errors
    "AlchemyError": "prompt_alchemy.errors",
    "InputError": "prompt_alchemy.errors",
    "ConfigError": "prompt_alchemy.errors",
    "NotFoundError": "prompt_alchemy.errors",
    "ProviderError": "prompt_alchemy.errors",
    "ProviderUnavailableError": "prompt_alchemy.errors",
    "CostLimitError": "prompt_alchemy.errors",
    "GenerationError": "prompt_alchemy.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings, load_settings
    from prompt_alchemy.errors import (
        AlchemyError,
        ConfigError,
        CostLimitError,
        GenerationError,
        InputError,
        NotFoundError,
        ProviderError,
        ProviderUnavailableError,
    )
    from prompt_alchemy.models import (
        Feedback,
        GenerationResult,
        Persona,
        Phase,
        Prompt,
        PromptRequest,
        PromptScore,
        SearchFilters,
        SearchResult,
    )
    from prompt_alchemy.services import AlchemyService, App


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prompt_alchemy' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
