"""Library tools: search, read, edit and delete stored prompts, and the usage report.

The service's library reads and writes are synchronous database calls: they run in a worker thread so the event
loop keeps serving other requests; search is async and awaited.
"""

from typing import Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.mcp.tools._common import (
    PhaseName,
    ProviderName,
    ToolContext,
    prompt_dict,
    service,
    short,
    state,
    text_result,
    tool_errors,
)
from prompt_alchemy.models import Prompt, SearchFilters
from prompt_alchemy.public_errors import public_report


async def search_prompts(
    query: Annotated[str, Field(min_length=1, description="Words or a description of the prompt you want.")],
    ctx: ToolContext,
    mode: Annotated[
        Literal["hybrid", "semantic", "text"],
        Field(description="hybrid (words and meaning fused), semantic (meaning only) or text (words only)."),
    ] = "hybrid",
    filters: Annotated[
        SearchFilters | None,
        Field(
            description="Restrict before ranking: phase, provider, model, persona, tags (all must match), since/"
            "until (ISO date or an age like 7d), min_rating, session_id, source_type."
        ),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="How many results, best first.")] = 10,
) -> CallToolResult:
    """Search the prompt library by words and/or meaning, with optional filters. Returns the best matches
    with their ids, scores and content; read one in full with get_prompt."""
    server = state(ctx)
    async with server.search_slots:
        with tool_errors():
            results = await server.service.search(query, mode=mode, filters=filters, limit=limit)
    items = [r.public_dict() for r in results]
    lines = [f"{len(items)} result(s) for '{short(query, 60)}' ({mode}):"]
    for n, r in enumerate(results, 1):
        p = r.prompt
        lines.append(
            f"{n}. {p.id} · {p.phase.value if p.phase else p.source_type} · score {r.score:.4f}"
            + (f" · tags {', '.join(p.tags)}" if p.tags else "")
            + f"\n   {short(p.content, 160)}"
        )
    return text_result(
        {"query": query, "mode": mode, "count": len(items), "results": items}, "\n".join(lines), json_ready=True
    )


def _brief(p: Prompt) -> dict[str, Any]:
    """A lineage entry: where a prompt sits in its family, and its text."""
    return {
        "id": p.id,
        "phase": p.phase.value if p.phase else None,
        "variant": p.variant,
        "parent_id": p.parent_id,
        "enhancement_method": p.enhancement_method,
        "created_at": p.created_at.isoformat(),
        "content": p.content,
    }


async def get_prompt(
    id: Annotated[
        str,
        Field(
            min_length=1,
            description="The prompt id, a unique prefix of at least 4 characters, "
            "a prompt name (its latest version), NAME@LABEL or "
            "NAME@VERSION.",
        ),
    ],
    ctx: ToolContext,
    include_lineage: Annotated[
        bool, Field(description="Also return the prompts it was made from (ancestors) and made into (descendants).")
    ] = True,
) -> CallToolResult:
    """Read one stored prompt in full, with its metadata and, by default, its lineage across the phases
    and edits."""
    svc = service(ctx)
    with tool_errors():
        prompt = await svc.get_prompt(id)
    data: dict[str, Any] = {"prompt": prompt_dict(prompt)}
    lines = [
        f"{prompt.id} · {prompt.phase.value if prompt.phase else prompt.source_type} · "
        f"{prompt.provider or '-'}/{prompt.model or '-'}"
        + (f" · score {prompt.score:.2f}" if prompt.score is not None else ""),
        "",
        prompt.content,
    ]
    if include_lineage:
        with tool_errors():
            family = await svc.lineage(prompt.id)
        data["lineage"] = {k: [_brief(p) for p in v] for k, v in family.items()}
        for key in ("ancestors", "descendants"):
            if family[key]:
                lines += ["", f"{key}:"] + [
                    f"- {p.id} ({p.phase.value if p.phase else p.enhancement_method})" for p in family[key]
                ]
    return text_result(data, "\n".join(lines))


async def update_prompt(
    id: Annotated[str, Field(min_length=1, description="The prompt id or a unique prefix.")],
    ctx: ToolContext,
    content: Annotated[str | None, Field(min_length=1, description="New text of the prompt.")] = None,
    tags: Annotated[list[str] | None, Field(description="Replace the tags with these.")] = None,
    notes: Annotated[str | None, Field(description="Replace the notes (empty string clears them).")] = None,
) -> CallToolResult:
    """Edit a stored prompt's content, tags or notes. The edit is saved as a new version linked to the old
    one (which is kept); returns the new version and its id."""
    with tool_errors():
        new = await service(ctx).update_prompt(id, content=content, tags=tags, notes=notes)
    return text_result(
        {"prompt": prompt_dict(new), "previous_id": new.parent_id},
        f"saved {new.id} as a new version of {new.parent_id}",
    )


async def delete_prompt(
    id: Annotated[str, Field(min_length=1, description="The prompt id or a unique prefix.")],
    ctx: ToolContext,
) -> CallToolResult:
    """Permanently delete a stored prompt with its vector, context, metrics and feedback; prompts made from
    it are relinked to its parent."""
    svc = service(ctx)
    with tool_errors():
        full = await svc.resolve_id(id)
        await svc.delete_prompt(full)
    return text_result({"deleted": full}, f"deleted {full}")


async def get_metrics(
    ctx: ToolContext,
    since: Annotated[str | None, Field(description="Only since this ISO date/datetime or age (e.g. 7d).")] = None,
    phase: Annotated[PhaseName | None, Field(description="Only this phase.")] = None,
    provider: Annotated[ProviderName | None, Field(description="Only this provider.")] = None,
) -> CallToolResult:
    """Usage report: prompts by phase, provider, model, persona and day; tokens and cost; per-phase latency
    p50/p95; provider latency and error rates; database size."""
    with tool_errors():
        report = public_report(await service(ctx).metrics_report(since=since, phase=phase, provider=provider))
    prompts, totals = report.get("prompts", {}), report.get("totals", {})
    lines = [
        f"{prompts.get('total', 0)} prompt(s); {totals.get('calls', 0)} provider call(s), "
        f"{totals.get('input_tokens', 0)} input + {totals.get('output_tokens', 0)} output tokens, "
        f"${totals.get('cost_usd', 0.0):.4f}, {totals.get('failovers', 0)} failover(s)"
    ]
    for name, entry in report.get("providers", {}).items():
        lines.append(
            f"- {name}: {entry['calls']} call(s), error rate {entry['error_rate']:.1%}, " f"p50 {entry['p50_ms']} ms"
        )
    return text_result(report, "\n".join(lines))
