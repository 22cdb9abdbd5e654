"""The Store protocol: everything the layers above may ask of the library, whatever the database.

It comes in parts, one per repository: prompts (records, lineage, search, embeddings, metrics), feedback and
learned models, the response cache, API keys and the audit log (access), labels, and maintenance. :class:`Store` is all
of them. Both stores implement it from the same shared repositories (``storage/prompts.py``, ``feedback.py``,
``cache.py``, ``access.py``, ``labels.py``, written once; ``storage/dialect.py`` holds the words that differ) and add
what is their own: ``storage/sqlite/`` (the store on one file, FTS5, the in-memory vector index, and its migrations)
and ``storage/postgres/`` (the store on a pool, tsvector, pgvector, and its migrations). Every SQL statement lives in
``storage/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from prompt_alchemy.models import ContextItem, Feedback, MetricRecord, ModelVersion, Prompt, SearchFilters


@dataclass(frozen=True)
class AuditNote:
    """The audit row of a write, committed in the write's own transaction: who (`actor`), what (`action`) and a
    short `detail` (never text written or a secret). The store adds the time and the ids the write touched, so that
    the row names exactly what was committed, and a write never commits without its row (nor a row without its
    write), whatever kills the process in between."""

    actor: str
    action: str
    detail: str | None = None


class VectorSpace(Protocol):
    """The vectors of one (model, dimensions): SQLite's in-memory index, or a pgvector table."""

    model: str
    dimensions: int

    def __len__(self) -> int: ...

    def __contains__(self, prompt_id: object) -> bool: ...

    @property
    def nbytes(self) -> int: ...

    def search(self, query: Any, k: int = 10, allowed: set[str] | None = None) -> list[tuple[str, float]]: ...


class PromptRepository(Protocol):
    """Prompts with their context and metrics: records, lineage, full-text search, embeddings."""

    path: Path
    write_refusal: str | None

    def save_session(
        self,
        prompts: list[Prompt],
        contexts: dict[str, list[ContextItem]] | None = None,
        metrics: list[MetricRecord] | None = None,
    ) -> None:
        """Write a whole generation session in one transaction: all of it or none of it."""
        ...

    def save_prompts(self, prompts: list[Prompt]) -> None: ...

    def insert_new_prompts(
        self,
        prompts: list[Prompt],
        contexts: dict[str, list[ContextItem]] | None = None,
        remap: dict[str, str] | None = None,
        *,
        audit: AuditNote | None = None,
    ) -> Any:
        """Insert prompts whose content is not stored yet, deciding inside the write transaction; with `audit`,
        its row (naming every id written) is committed in the same transaction when anything was written."""
        ...

    def record_use(self, prompt_id: str, when: datetime) -> bool:
        """Count one use of the prompt (usage_count + 1, last_used_at = when); whether it exists."""
        ...

    def get_prompt(self, prompt_id: str) -> Prompt | None: ...

    def get_prompts(self, ids: list[str], *, with_embedding: bool = False) -> dict[str, Prompt]: ...

    def list_prompts(
        self, *, session_id: str | None = None, filters: SearchFilters | None = None, limit: int = 50, offset: int = 0
    ) -> list[Prompt]:
        """A session's prompts in generation order, or the library (matching `filters`) most recent first."""
        ...

    def iter_prompts(self, filters: SearchFilters | None = None, *, page: int = 500) -> Iterator[Prompt]: ...

    def top_prompts(self, limit: int = 20) -> list[Prompt]: ...

    def count_prompts(self) -> int: ...

    def count_matching(self, filters: SearchFilters | None = None) -> int: ...

    def resolve_prefix(self, prefix: str, limit: int = 10) -> list[Any]:
        """Rows (id, phase, title, created_at) whose id is `prefix`, else those starting with it."""
        ...

    def existing_ids(self, ids: Iterable[str]) -> set[str]: ...

    def ids_by_hash(self) -> dict[str, str]: ...

    def get_context(self, prompt_id: str) -> list[ContextItem]: ...

    def contexts_for(self, ids: list[str]) -> dict[str, list[ContextItem]]: ...

    def ancestors(self, prompt_id: str, max_depth: int = 1000) -> list[Prompt]: ...

    def descendants(self, prompt_id: str, *, edits_only: bool = False, max_depth: int = 1000) -> list[Prompt]: ...

    def delete_prompts(self, ids: list[str], *, audit: AuditNote | None = None) -> int:
        """Delete with context, metrics and feedback; children are relinked to the deleted prompt's parent. Returns
        how many this call deleted: a prompt another writer deleted first counts 0. With `audit`, its row (naming
        the ids deleted) is committed in the same transaction when anything was deleted. Safe against concurrent
        deletes of related prompts from any process: lineage stays whole and no foreign key fails."""
        ...

    def search_text(self, query: str, filters: SearchFilters | None = None, limit: int = 10) -> list[tuple[str, float]]:
        """(id, score) by full-text relevance over content, title and tags; higher is better."""
        ...

    def filter_ids(self, filters: SearchFilters | None) -> frozenset[str]: ...

    def load_embeddings(self, model: str, dimensions: int) -> tuple[list[str], Any]:
        """(ids, float32 matrix) of the stored vectors of one model and dimension."""
        ...

    def vector_index(self, model: str, dimensions: int) -> VectorSpace:
        """The stored vectors of one model and dimension, as a space to count, test membership of and search."""
        ...

    def search_vectors(
        self, vector: Any, model: str, dimensions: int, limit: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the `limit` nearest vectors of this model and dimension among the prompts
        matching `filters`, best first. Vectors of other models or dimensions are never compared."""
        ...

    def embedding_targets(self, model: str, dimensions: int, *, include_all: bool = False) -> list[tuple[str, str]]: ...

    def set_embeddings(self, rows: list[tuple[str, bytes]], model: str, provider: str, dimensions: int) -> None: ...

    def embedding_counts(self) -> list[dict[str, Any]]: ...

    def record_metrics(self, metrics: Iterable[MetricRecord]) -> None: ...

    def list_metrics(self, *, session_id: str | None = None, kind: str | None = None) -> list[MetricRecord]: ...

    def metrics_summary(
        self, *, since: datetime | None = None, phase: str | None = None, provider: str | None = None
    ) -> dict[str, Any]: ...


class FeedbackStore(Protocol):
    """Ratings and choices, and every trained model version (at most one active)."""

    def insert_feedback(self, rows: list[Feedback]) -> None: ...

    def list_feedback(
        self,
        *,
        prompt_id: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Feedback]: ...

    def training_feedback(self) -> list[Feedback]: ...

    def feedback_counts(self) -> dict[str, int]: ...

    def average_ratings(self, ids: list[str]) -> dict[str, tuple[float, int]]: ...

    def save_model(self, model: ModelVersion) -> ModelVersion: ...

    def active_model(self) -> ModelVersion | None: ...

    def list_models(self, limit: int = 20) -> list[ModelVersion]: ...

    def last_training(self) -> dict[str, Any] | None: ...


class CacheStore(Protocol):
    """Cached provider answers and embeddings, by request hash, with an expiry."""

    def cached_response(self, key: str, now: float) -> str | None: ...

    def cache_response(
        self,
        key: str,
        provider: str,
        model: str,
        payload: str,
        now: float,
        expires_at: float,
        *,
        purge_expired: bool = False,
    ) -> None: ...

    def cached_vectors(self, keys: Sequence[str], now: float) -> dict[str, bytes]: ...

    def cache_vectors(self, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def cache_stats(self, now: float) -> dict[str, int]: ...

    def clear_cache(self) -> int: ...


class AccessStore(Protocol):
    """API keys (a name, a scope, a salted hash of the secret; never the secret) and the append-only audit log."""

    def insert_api_key(
        self,
        *,
        key_id: str,
        name: str,
        scope: str,
        salt: str,
        secret_hash: str,
        rate_limit: int | None,
        created_at: datetime,
    ) -> None:
        """Store a new key; an active key with the same name is a conflict."""
        ...

    def api_key_secret(self, key_id: str) -> dict[str, Any] | None:
        """One key's row including `salt` and `secret_hash`, for verification only."""
        ...

    def list_api_keys(self, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        """Keys (id, name, scope, rate_limit, created_at, revoked_at), oldest first; never the salt or hash."""
        ...

    def revoke_api_key(self, name_or_id: str, when: datetime) -> dict[str, Any] | None: ...

    def append_audit(
        self, *, actor: str, action: str, targets: list[str], outcome: str, detail: str | None = None, when: datetime
    ) -> int: ...

    def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Audit rows (id, created_at, actor, action, targets, outcome, detail), newest first."""
        ...

    def creators(self, ids: list[str]) -> dict[str, str]:
        """The actor recorded as creating each of `ids` (prompts, feedback rows), where one is."""
        ...

    def count_request(self, key_id: str, limit: int, *, window: float = 60.0, now: float | None = None) -> float:
        """Count one request of the key `key_id` in its fixed window (opened by its first request after the last
        window closed, `window` seconds long) and say whether it fits: 0.0 when it is one of the first `limit`,
        else the seconds until the window closes (the Retry-After). Atomic across every process sharing the
        library on PostgreSQL; SQLite counts in this process. `now` replaces the store's clock (tests)."""
        ...


class LabelStore(Protocol):
    """Named prompts and their labels: a name's versions 1..n (prompts.name, prompts.version), labels each pointing
    at one version of one name (`latest` is implicit), the append-only history of every label change, and the
    labels protected for the whole library."""

    def save_version(
        self, prompt: Prompt, name: str, *, contexts: list[ContextItem] | None = None, audit: AuditNote | None = None
    ) -> int:
        """Insert `prompt` as the next version of `name`, with its `audit` row, in one transaction under the
        name's lock; the version."""
        ...

    def assign_name(
        self, prompt_id: str, name: str | None = None, *, version: int | None = None
    ) -> tuple[str, int] | None:
        """Name an unnamed prompt (`name` as `version` when free, else as its next version; or a name derived from
        it); (name, version)."""
        ...

    def resolve_name(self, name: str, version: int | None = None) -> str | None:
        """The id of one version of `name` (None: the latest), or None."""
        ...

    def name_versions(self, name: str) -> list[dict[str, Any]]: ...

    def names_for(self, ids: list[str]) -> dict[str, tuple[str, int]]: ...

    def list_names(self) -> list[dict[str, Any]]: ...

    def set_label(
        self,
        name: str,
        prompt_id: str,
        when: datetime,
        *,
        actor: str = "local",
        source: str = "cli",
        audit: AuditNote | None = None,
        prompt_name: str | None = None,
    ) -> str | None:
        """Point the label `name` of the prompt's name at `prompt_id` (create or move; an unnamed prompt is named
        first) and record it; the id it pointed at before, or None. The read of the previous id, the move and its
        history row (and the `audit` row, when the label changed) are one transaction under the name's lock, so
        concurrent moves from any process leave a history whose every row names the true previous version."""
        ...

    def remove_label(
        self,
        name: str,
        when: datetime,
        *,
        actor: str = "local",
        source: str = "cli",
        audit: AuditNote | None = None,
        prompt_name: str | None = None,
    ) -> str | None:
        """Remove the label `name` of `prompt_name` (None: of the only name that has it) and record it (with the
        `audit` row, in one transaction under the name's lock); the id it pointed at, or None."""
        ...

    def get_label(self, name: str, prompt_name: str | None = None) -> str | None: ...

    def list_labels(self, prompt_name: str | None = None) -> list[dict[str, Any]]:
        """Every label (prompt_name, name, prompt_id, version, protected, updated_at), by name and label."""
        ...

    def labels_for(self, ids: list[str]) -> dict[str, list[str]]: ...

    def label_owners(self, name: str) -> list[str]: ...

    def label_history(
        self, name: str | None = None, limit: int = 100, *, prompt_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Changes (prompt_name, name, action: set/move/remove/deleted, prompt_id, previous_id, actor, source,
        created_at), newest first."""
        ...

    def protect_label(self, name: str, protected: bool, when: datetime, *, audit: AuditNote | None = None) -> bool: ...

    def protected_labels(self, project: str | None = None) -> list[str]: ...


class PeopleStore(Protocol):
    """Projects, users and their roles, the project and user of each key, and a person's data (storage/people.py)."""

    def create_project(self, project_id: str, when: datetime, *, audit: AuditNote | None = None) -> bool: ...

    def list_projects(self) -> list[dict[str, Any]]: ...

    def project_exists(self, project_id: str) -> bool: ...

    def upsert_user(
        self,
        *,
        user_id: str,
        issuer: str,
        subject: str,
        handle: str,
        email: str | None,
        display_name: str | None,
        when: datetime,
        audit: AuditNote | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """The user of (issuer, subject), created on first sign-in; (row, created)."""

    def handle_taken(self, handle: str) -> bool: ...

    def find_user(self, ref: str) -> dict[str, Any] | None: ...

    def list_users(self) -> list[dict[str, Any]]: ...

    def set_user_disabled(
        self, user_id: str, disabled: bool, when: datetime, *, audit: AuditNote | None = None
    ) -> None: ...

    def set_membership(
        self, user_id: str, project_id: str, role: str, source: str, when: datetime, *, audit: AuditNote | None = None
    ) -> None: ...

    def remove_membership(
        self, user_id: str, project_id: str, when: datetime, *, audit: AuditNote | None = None
    ) -> bool: ...

    def memberships(self, user_id: str) -> dict[str, dict[str, str]]: ...

    def project_owners(self, project_id: str) -> list[str]: ...

    def insert_project_key(
        self,
        *,
        key_id: str,
        name: str,
        scope: str,
        salt: str,
        secret_hash: str,
        rate_limit: int | None,
        created_at: datetime,
        project_id: str,
        user_id: str | None,
        audit: AuditNote | None = None,
    ) -> None: ...

    def key_binding(self, key_id: str) -> dict[str, Any] | None:
        """The project, user, user's handle, disabled time and role of a key."""

    def person_data(self, user: dict[str, Any]) -> dict[str, Any]:
        """Everything stored about a user (prompts, ratings, keys without secrets, audit rows)."""

    def erase_person(
        self, user: dict[str, Any], when: datetime, *, keep_prompts: bool, audit: AuditNote | None = None
    ) -> dict[str, int]:
        """Delete or anonymise everything of a user, in one transaction."""

    def purge_before(
        self,
        *,
        sessions_before: datetime | None,
        audit_before: datetime | None,
        when: datetime,
        audit: AuditNote | None = None,
    ) -> dict[str, int]:
        """The retention purge of old generation sessions and audit rows, in one transaction."""


class MaintenanceStore(Protocol):
    """Schema, integrity, change detection, backups and housekeeping."""

    applied_migrations: list[str]

    def schema_version(self) -> int: ...

    def library_exists(self) -> bool:
        """Whether the library is there (SQLite: its file exists; PostgreSQL: always, once connected and migrated).
        Before any store is open, ask `storage.url.library_exists(loaded)`: opening a SQLite store creates it."""
        ...

    def migrate(self) -> list[str]: ...

    def check_integrity(self, *, quick: bool = True, max_findings: int = 10) -> list[str]: ...

    def data_version(self) -> int:
        """Changes whenever another process commits (for caches that must follow other writers)."""
        ...

    def generation(self) -> int:
        """Changes whenever the library changes, by this process or another (SQLite: any commit, read without
        taking the write lock; PostgreSQL: the `library_changes` counter of prompts, feedback and models)."""
        ...

    def stats(self) -> dict[str, Any]: ...

    def file_sizes(self) -> dict[str, int]: ...

    def backup_to(self, target: Path) -> int: ...

    def vacuum(self) -> None: ...

    def exclusive(self, task: str) -> AbstractContextManager[bool]:
        """A non-blocking lock across processes (PostgreSQL: an advisory lock, so across replicas): True inside
        the block when this process holds it, False when another one does."""
        ...

    def last_maintenance(self, task: str) -> datetime | None: ...

    def record_maintenance(self, task: str, when: datetime, detail: str | None = None) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Store(
    PromptRepository, FeedbackStore, CacheStore, AccessStore, LabelStore, PeopleStore, MaintenanceStore, Protocol
):
    """The whole library store."""
