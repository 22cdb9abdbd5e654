"""The application layer, by capability, shared by the CLI, the MCP server and the HTTP API.

:class:`AlchemyService` is the one service object every interface holds: the composition root (:class:`App`:
settings, store, provider registry, embedder, engine) with each capability's operations. Every request is
validated here before any provider call or database write.
"""

from __future__ import annotations

from prompt_alchemy.services._common import (
    check_configuration,
    mask_prompt_secrets,
    mask_result_secrets,
)
from prompt_alchemy.services.access import AccessService
from prompt_alchemy.services.app import App
from prompt_alchemy.services.batch import BatchService
from prompt_alchemy.services.generation import GenerationService
from prompt_alchemy.services.learning import LearningService
from prompt_alchemy.services.library import LibraryService
from prompt_alchemy.services.maintenance import MaintenanceService
from prompt_alchemy.services.ranking import RankingService

__all__ = ["AlchemyService", "App", "check_configuration", "mask_prompt_secrets", "mask_result_secrets"]


class AlchemyService(AccessService, GenerationService, LibraryService, MaintenanceService, RankingService,
                     BatchService, LearningService):
    """Every operation of the application over one shared :class:`App`. :class:`AccessService` comes first: it
    records each write of the others in the audit log."""
