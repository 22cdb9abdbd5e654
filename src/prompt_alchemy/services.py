"""The one application facade that the CLI, the MCP server and the HTTP API all call.

Every request is validated here before any provider call or database write; heavy components (the store, the
provider registry, the embedder) are created lazily, once, and reused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from prompt_alchemy.config import LoadedSettings, load_settings, semantic_problems, validate_config
from prompt_alchemy.engine.engine import Engine, ProgressCallback
from prompt_alchemy.engine.personas import resolve_persona
from prompt_alchemy.errors import InputError, NotFoundError
from prompt_alchemy.models import ContextItem, GenerationResult, Prompt, PromptRequest
from prompt_alchemy.security import check_length, register_secret


class AlchemyService:
    def __init__(self, loaded: LoadedSettings) -> None:
        self.loaded = loaded
        self.settings = loaded.settings
        for name in ("openai", "anthropic", "google", "openrouter", "ollama"):
            key = self.settings.providers.get(name).api_key
            if key is not None:
                register_secret(key.get_secret_value())

    @classmethod
    def from_environment(cls, config_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                         env: Mapping[str, str] | None = None) -> AlchemyService:
        return cls(load_settings(config_file=config_file, overrides=overrides, env=env))

    # ------------------------------------------------------------------ components (lazy, shared)

    @cached_property
    def store(self):
        from prompt_alchemy.storage.sqlite import SQLiteStore

        return SQLiteStore(self.loaded.database_path)

    @cached_property
    def registry(self):
        from prompt_alchemy.providers.registry import ProviderRegistry

        return ProviderRegistry(self.settings)

    @cached_property
    def embedder(self):
        from prompt_alchemy.embeddings import make_embedder

        return make_embedder(self.settings, self.registry)

    @cached_property
    def engine(self) -> Engine:
        return Engine(self.settings, self.registry, self.embedder)

    async def aclose(self) -> None:
        if "registry" in self.__dict__:
            await self.registry.aclose()
        if "store" in self.__dict__:
            self.store.close()

    # ------------------------------------------------------------------ generation

    def build_request(self, idea: str, *, phases: Any = None, count: int | None = None, persona: str | None = None,
                      target_model: str | None = None, provider: str | None = None,
                      temperature: float | None = None, max_tokens: int | None = None,
                      tags: list[str] | None = None, context_files: list[str | Path] | None = None,
                      save: bool = True) -> PromptRequest:
        """Validate everything a generation needs; raises InputError (exit 2) and touches nothing."""
        from pydantic import ValidationError

        gen = self.settings.generation
        check_length("the idea", idea, gen.max_idea_length)
        context = [self._read_context(path) for path in context_files or []]
        if sum(len(c.content) for c in context) > gen.max_context_chars:
            raise InputError(f"--context files total more than {gen.max_context_chars:,} characters "
                             f"(raise generation.max_context_chars to allow more)")
        data: dict[str, Any] = {
            "idea": idea, "count": gen.default_count if count is None else count,
            "persona": persona or gen.default_persona, "target_model": target_model or gen.default_target_model,
            "provider": provider, "temperature": temperature, "max_tokens": max_tokens, "tags": tags or [],
            "context": context, "save": save}
        if phases is not None:
            data["phases"] = phases
        try:
            request = PromptRequest(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            msg = err["msg"].removeprefix("Value error, ")
            raise InputError(f"invalid {field}: {msg}") from None
        resolve_persona(request.persona, self.settings)
        if request.provider:
            self.registry.check_name(request.provider)
        return request

    @staticmethod
    def _read_context(path: str | Path) -> ContextItem:
        p = Path(path).expanduser()
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            raise InputError(f"cannot read --context file {path}: {reason}") from None
        return ContextItem(source=str(p), content=text, context_type="file")

    async def generate(self, request: PromptRequest, progress: ProgressCallback | None = None) -> GenerationResult:
        """Run the phases and, unless `save` is off, store the whole session in one transaction."""
        persona = resolve_persona(request.persona, self.settings)
        result = await self.engine.run(request, persona, progress)
        if request.save:
            roots = [p for p in result.prompts if p.parent_id is None]
            contexts = {p.id: request.context for p in roots} if request.context else None
            self.store.save_session(result.prompts, contexts, result.metrics)
            result.saved = True
        return result

    # ------------------------------------------------------------------ library (basic)

    def get_prompt(self, prompt_id: str) -> Prompt:
        prompt = self.store.get_prompt(prompt_id)
        if prompt is None:
            raise NotFoundError(f"no prompt with id '{prompt_id}'")
        return prompt

    # ------------------------------------------------------------------ configuration

    def config_problems(self) -> list[str]:
        return semantic_problems(self.settings)


def check_configuration(config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the configuration (file and environment), one line each."""
    return validate_config(config_file, env=os.environ if env is None else env)
