"""The composition root: settings, and the store, provider registry, response cache, embedder and engine, each
built once on first use and shared by every capability service.

The capability services receive this object in their constructors rather than the store, engine or embedder
themselves because those are built on first use: opening a SQLite store creates the library file, and a request
that is refused (bad input) or that only reads an absent library must leave nothing on disk."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_alchemy.config import LoadedSettings, load_settings
from prompt_alchemy.engine.engine import Engine
from prompt_alchemy.security import register_secret, register_url_secret
from prompt_alchemy.services._common import check_configuration, in_thread
from prompt_alchemy.storage.url import library_exists

if TYPE_CHECKING:
    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.library import Library
    from prompt_alchemy.providers.cache import ResponseCache
    from prompt_alchemy.providers.registry import ProviderRegistry
    from prompt_alchemy.ranking.learning import LearnedModel
    from prompt_alchemy.storage.base import Store
    from prompt_alchemy.storage.redis_cache import RateWindows, RedisCache


class App:
    """Settings and the shared components, each built once on first use: the store (a :class:`Store`), the
    provider registry, the response cache, the embedder and the engine."""

    def __init__(self, loaded: LoadedSettings) -> None:
        self.loaded = loaded
        self.settings = loaded.settings
        from prompt_alchemy.config import KEYED_PROVIDERS

        for name in KEYED_PROVIDERS:
            key = self.settings.providers.get(name).api_key
            if key is not None:
                register_secret(key.get_secret_value())
        if loaded.database_url:  # logs and errors mask the database password too
            register_url_secret(loaded.database_url)

    @classmethod
    def from_environment(
        cls,
        config_file: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> App:
        return cls(load_settings(config_file=config_file, overrides=overrides, env=env))

    # ------------------------------------------------------------------ components (lazy, shared)

    @cached_property
    def store(self) -> Store:
        """SQLite at storage.database_path, or PostgreSQL when storage.url (PROMPT_ALCHEMY_DATABASE_URL) is set."""
        url = self.loaded.database_url
        if url:
            from prompt_alchemy.storage.postgres import PostgresStore

            return PostgresStore(url)
        from prompt_alchemy.storage.sqlite import SQLiteStore

        return SQLiteStore(self.loaded.database_path)

    @cached_property
    def registry(self) -> ProviderRegistry:
        from prompt_alchemy.providers.registry import ProviderRegistry

        return ProviderRegistry(self.settings, cache_factory=lambda: self.response_cache)

    @cached_property
    def redis(self) -> RedisCache | None:
        """The Redis that holds the response cache and the rate windows (cache.url), or None: the store does."""
        url = self.settings.cache.url
        if not url:
            return None
        from prompt_alchemy.storage.redis_cache import RedisCache

        return RedisCache(url)

    @property
    def rate_windows(self) -> RateWindows:
        """Where API keys' requests are counted: Redis when cache.url is set, else the store."""
        return self.redis or self.store

    @cached_property
    def response_cache(self) -> ResponseCache:
        """Provider responses and embeddings cached in Redis (cache.url) or the store, for
        gateway.cache_ttl_seconds."""
        from prompt_alchemy.providers.cache import ResponseCache

        return ResponseCache(self.redis or self.store, self.settings.gateway.cache_ttl_seconds)

    @cached_property
    def embedder(self) -> Embedder:
        from prompt_alchemy.embeddings import make_embedder

        return make_embedder(self.settings, self.registry)

    @cached_property
    def library(self) -> Library:
        """The library as searched: the store, the embedder and the fusion of their rankings."""
        from prompt_alchemy.library import Library

        return Library(self.store, self.embedder)

    @cached_property
    def engine(self) -> Engine:
        engine = Engine(self.settings, self.registry, self.embedder)
        engine.ranker.learned = self.learned_model()  # the adopted model, if any
        return engine

    def is_built(self, component: str) -> bool:
        """Whether the component `component` (store, registry, engine ...) has been built yet."""
        return component in self.__dict__

    def reset_store(self) -> None:
        """Close the store, if open; the next use opens it again (after a restore replaced its file)."""
        if self.is_built("store"):
            self.store.close()
            del self.__dict__["store"]

    def library_exists(self) -> bool:
        """Whether the library exists already, answered without creating it (opening a store creates one)."""
        return library_exists(self.loaded)

    def learned_model(self) -> LearnedModel | None:
        """The active learned scorer for the ranker, or None (learning off, no library, no model yet)."""
        if not self.settings.learning.enabled or not self.library_exists():
            return None
        from prompt_alchemy.ranking.learning import scorer_for

        model = self.store.active_model()
        return scorer_for(model) if model is not None else None

    async def aclose(self) -> None:
        if self.is_built("registry"):
            await self.registry.aclose()
        if self.is_built("store"):
            self.store.close()
        if self.is_built("redis") and self.redis is not None:
            self.redis.close()

    def persona_names(self) -> list[str]:
        from prompt_alchemy.engine.personas import persona_names

        return persona_names(self.settings)

    @in_thread
    def validate_configuration(self) -> tuple[Path, list[str]]:
        """Re-read the configuration file the service was loaded from (plus the environment): (path, problems)."""
        path = self.loaded.paths.config_file
        return path, check_configuration(path if path.exists() else None)
