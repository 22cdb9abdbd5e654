"""The application layer, by capability, shared by the CLI, the MCP server and the HTTP API.

:class:`AlchemyService` is the one service object every interface holds: a facade that builds the composition root
(:class:`App`: settings, store, provider registry, embedder, engine) and the capability services, each given what
it uses, and forwards each operation to its owner (see services/facade.py). Every request is validated in the
capability services before any provider call or database write.
"""

from __future__ import annotations

from prompt_alchemy.services._common import (
    check_configuration,
    mask_prompt_secrets,
    mask_result_secrets,
)
from prompt_alchemy.services.app import App
from prompt_alchemy.services.facade import AlchemyService

__all__ = ["AlchemyService", "App", "check_configuration", "mask_prompt_secrets", "mask_result_secrets"]
