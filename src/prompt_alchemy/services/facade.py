"""The one service object every interface holds: :class:`AlchemyService`, a thin facade over the capability
services. It builds the composition root (:class:`App`) and each capability service with what that service uses,
and forwards each operation to the service that owns it; it holds no logic of its own.

    AlchemyService.generate -> GenerationService.generate -> Engine.run

The capability services, and what each receives:

- :class:`AuditLog` (the app): audit rows, listed and recorded; :func:`audited` records the writes below.
- :class:`AccessService` (the app, the audit log): API keys.
- :class:`PeopleService` (the app, the audit log): users, projects, roles, a project's keys, data rights.
- :class:`LibraryService` (the app, the audit log): records, labels, search, updates, import, export.
- :class:`GenerationService` (the app, the library service, the audit log): requests and runs.
- :class:`BatchService` (the app, the generation service): many ideas at once.
- :class:`RankingService` (the app, the library service, the audit log): scoring, judging, optimizing.
- :class:`LearningService` (the app, the ranking service, the audit log): feedback and training.
- :class:`JobsService` (the app, batch, generation, ranking, learning): long work as jobs (services/jobs.py).
- :class:`MaintenanceService` (the app): backups, restore, vacuum, copy, migrations, re-embedding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from prompt_alchemy.config import LoadedSettings, Settings
from prompt_alchemy.services.access import AccessService, ApiKey, AuditLog
from prompt_alchemy.services.app import App
from prompt_alchemy.services.batch import BatchService
from prompt_alchemy.services.generation import GenerationService
from prompt_alchemy.services.jobs import JobsService
from prompt_alchemy.services.learning import LearningService
from prompt_alchemy.services.library import LibraryService, RenderedPrompt
from prompt_alchemy.services.maintenance import MaintenanceService
from prompt_alchemy.services.people import PeopleService
from prompt_alchemy.services.ranking import RankingService

if TYPE_CHECKING:
    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.engine.batch import BatchProgress
    from prompt_alchemy.engine.engine import Engine, ProgressCallback, TokenCallback
    from prompt_alchemy.library import Library
    from prompt_alchemy.models import (
        BatchItem,
        BatchOptions,
        BatchReport,
        ContextItem,
        Feedback,
        GenerationResult,
        ImportReport,
        Prompt,
        PromptRequest,
        SearchFilters,
        SearchResult,
    )
    from prompt_alchemy.providers.cache import ResponseCache
    from prompt_alchemy.providers.registry import ProviderRegistry
    from prompt_alchemy.ranking.learning import TrainingReport
    from prompt_alchemy.ranking.optimizer import OptimizationResult
    from prompt_alchemy.ranking.ranker import Ranker
    from prompt_alchemy.storage.base import Store


class AlchemyService:
    """Every operation of the application, each forwarded to the capability service that owns it."""

    def __init__(self, loaded: LoadedSettings) -> None:
        self.app = App(loaded)
        self.audit = AuditLog(self.app)
        self.access = AccessService(self.app, self.audit)
        self.people = PeopleService(self.app, self.audit, self.access.verified)
        self.library_service = LibraryService(self.app, self.audit)
        self.generation = GenerationService(self.app, self.library_service, self.audit)
        self.batch = BatchService(self.app, self.generation)
        self.ranking = RankingService(self.app, self.library_service, self.audit)
        self.learning = LearningService(self.app, self.ranking, self.audit)
        self.maintenance = MaintenanceService(self.app)
        self.jobs = JobsService(self.app, self.batch, self.generation, self.ranking, self.learning)

    @classmethod
    def from_environment(
        cls,
        config_file: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> AlchemyService:
        from prompt_alchemy.config import load_settings

        return cls(load_settings(config_file=config_file, overrides=overrides, env=env))

    # ------------------------------------------------------------------ the app's settings and components

    @property
    def loaded(self) -> LoadedSettings:
        return self.app.loaded

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def registry(self) -> ProviderRegistry:
        return self.app.registry

    @property
    def response_cache(self) -> ResponseCache:
        return self.app.response_cache

    @property
    def embedder(self) -> Embedder:
        return self.app.embedder

    @property
    def library(self) -> Library:
        return self.app.library

    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def ranker(self) -> Ranker:
        return self.ranking.ranker

    async def aclose(self) -> None:
        await self.jobs.aclose()
        await self.app.aclose()

    def library_exists(self) -> bool:
        """Whether the library exists already (asking creates nothing)."""
        return self.app.library_exists()

    def persona_names(self) -> list[str]:
        return self.app.persona_names()

    async def validate_configuration(self) -> tuple[Path, list[str]]:
        return await self.app.validate_configuration()

    # ------------------------------------------------------------------ API keys

    async def authenticate(self, token: str | None) -> ApiKey | None:
        return await self.access.authenticate(token)

    async def count_request(self, key: ApiKey, default_limit: int) -> float:
        return await self.access.count_request(key, default_limit)

    async def create_key(self, name: str, scope: str, rate_limit: int | None = None) -> tuple[str, dict[str, Any]]:
        return await self.access.create_key(name, scope, rate_limit)

    async def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        return await self.access.list_keys(include_revoked)

    async def revoke_key(self, name_or_id: str) -> dict[str, Any]:
        return await self.access.revoke_key(name_or_id)

    # ------------------------------------------------------------------ the audit log

    async def creators(self, ids: list[str]) -> dict[str, str]:
        return await self.audit.creators(ids)

    async def list_audit(
        self,
        *,
        actor_name: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: Any = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        return await self.audit.list_audit(
            actor_name=actor_name, action=action, target=target, since=since, limit=limit, offset=offset
        )

    # ------------------------------------------------------------------ generation

    def build_request(self, fields: Mapping[str, Any] | str, /, **more: Any) -> PromptRequest:
        return self.generation.build_request(fields, **more)

    def estimate_cost(self, request: PromptRequest) -> float:
        return self.generation.estimate_cost(request)

    async def generate(
        self,
        request: PromptRequest,
        progress: ProgressCallback | None = None,
        *,
        session_id: str | None = None,
        on_token: TokenCallback | None = None,
    ) -> GenerationResult:
        return await self.generation.generate(request, progress, session_id=session_id, on_token=on_token)

    async def providers_status(self, check: bool = False) -> list[dict[str, Any]]:
        return await self.generation.providers_status(check)

    # ------------------------------------------------------------------ the library

    async def count_prompts(self, filters: SearchFilters | None = None) -> int:
        return await self.library_service.count_prompts(filters)

    async def delete_prompt(self, prompt_id: str) -> None:
        return await self.library_service.delete_prompt(prompt_id)

    async def export_prompts(
        self,
        path: str | Path | IO[str],
        fmt: str | None = None,
        filters: SearchFilters | None = None,
        force: bool = False,
    ) -> int:
        return await self.library_service.export_prompts(path, fmt, filters, force)

    async def get_context(self, prompt_id: str) -> list[ContextItem]:
        return await self.library_service.get_context(prompt_id)

    async def get_prompt(self, id_or_prefix: str) -> Prompt:
        return await self.library_service.get_prompt(id_or_prefix)

    async def get_prompts(self, ids: list[str]) -> dict[str, Prompt]:
        return await self.library_service.get_prompts(ids)

    async def history(self, prompt_id: str) -> list[Prompt]:
        return await self.library_service.history(prompt_id)

    async def import_prompts(
        self, path: str | Path, fmt: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> ImportReport:
        return await self.library_service.import_prompts(path, fmt, progress)

    async def label_history(
        self, name: str | None = None, limit: int = 100, *, prompt_name: str | None = None
    ) -> list[dict[str, Any]]:
        return await self.library_service.label_history(name, limit, prompt_name=prompt_name)

    async def label_target(self, name: str) -> str | None:
        return await self.library_service.label_target(name)

    async def labels_for(self, ids: list[str]) -> dict[str, list[str]]:
        return await self.library_service.labels_for(ids)

    async def library_version(self) -> int:
        return await self.library_service.library_version()

    async def lineage(self, prompt_id: str) -> dict[str, list[Prompt]]:
        return await self.library_service.lineage(prompt_id)

    async def list_labels(self, prompt_name: str | None = None) -> list[dict[str, Any]]:
        return await self.library_service.list_labels(prompt_name)

    async def list_names(self) -> list[dict[str, Any]]:
        return await self.library_service.list_names()

    async def name_versions(self, name: str) -> dict[str, Any]:
        return await self.library_service.name_versions(name)

    async def names_for(self, ids: list[str]) -> dict[str, tuple[str, int]]:
        return await self.library_service.names_for(ids)

    async def protect_label(self, name: str, protected: bool = True) -> dict[str, Any]:
        return await self.library_service.protect_label(name, protected)

    async def protected_labels(self) -> list[str]:
        return await self.library_service.protected_labels()

    async def save_version(
        self, name: str, text: str, *, title: str | None = None, tags: list[str] | None = None, source: str = "cli"
    ) -> dict[str, Any]:
        return await self.library_service.save_version(name, text, title=title, tags=tags, source=source)

    async def list_prompts(
        self, filters: SearchFilters | None = None, limit: int = 20, offset: int = 0
    ) -> list[Prompt]:
        return await self.library_service.list_prompts(filters, limit, offset)

    async def load_vector_index(self) -> dict[str, Any]:
        return await self.library_service.load_vector_index()

    async def metrics_report(self, since: Any = None, phase: str | None = None, provider: str | None = None) -> dict:
        return await self.library_service.metrics_report(since, phase, provider)

    async def remove_label(
        self, name: str, *, prompt_name: str | None = None, source: str = "cli", force: bool = False
    ) -> dict[str, Any]:
        return await self.library_service.remove_label(name, prompt_name=prompt_name, source=source, force=force)

    async def render_prompt(
        self,
        id_or_label: str,
        values: Mapping[str, str] | None = None,
        *,
        raw: bool = False,
        missing_hint: str = "",
        strict: bool = True,
    ) -> RenderedPrompt:
        return await self.library_service.render_prompt(
            id_or_label, values, raw=raw, missing_hint=missing_hint, strict=strict
        )

    async def use_prompt(
        self, id_or_label: str, values: Mapping[str, str] | None = None, *, raw: bool = False, missing_hint: str = ""
    ) -> RenderedPrompt:
        return await self.library_service.use_prompt(id_or_label, values, raw=raw, missing_hint=missing_hint)

    async def resolve_id(self, id_or_prefix: str) -> str:
        return await self.library_service.resolve_id(id_or_prefix)

    async def search(
        self, query: str, *, mode: str = "hybrid", filters: SearchFilters | None = None, limit: int = 10
    ) -> list[SearchResult]:
        return await self.library_service.search(query, mode=mode, filters=filters, limit=limit)

    async def set_label(
        self, prompt_id: str, name: str, *, version: int | None = None, source: str = "cli", force: bool = False
    ) -> dict[str, Any]:
        return await self.library_service.set_label(prompt_id, name, version=version, source=source, force=force)

    async def top_prompts(self, limit: int = 20) -> list[Prompt]:
        return await self.library_service.top_prompts(limit)

    async def update_prompt(
        self, prompt_id: str, *, content: str | None = None, tags: list[str] | None = None, notes: str | None = None
    ) -> Prompt:
        return await self.library_service.update_prompt(prompt_id, content=content, tags=tags, notes=notes)

    # ------------------------------------------------------------------ maintenance

    async def backup_database(
        self, path: str | Path | None = None, force: bool = False, *, now: datetime | None = None
    ) -> dict[str, Any]:
        return await self.maintenance.backup_database(path, force, now=now)

    def check_output_path(
        self, path: str | Path, *, force: bool, what: str = "output file", allow_existing: bool = False
    ) -> Path:
        return self.maintenance.check_output_path(path, force=force, what=what, allow_existing=allow_existing)

    async def clear_cache(self) -> dict[str, int]:
        return await self.maintenance.clear_cache()

    async def copy_database(self, to: str, source: str | None = None, *, strip_nul: bool = False) -> dict[str, Any]:
        return await self.maintenance.copy_database(to, source, strip_nul=strip_nul)

    async def db_stats(self) -> dict[str, Any]:
        return await self.maintenance.db_stats()

    async def migrate_database(self) -> dict[str, Any]:
        return await self.maintenance.migrate_database()

    async def reembed(
        self, include_all: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        return await self.maintenance.reembed(include_all, progress)

    async def restore_database(
        self, backup: str | Path | None = None, force: bool = False, *, now: datetime | None = None
    ) -> dict[str, Any]:
        return await self.maintenance.restore_database(backup, force, now=now)

    async def run_maintenance_if_due(self, now: Any = None) -> dict[str, Any]:
        """Backup, vacuum and the retention purge, each when its interval has passed."""
        ran = await self.maintenance.run_maintenance_if_due(now)
        purged = await self.people.purge_if_due(now)
        if purged is not None:
            ran["retention"] = purged
        return ran

    def maintenance_poll_seconds(self, longest: float) -> float:
        return self.people.maintenance_poll_seconds(longest)

    async def vacuum_database(self, *, now: datetime | None = None) -> dict[str, Any]:
        return await self.maintenance.vacuum_database(now=now)

    # ------------------------------------------------------------------ ranking and optimization

    def examples_dir(self) -> Path:
        return self.ranking.examples_dir()

    def examples_file(self, name: str) -> Path:
        return self.ranking.examples_file(name)

    async def judge_prompts(self, id_a: str, id_b: str | None = None) -> dict[str, Any]:
        return await self.ranking.judge_prompts(id_a, id_b)

    async def optimize(
        self,
        prompt_id: str | None = None,
        prompt: str | None = None,
        task: str | None = None,
        examples_path: str | Path | None = None,
        max_iterations: int = 3,
        target_score: float | None = None,
        max_cost: float | None = None,
        metric: str = "auto",
        provider: str | None = None,
        task_provider: str | None = None,
        save: bool = True,
        progress: Any = None,
        examples: list[Any] | None = None,
        examples_file: str | None = None,
    ) -> OptimizationResult:
        return await self.ranking.optimize(
            prompt_id,
            prompt,
            task,
            examples_path,
            max_iterations,
            target_score,
            max_cost,
            metric,
            provider,
            task_provider,
            save,
            progress,
            examples,
            examples_file,
        )

    async def score_prompts(
        self, ids: list[str] | None = None, text: str | None = None, idea: str | None = None, judge: bool = False
    ) -> list:
        return await self.ranking.score_prompts(ids, text, idea, judge)

    # ------------------------------------------------------------------ batch generation

    async def batch_generate(
        self,
        items: list[BatchItem],
        *,
        workers: int = 2,
        defaults: BatchOptions | None = None,
        save: bool = True,
        results_file: str | Path | None = None,
        resume: bool = False,
        dry_run: bool = False,
        source: str = "batch",
        progress: BatchProgress | None = None,
    ) -> BatchReport:
        return await self.batch.batch_generate(
            items,
            workers=workers,
            defaults=defaults,
            save=save,
            results_file=results_file,
            resume=resume,
            dry_run=dry_run,
            source=source,
            progress=progress,
        )

    def read_batch_items(self, path: str | Path, fmt: str | None = None, text: str | None = None) -> list[BatchItem]:
        return self.batch.read_batch_items(path, fmt, text)

    # ------------------------------------------------------------------ learning from feedback

    async def average_ratings(self, ids: list[str]) -> dict[str, tuple[float, int]]:
        return await self.learning.average_ratings(ids)

    async def install_training_schedule(self, crontab_file: str | Path | None = None) -> dict[str, Any]:
        return await self.learning.install_training_schedule(crontab_file)

    async def last_training_attempt(self) -> datetime | None:
        return await self.learning.last_training_attempt()

    async def learning_patterns(self, *, now: datetime | None = None):
        return await self.learning.learning_patterns(now=now)

    async def learning_status(self) -> dict[str, Any]:
        return await self.learning.learning_status()

    async def list_feedback(
        self,
        prompt_id: str | None = None,
        *,
        session_id: str | None = None,
        source: str | None = None,
        kind: str | None = None,
        since: Any = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list:
        return await self.learning.list_feedback(
            prompt_id, session_id=session_id, source=source, kind=kind, since=since, limit=limit, offset=offset
        )

    async def rate(self, prompt_id: str, score: int, comment: str | None = None, source: str = "cli") -> Feedback:
        return await self.learning.rate(prompt_id, score, comment, source)

    async def record_choice(self, session_id: str, chosen_id: str, source: str = "cli") -> dict[str, Any]:
        return await self.learning.record_choice(session_id, chosen_id, source)

    async def refresh_learned_model(self) -> None:
        return await self.learning.refresh_learned_model()

    async def scheduled_train(self, now: datetime, still_due: Callable[[datetime | None], bool] | None = None) -> None:
        return await self.learning.scheduled_train(now, still_due)

    async def train(
        self, dry_run: bool = False, *, trigger: str = "cli", now: datetime | None = None
    ) -> TrainingReport:
        return await self.learning.train(dry_run, trigger=trigger, now=now)

    async def uninstall_training_schedule(self, crontab_file: str | Path | None = None) -> dict[str, Any]:
        return await self.learning.uninstall_training_schedule(crontab_file)
