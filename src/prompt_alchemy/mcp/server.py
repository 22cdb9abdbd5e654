"""The MCP server: every tool is a thin, typed adapter over the same AlchemyService methods the CLI calls.

Tools return a readable text summary plus structured content; failures come back as `isError` results whose text
says what was wrong and what to do. Stored prompts are readable as `prompt://ID` resources, and the best-scored
prompts are offered as MCP prompts. Nothing here writes to stdout: in stdio mode stdout is the protocol.

(No `from __future__ import annotations` here: the SDK reads the tool signatures at runtime, and some of their
types - the persona and provider enums - are built from the configuration when the server is made.)
"""

import asyncio
import json
import os
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field

from prompt_alchemy import __version__
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.observability import get_logger
from prompt_alchemy.security import redact

log = get_logger("mcp")

T = TypeVar("T")

SERVER_NAME = "prompt-alchemy"
INSTRUCTIONS = (
    "Prompt Alchemy turns a raw idea into refined, ready-to-use LLM prompts through three phases: prima-materia "
    "(extract the essence), solutio (natural language) and coagulatio (the precise final prompt). Use "
    "generate_prompts for one idea and batch_generate for many; generated prompts are saved in a searchable "
    "library. Stored prompts are resources at prompt://ID.")
PhaseName = Literal["prima-materia", "solutio", "coagulatio", "idea", "human", "precision"]
TOP_PROMPTS = 20
# Searches run at most one per core at a time: each is CPU-bound (~10 ms), so running a burst all at once only makes
# every call finish at the end of it; in turn, the first calls of a burst finish early (same total work).
SEARCH_SLOTS = max(2, os.cpu_count() or 1)
RECENT_RESOURCES = 100


def _fail(exc: BaseException) -> Exception:
    """An anticipated failure as a tool error whose text a model can act on (secrets redacted)."""
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(redact(str(exc)))


def _text(data: Any, summary: str, *, json_ready: bool = False):
    """A tool result: a readable summary for the model plus the structured data. Data of unknown shape goes through
    one JSON round trip (datetimes, paths and tuples become strings and lists); `json_ready` data, built from JSON
    types only, is used as it is."""
    from mcp_types import CallToolResult, TextContent

    structured = data if json_ready else json.loads(json.dumps(data, default=str))
    return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=structured)


class _ProgressRelay:
    """Turns the engine's synchronous progress callbacks into MCP progress notifications, in order. A no-op on the
    wire when the client sent no progress token."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.queue: asyncio.Queue[tuple[float, float | None, str] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def __call__(self, progress: float, total: float | None, message: str) -> None:
        self.queue.put_nowait((progress, total, message))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while (item := await self.queue.get()) is not None:
            try:
                await self.ctx.report_progress(*item)
            except Exception as exc:  # noqa: BLE001 - a lost notification must not fail the call
                log.debug("progress notification not sent: %s", exc)

    async def aclose(self, *, flush: bool) -> None:
        if self.task is None:
            return
        if flush:
            self.queue.put_nowait(None)
            await self.task
        else:
            self.task.cancel()


def _prompt_dict(p: Any) -> dict[str, Any]:
    """The public fields of a stored prompt (no embedding)."""
    return p.model_dump(mode="json", exclude={"embedding", "generation_request", "generation_context"})


def _short(text: str, n: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "prompt"


def build_server(service: Any) -> Any:
    """An MCPServer whose tools, resources and prompts all call `service` (an AlchemyService)."""
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
    from mcp_types import CallToolResult, ToolAnnotations

    from prompt_alchemy.config import PROVIDER_NAMES
    from prompt_alchemy.errors import NotFoundError
    from prompt_alchemy.models import BatchItem, BatchReport, SearchFilters

    persona_names = tuple(service.persona_names())
    PersonaName = Literal[persona_names]  # type: ignore[valid-type]
    ProviderName = Literal[PROVIDER_NAMES]  # type: ignore[valid-type]

    class AlchemyMCPServer(MCPServer):
        """Adds the library to the resource list and the best prompts (by rating, then score) to the prompt
        list."""

        async def call_tool(self, name, arguments, context=None):  # type: ignore[override]
            """Unknown arguments are an error, not silently dropped: a client that sends one (a misspelt option,
            or `examples_path` from an older version) must learn that it was not used."""
            from mcp.server.mcpserver.exceptions import ToolError

            tool = self._tool_manager.get_tool(name) if hasattr(self, "_tool_manager") else None
            if tool is not None and isinstance(arguments, dict):
                known = set((tool.parameters or {}).get("properties", {}))
                unknown = sorted(str(k) for k in arguments if k not in known)
                if known and unknown:
                    raise ToolError(f"unknown argument(s) for {name}: {_short(', '.join(unknown), 120)}; it takes: "
                                    f"{', '.join(sorted(known))}")
            return await super().call_tool(name, arguments, context)

        async def list_resources(self):  # type: ignore[override]
            from mcp_types import Resource

            listed = await super().list_resources()
            for p in service.list_prompts(limit=RECENT_RESOURCES):
                listed.append(Resource(
                    uri=f"prompt://{p.id}", name=f"{_slug(p.title or p.content)}-{p.id[:8]}",
                    title=_short(p.title or p.content, 80), mime_type="application/json",
                    description=f"{p.phase.value if p.phase else 'prompt'} · {p.provider or p.source_type}"
                                + (f" · score {p.score:.2f}" if p.score is not None else "")))
            return listed

        async def list_prompts(self):  # type: ignore[override]
            from mcp_types import Prompt as MCPPrompt

            listed = await super().list_prompts()
            for p in service.top_prompts(TOP_PROMPTS):
                listed.append(MCPPrompt(
                    name=_prompt_name(p), title=_short(p.title or p.content, 80), arguments=[],
                    description=f"stored prompt {p.id} · "
                                + (f"score {p.score:.2f}" if p.score is not None else "unscored")
                                + f" · {p.phase.value if p.phase else p.source_type}"))
            return listed

        async def get_prompt(self, name, arguments=None, context=None):  # type: ignore[override]
            from mcp_types import GetPromptResult, PromptMessage, TextContent

            from mcp.shared.exceptions import MCPError
            from mcp_types import INVALID_PARAMS

            match = re.fullmatch(r".*-([0-9a-f]{8})", name or "")
            unknown = f"Unknown prompt: {_short(str(name), 80)}; list the prompts again (the top prompts change)"
            if self._prompt_manager.get_prompt(name) or match is None:
                try:
                    return await super().get_prompt(name, arguments, context)
                except MCPError:
                    raise
                except ValueError:  # the SDK's "unknown prompt": the client's mistake, not a server failure
                    raise MCPError(INVALID_PARAMS, unknown) from None
            prompt = next((p for p in service.top_prompts(TOP_PROMPTS) if p.id.startswith(match.group(1))), None)
            if prompt is None:
                raise MCPError(INVALID_PARAMS, unknown)
            return GetPromptResult(
                description=f"stored prompt {prompt.id}",
                messages=[PromptMessage(role="user", content=TextContent(type="text", text=prompt.content))])

    def _prompt_name(p: Any) -> str:
        return f"{_slug(p.title or p.content)}-{p.id[:8]}"

    server = AlchemyMCPServer(SERVER_NAME, title="Prompt Alchemy", version=__version__, instructions=INSTRUCTIONS,
                              log_level="WARNING")

    def tool(title: str, *, read_only: bool = False, destructive: bool = False, open_world: bool = False):
        """Register a tool; its docstring, reflowed to one paragraph, is the description a model reads."""
        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            server.add_tool(fn, title=title, description=" ".join((fn.__doc__ or "").split()),
                            annotations=ToolAnnotations(title=title, read_only_hint=read_only,
                                                        destructive_hint=destructive, open_world_hint=open_world))
            return fn
        return decorator

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a service method (sync or async) and turn anticipated failures into tool errors."""
        try:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        except AlchemyError as exc:
            raise _fail(exc) from exc

    search_slots = asyncio.Semaphore(SEARCH_SLOTS)

    # ------------------------------------------------------------------ generation

    @tool("Generate prompts", open_world=True)
    async def generate_prompts(
        idea: Annotated[str, Field(min_length=1, description="The raw idea to turn into prompts.")],
        ctx: Context,
        phases: Annotated[list[PhaseName] | None, Field(
            description="Phases to run, in order (default: all three). Aliases: idea, human, precision.")] = None,
        count: Annotated[int | None, Field(ge=1, le=10, description="Variants per phase, 1-10.")] = None,
        persona: Annotated[PersonaName | None, Field(description="Persona that shapes every phase.")] = None,
        target_model: Annotated[str | None, Field(
            max_length=200, description="The model the final prompt is for, e.g. claude-sonnet-4 or gpt-4o.")] = None,
        provider: Annotated[ProviderName | None, Field(
            description="Use this provider for every phase (default: each phase's configured provider).")] = None,
        temperature: Annotated[float | None, Field(ge=0, le=2, description="Temperature for every phase.")] = None,
        max_tokens: Annotated[int | None, Field(ge=1, le=200_000, description="Max tokens per call.")] = None,
        tags: Annotated[list[str] | None, Field(description="Tags to store with the prompts.")] = None,
        max_cost: Annotated[float | None, Field(
            gt=0, description="Refuse the run when its estimated cost exceeds this many USD.")] = None,
        save: Annotated[bool, Field(description="Store the prompts in the library (default true).")] = True,
    ) -> CallToolResult:
        """Turn a raw idea into refined prompts through the alchemical phases (prima-materia -> solutio ->
        coagulatio). Returns every variant of every phase with its id, and the best final prompt. Sends one
        progress notification per finished phase call when the request carries a progress token."""
        request = await call(service.build_request, idea, phases=phases, count=count, persona=persona,
                             target_model=target_model, provider=provider, temperature=temperature,
                             max_tokens=max_tokens, tags=tags, save=save, max_cost=max_cost)
        relay = _ProgressRelay(ctx)
        total = len(request.phases) * request.count

        def on_phase(event: Any) -> None:
            relay(event.done, total, f"{event.phase.value} · variant {event.variant + 1} done")

        ok = False
        try:
            result = await call(service.generate, request, on_phase)
            ok = True
        finally:
            await relay.aclose(flush=ok)
        data = result.public_dict()
        best = result.best
        lines = [f"Generated {len(result.prompts)} prompt(s) for session {result.session_id}"
                 + (" (saved)" if result.saved else " (not saved)") + "."]
        if best is not None:
            lines += [f"Best final prompt ({best.id}, score {best.score:.2f}):", "", best.content, ""]
        lines.append("All prompts: " + ", ".join(f"{p.phase.value}[{p.variant + 1}] {p.id}" for p in result.prompts))
        lines += [f"note: {e}" for e in result.events]
        return _text(data, "\n".join(lines))

    @tool("Batch generate", open_world=True)
    async def batch_generate(
        items: Annotated[list[BatchItem], Field(
            min_length=1, max_length=100,
            description="Ideas to generate, each with optional per-item options (phases, count, persona, "
                        "target_model, provider, temperature, max_tokens, tags).")],
        ctx: Context,
        workers: Annotated[int, Field(ge=1, le=8, description="Items generated at the same time.")] = 2,
        save: Annotated[bool, Field(description="Store the prompts in the library (default true).")] = True,
    ) -> Annotated[CallToolResult, BatchReport]:
        """Generate prompts for many ideas at once, at most `workers` at a time. Every item is validated before
        anything runs; a failing item is reported and the others go on. Sends one progress notification per
        finished item when the request carries a progress token."""
        relay = _ProgressRelay(ctx)

        def on_item(item: Any, done: int, total: int) -> None:
            relay(done, total, f"item {item.index}: {item.status}")

        ok = False
        try:
            report = await call(service.batch_generate, items, workers=workers, save=save, progress=on_item)
            ok = True
        finally:
            await relay.aclose(flush=ok)
        lines = [f"{report.generated} of {report.total} item(s) generated, {report.failed} failed."]
        for item in report.items:
            if item.status == "ok":
                lines.append(f"{item.index}. ok · best {item.best_id} · {_short(item.idea, 50)}\n{item.best or ''}")
            else:
                lines.append(f"{item.index}. {item.status}: {item.error} · {_short(item.idea, 50)}")
        return _text(report.model_dump(mode="json"), "\n".join(lines))

    # ------------------------------------------------------------------ library

    @tool("Search prompts", read_only=True)
    async def search_prompts(
        query: Annotated[str, Field(min_length=1, description="Words or a description of the prompt you want.")],
        mode: Annotated[Literal["hybrid", "semantic", "text"], Field(
            description="hybrid (words and meaning fused), semantic (meaning only) or text (words only).")
        ] = "hybrid",
        filters: Annotated[SearchFilters | None, Field(
            description="Restrict before ranking: phase, provider, model, persona, tags (all must match), since/"
                        "until (ISO date or an age like 7d), min_rating, session_id, source_type.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="How many results, best first.")] = 10,
    ) -> CallToolResult:
        """Search the prompt library by words and/or meaning, with optional filters. Returns the best matches
        with their ids, scores and content; read one in full with get_prompt."""
        async with search_slots:
            results = await call(service.search, query, mode=mode, filters=filters, limit=limit)
        items = [r.public_dict() for r in results]
        lines = [f"{len(items)} result(s) for '{_short(query, 60)}' ({mode}):"]
        for n, r in enumerate(results, 1):
            p = r.prompt
            lines.append(f"{n}. {p.id} · {p.phase.value if p.phase else p.source_type} · score {r.score:.4f}"
                         + (f" · tags {', '.join(p.tags)}" if p.tags else "") + f"\n   {_short(p.content, 160)}")
        return _text({"query": query, "mode": mode, "count": len(items), "results": items}, "\n".join(lines),
                     json_ready=True)

    @tool("Get prompt", read_only=True)
    async def get_prompt(
        id: Annotated[str, Field(min_length=1, description="The prompt id, or a unique prefix of at least 4 "
                                                          "characters.")],
        include_lineage: Annotated[bool, Field(
            description="Also return the prompts it was made from (ancestors) and made into (descendants).")] = True,
    ) -> CallToolResult:
        """Read one stored prompt in full, with its metadata and, by default, its lineage across the phases
        and edits."""
        prompt = await call(service.get_prompt, id)
        data: dict[str, Any] = {"prompt": _prompt_dict(prompt)}
        lines = [f"{prompt.id} · {prompt.phase.value if prompt.phase else prompt.source_type} · "
                 f"{prompt.provider or '-'}/{prompt.model or '-'}"
                 + (f" · score {prompt.score:.2f}" if prompt.score is not None else ""), "", prompt.content]
        if include_lineage:
            family = await call(service.lineage, prompt.id)

            def brief(p: Any) -> dict[str, Any]:
                return {"id": p.id, "phase": p.phase.value if p.phase else None, "variant": p.variant,
                        "parent_id": p.parent_id, "enhancement_method": p.enhancement_method,
                        "created_at": p.created_at.isoformat(), "content": p.content}

            data["lineage"] = {k: [brief(p) for p in v] for k, v in family.items()}
            for key in ("ancestors", "descendants"):
                if family[key]:
                    lines += ["", f"{key}:"] + [f"- {p.id} ({p.phase.value if p.phase else p.enhancement_method})"
                                               for p in family[key]]
        return _text(data, "\n".join(lines))

    @tool("Update prompt", destructive=False)
    async def update_prompt(
        id: Annotated[str, Field(min_length=1, description="The prompt id or a unique prefix.")],
        content: Annotated[str | None, Field(min_length=1, description="New text of the prompt.")] = None,
        tags: Annotated[list[str] | None, Field(description="Replace the tags with these.")] = None,
        notes: Annotated[str | None, Field(description="Replace the notes (empty string clears them).")] = None,
    ) -> CallToolResult:
        """Edit a stored prompt's content, tags or notes. The edit is saved as a new version linked to the old
        one (which is kept); returns the new version and its id."""
        new = await call(service.update_prompt, id, content=content, tags=tags, notes=notes)
        return _text({"prompt": _prompt_dict(new), "previous_id": new.parent_id},
                     f"saved {new.id} as a new version of {new.parent_id}")

    @tool("Delete prompt", destructive=True)
    async def delete_prompt(
        id: Annotated[str, Field(min_length=1, description="The prompt id or a unique prefix.")],
    ) -> CallToolResult:
        """Permanently delete a stored prompt with its vector, context, metrics and feedback; prompts made from
        it are relinked to its parent."""
        full = await call(service.resolve_id, id)
        await call(service.delete_prompt, full)
        return _text({"deleted": full}, f"deleted {full}")

    @tool("Get metrics", read_only=True)
    async def get_metrics(
        since: Annotated[str | None, Field(description="Only since this ISO date/datetime or age (e.g. 7d).")] = None,
        phase: Annotated[PhaseName | None, Field(description="Only this phase.")] = None,
        provider: Annotated[ProviderName | None, Field(description="Only this provider.")] = None,
    ) -> CallToolResult:
        """Usage report: prompts by phase, provider, model, persona and day; tokens and cost; per-phase latency
        p50/p95; provider latency and error rates; database size."""
        report = await call(service.metrics_report, since=since, phase=phase, provider=provider)
        prompts, totals = report.get("prompts", {}), report.get("totals", {})
        lines = [f"{prompts.get('total', 0)} prompt(s); {totals.get('calls', 0)} provider call(s), "
                 f"{totals.get('input_tokens', 0)} input + {totals.get('output_tokens', 0)} output tokens, "
                 f"${totals.get('cost_usd', 0.0):.4f}, {totals.get('failovers', 0)} failover(s)"]
        for name, entry in report.get("providers", {}).items():
            lines.append(f"- {name}: {entry['calls']} call(s), error rate {entry['error_rate']:.1%}, "
                         f"p50 {entry['p50_ms']} ms")
        return _text(report, "\n".join(lines))

    # ------------------------------------------------------------------ ranking

    @tool("Optimize prompt", open_world=True)
    async def optimize_prompt(
        task: Annotated[str, Field(min_length=1, description="What the prompt must get a model to do.")],
        ctx: Context,
        id: Annotated[str | None, Field(description="A stored prompt to improve (id or unique prefix).")] = None,
        prompt: Annotated[str | None, Field(min_length=1, description="Or the text of a prompt to improve.")] = None,
        max_iterations: Annotated[int, Field(ge=1, le=20, description="Rounds of critique and rewrite.")] = 3,
        target_score: Annotated[float | None, Field(
            gt=0, le=1, description="Stop once the best prompt scores at least this (0-1).")] = None,
        max_cost: Annotated[float | None, Field(gt=0, description="Stop before spending more than this (USD).")
                            ] = None,
        metric: Annotated[Literal["auto", "judge", "accuracy", "loglik"], Field(
            description="judge (AI rubric), or with examples: accuracy or loglik (auto picks).")] = "auto",
        examples: Annotated[list[dict[str, Any]] | None, Field(
            max_length=2000,
            description="Examples to measure the prompt on: objects with \"input\" and \"expected\" (optional "
                        "\"match\": exact, contains or regex; \"split\": propose or heldout). The score is "
                        "then measured on held-out examples.")] = None,
        examples_file: Annotated[str | None, Field(
            max_length=255,
            description="Or the name of a JSONL examples file in the server's examples folder (server.examples_dir; "
                        "a file name, not a path).")] = None,
        provider: Annotated[ProviderName | None, Field(description="Provider that critiques and rewrites.")] = None,
        save: Annotated[bool, Field(description="Store every candidate in the library (default true).")] = True,
    ) -> CallToolResult:
        """Improve a prompt for a task: evaluate it, then in each round critique it and rewrite it, keeping the
        best candidate. Give a stored prompt's id or the prompt text. Sends a progress notification per step
        when the request carries a progress token."""
        relay = _ProgressRelay(ctx)
        steps = 0

        def on_step(message: str) -> None:
            nonlocal steps
            steps += 1
            relay(steps, None, message)

        ok = False
        try:
            result = await call(service.optimize, prompt_id=id, prompt=prompt, task=task,
                                examples=examples, examples_file=examples_file, max_iterations=max_iterations,
                                target_score=target_score, max_cost=max_cost, metric=metric, provider=provider,
                                save=save, progress=on_step)
            ok = True
        finally:
            await relay.aclose(flush=ok)
        best, seed = result.best, result.seed
        score = (lambda v: "unscored" if v is None else f"{v:.3f}")
        lines = [f"{'Improved' if result.improved else 'No improvement'} after {result.iterations} round(s) "
                 f"({result.stop_reason}, metric {result.metric}): seed {score(seed.score)} -> best "
                 f"{score(best.score)}; best prompt {best.prompt_id}" + (" (saved)" if result.saved else ""), ""]
        lines += [f"- {change}" for change in result.changes]
        lines += ["", best.content]
        return _text(result.model_dump(mode="json"), "\n".join(lines))

    # ------------------------------------------------------------------ feedback (issue 6: learning)

    @tool("Rate prompt")
    async def rate_prompt(
        id: Annotated[str, Field(min_length=1, description="The prompt id or a unique prefix.")],
        score: Annotated[int, Field(ge=1, le=5, description="1 (useless) to 5 (excellent).")],
        comment: Annotated[str | None, Field(max_length=5000, description="Why: kept with the rating.")] = None,
    ) -> CallToolResult:
        """Rate a stored prompt from 1 to 5 (recorded with source mcp). Ratings teach the ranker what a good
        prompt is for this user: the nightly training adopts a model only when it ranks held-out feedback
        better."""
        row = await call(service.rate, id, score, comment=comment, source="mcp")
        return _text(row.model_dump(mode="json"), f"rated {row.prompt_id} {row.rating}/5")

    @tool("Train ranking model", destructive=False)
    async def train_model(
        dry_run: Annotated[bool, Field(description="Fit and validate only; adopt and store nothing.")] = False,
    ) -> CallToolResult:
        """Train the learned ranking model on the ratings and choices given so far. The new model is adopted
        only if it ranks held-out feedback better than the current ranker; the report says why or why not."""
        report = await call(service.train, dry_run, trigger="mcp")
        summary = (f"{report.reason} (validation accuracy {report.current_accuracy:.3f} -> "
                   f"{report.candidate_accuracy:.3f} on {report.validation_pairs} pair(s))")
        return _text(report.model_dump(mode="json"), summary)

    @tool("Learning status", read_only=True)
    async def learning_status() -> CallToolResult:
        """The learned ranking model: the active version with its validation metrics, the feedback it was trained
        on and the features that matter most; recent versions; feedback given so far against what training
        needs; the training schedule and the last training attempt."""
        data = await call(service.learning_status)
        from prompt_alchemy.ranking.learning import status_lines

        return _text(data, "\n".join(status_lines(data, "train it with train_model")))

    # ------------------------------------------------------------------ providers

    @tool("Get providers", read_only=True, open_world=True)
    async def get_providers(
        check: Annotated[bool, Field(
            description="Also contact each configured provider (host reachable, key accepted).")] = False,
    ) -> CallToolResult:
        """List the LLM providers: whether each is configured and available (and why not), its default model,
        the phases it serves, embedding support and price. With check=true each configured provider is
        contacted."""
        rows = await call(service.providers_status, check=check)
        lines = []
        for row in rows:
            state = "available" if row.get("available") else f"unavailable ({row.get('reason')})"
            phases = ", ".join(f"{ph} ({info['role']})" for ph, info in (row.get("phases") or {}).items())
            line = f"- {row['name']}: {state} · model {row.get('default_model')}" + (f" · {phases}" if phases else "")
            probe = row.get("check")
            if probe:
                line += f" · check {'ok' if probe['ok'] else 'FAILED'}: {probe['detail']}"
            lines.append(line)
        return _text({"providers": rows}, "\n".join(lines) or "no providers")

    # ------------------------------------------------------------------ configuration

    @tool("Validate configuration", read_only=True)
    async def validate_config() -> CallToolResult:
        """Check the configuration file and environment the server runs with; lists every problem (unknown
        settings, bad values, unknown providers or personas, missing API keys)."""
        config_file, problems = await call(service.validate_configuration)
        data = {"config_file": str(config_file), "valid": not problems, "problems": problems}
        summary = (f"configuration is valid ({config_file})" if not problems else
                   f"{len(problems)} problem(s) in {config_file}:\n" + "\n".join(f"- {p}" for p in problems))
        return _text(data, summary)

    # ------------------------------------------------------------------ resources

    @server.resource("prompt://{prompt_id}", name="stored-prompt", title="Stored prompt",
                     mime_type="application/json",
                     description="A stored prompt with its metadata; the id may be a unique prefix.")
    async def read_prompt(prompt_id: str) -> str:
        try:
            prompt = service.get_prompt(prompt_id)
        except NotFoundError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        except AlchemyError as exc:
            raise ResourceError(str(exc)) from None
        return json.dumps(_prompt_dict(prompt), ensure_ascii=False, indent=2)

    return server
