"""Generation: validating a request, running the phases, saving the session; provider status and cost."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from prompt_alchemy.engine.engine import ProgressCallback, TokenCallback
from prompt_alchemy.engine.personas import resolve_persona
from prompt_alchemy.errors import InputError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import (
    CONFIG_DEFAULTS,
    ContextItem,
    GenerationResult,
    PromptRequest,
    SearchFilters,
)
from prompt_alchemy.security import MAX_CONTEXT_BYTES, check_length, read_text_file
from prompt_alchemy.services._common import _MAX_EXAMPLE_CHARS, mask_result_secrets
from prompt_alchemy.services.access import AuditLog, Call, Written, audited
from prompt_alchemy.services.app import App
from prompt_alchemy.services.library import LibraryService

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings
    from prompt_alchemy.providers.registry import ProviderRegistry

_log = get_logger("services")


def _validated(data: dict[str, Any]) -> PromptRequest:
    """`data` as a PromptRequest, or an InputError naming the first field that is wrong."""
    try:
        return PromptRequest(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "request"
        msg = err["msg"].removeprefix("Value error, ")
        raise InputError(f"invalid {field}: {msg}") from None


def _generated(result: GenerationResult, call: Call) -> Written:
    if not result.saved:
        return None
    return [result.session_id, *(p.id for p in result.prompts)], f"{len(result.prompts)} prompt(s)"


class GenerationService:
    """Generate prompts from an idea, and report on the providers that serve it. It reads the library (for
    example prompts, and to refuse a library it cannot write) through the library service."""

    def __init__(self, app: App, library: LibraryService, audit: AuditLog) -> None:
        self.app = app
        self.library = library
        self.audit = audit

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def registry(self) -> ProviderRegistry:
        return self.app.registry

    def build_request(self, fields: Mapping[str, Any] | str, /, **more: Any) -> PromptRequest:
        """Validate a partial request; raises InputError (exit 2) and touches nothing. `fields` maps PromptRequest's
        field names to values (or is just the idea), `more` adds to it. A field that is missing or None takes its
        default: from the `generation` settings for the fields of `CONFIG_DEFAULTS`, else PromptRequest's.
        `context_files` are read here and join `context` as items."""
        data: dict[str, Any] = {"idea": fields} if isinstance(fields, str) else dict(fields)
        data.update(more)
        data = {name: value for name, value in data.items() if value is not None}
        gen = self.settings.generation
        for name, setting in CONFIG_DEFAULTS.items():
            if name not in data and getattr(gen, setting) is not None:
                data[name] = getattr(gen, setting)
        if isinstance(data.get("idea"), str):
            check_length("the idea", data["idea"], gen.max_idea_length)
        files = data.pop("context_files", None) or []
        if files:
            data["context"] = [*data.get("context", []), *(self._read_context(path) for path in files)]
        request = _validated(data)
        if sum(len(c.content) for c in request.context) > gen.max_context_chars:
            raise InputError(
                f"the context totals more than {gen.max_context_chars:,} characters "
                f"(raise generation.max_context_chars to allow more)"
            )
        resolve_persona(request.persona, self.settings)
        if request.provider:
            self.registry.check_name(request.provider)
        if request.judge:  # fail before any call when no judge can run
            from prompt_alchemy.ranking.judge import judge_chain

            judge_chain(self.registry, self.settings)
        return request

    @staticmethod
    def _read_context(path: str | Path) -> ContextItem:
        text = read_text_file(path, "--context file", limit=MAX_CONTEXT_BYTES)
        return ContextItem(source=str(Path(path).expanduser()), content=text, context_type="file")

    @audited(
        "generate",
        targets=lambda call: [call["session_id"]] if call["session_id"] else [],
        written=_generated,
        failures=lambda call: bool(call["request"].save),
    )
    async def generate(
        self,
        request: PromptRequest,
        progress: ProgressCallback | None = None,
        *,
        session_id: str | None = None,
        on_token: TokenCallback | None = None,
    ) -> GenerationResult:
        """Run the phases and, unless `save` is off, store the whole session in one transaction. `progress` hears
        of each finished phase call; `on_token` receives the final phase's text as it arrives (see
        :class:`TokenEvent`)."""
        if request.save:
            self.library.check_writable()
        persona = resolve_persona(request.persona, self.settings)
        if request.max_cost is not None:  # refuse a run whose estimate exceeds the limit
            estimate = self.estimate_cost(request)
            if estimate > request.max_cost:
                from prompt_alchemy.errors import CostLimitError

                _log.info(
                    "budget stop: the estimated cost $%.4f exceeds max-cost $%g; nothing generated",
                    estimate,
                    request.max_cost,
                )
                raise CostLimitError(
                    f"the estimated cost ${estimate:.4f} exceeds --max-cost ${request.max_cost:g}; "
                    f"lower --count or --max-tokens, choose a cheaper model, or raise the limit"
                )
        examples = await self._rated_examples(request.idea) if self.settings.generation.include_context else []
        if examples:  # top-rated similar library prompts as examples for the phases
            request = request.model_copy(update={"context": [*request.context, *examples]})
        read_cache = request.use_cache and (request.save or self.app.library_exists())
        import time

        from prompt_alchemy import telemetry

        started = time.perf_counter()
        with (
            telemetry.span(
                "generate", **{"prompt_alchemy.variants": request.count, "prompt_alchemy.persona": persona.name}
            ),
            self.registry.run_options(
                read_cache=read_cache, write_cache=request.save, max_cost=request.max_cost
            ) as gateway,
        ):
            result = await self.app.engine.run(request, persona, progress, session_id=session_id, on_token=on_token)
            telemetry.annotate(**{"prompt_alchemy.session_id": result.session_id})
        telemetry.observe_generation(result, time.perf_counter() - started)
        if examples:
            result.events.append(
                f"the phases were given {len(examples)} top-rated similar library prompt(s) as "
                f"examples (generation.include_context)"
            )
        if gateway.cache_hits:
            total = gateway.cache_hits + gateway.calls
            result.events.append(
                f"{gateway.cache_hits} of {total} calls answered from the response cache "
                f"(--no-cache to call the providers)"
            )
        result = mask_result_secrets(result)
        if request.save:
            roots = [p for p in result.prompts if p.parent_id is None]
            contexts = {p.id: request.context for p in roots} if request.context else None
            await asyncio.to_thread(self.app.store.save_session, result.prompts, contexts, result.metrics)
            result.saved = True
        return result

    def estimate_cost(self, request: PromptRequest) -> float:
        """An upper bound on a run's cost in USD (see Engine.estimate_cost)."""
        return self.app.engine.estimate_cost(request, resolve_persona(request.persona, self.settings))

    async def providers_status(self, check: bool = False) -> list[dict[str, Any]]:
        """Every provider: configured/available, default and phase-assigned models, embedding support, price;
        with `check`, each configured provider is contacted (host reachable, key accepted)."""
        from prompt_alchemy.config import PROVIDER_NAMES
        from prompt_alchemy.providers.registry import EXPLICIT_ONLY, IMPLEMENTATIONS

        rows = [self.registry.describe(n) for n in PROVIDER_NAMES if n in IMPLEMENTATIONS]
        rows = [r for r in rows if r["name"] not in EXPLICIT_ONLY or r["phases"] or r["embedder"]]
        if check:

            async def probe(row: dict[str, Any]) -> dict[str, Any] | None:
                return await self.registry.check(row["name"]) if row["configured"] else None

            for row, outcome in zip(rows, await asyncio.gather(*(probe(r) for r in rows))):
                row["check"] = outcome
        return rows

    async def _rated_examples(self, idea: str) -> list[ContextItem]:
        """For `generation.include_context`: the library prompts most similar to the idea (by embedding) whose
        average rating is at least `generation.context_min_rating`, as example context for the phases."""

        gen = self.settings.generation
        if not self.app.library_exists():
            return []
        reason = self.app.embedder.unavailable_reason()
        if reason is not None:
            _log.warning("include_context: no examples from the library: %s", reason)
            return []
        hits = await self.library.search(
            idea, mode="semantic", filters=SearchFilters(min_rating=gen.context_min_rating), limit=gen.context_examples
        )
        ratings = self.app.store.average_ratings([h.prompt.id for h in hits])
        budget = gen.max_context_chars
        examples = []
        for hit in hits:
            text = hit.prompt.content[:_MAX_EXAMPLE_CHARS]
            if len(text) > budget:
                break
            budget -= len(text)
            avg, n = ratings.get(hit.prompt.id, (0.0, 0))
            examples.append(
                ContextItem(
                    source=f"example from the library: prompt {hit.prompt.id[:8]}, rated {avg:.1f}/5 ({n} ratings)",
                    content=text,
                    context_type="example",
                )
            )
        return examples
