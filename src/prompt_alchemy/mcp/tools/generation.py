"""Generation tools: one idea (generate_prompts) or many (batch_generate)."""

import inspect
import time
from typing import Annotated, Any

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.mcp.tools._common import (
    PersonaName,
    ProgressRelay,
    ProviderName,
    ToolContext,
    service,
    short,
    text_result,
    tool_errors,
)
from prompt_alchemy.models import BatchItem, BatchReport, PromptRequest, partial_request_fields


async def generate_prompts(ctx: ToolContext, **fields: Any) -> CallToolResult:
    """Turn a raw idea into refined prompts through the alchemical phases (prima-materia -> solutio ->
    coagulatio). Returns every variant of every phase with its id, and the best final prompt. When the request
    carries a progress token, sends a progress notification per finished phase call, and the final phase's text
    as it arrives (the message holds the variant's text so far, at most every quarter second)."""
    svc = service(ctx)
    with tool_errors():  # validation only: no I/O
        request = svc.build_request(fields)
    relay = ProgressRelay(ctx)
    live = PartialText(relay, len(request.phases) * request.count, request.phases[-1])
    ok = False
    try:
        with tool_errors():
            result = await svc.generate(request, live.phase_done, on_token=live.token)
        ok = True
    finally:
        await relay.aclose(flush=ok)
    best = result.best
    lines = [
        f"Generated {len(result.prompts)} prompt(s) for session {result.session_id}"
        + (" (saved)" if result.saved else " (not saved)")
        + "."
    ]
    if best is not None:
        lines += [f"Best final prompt ({best.id}, score {best.score:.2f}):", "", best.content, ""]
    lines.append(
        "All prompts: "
        + ", ".join(f"{p.phase and p.phase.value}[{(p.variant or 0) + 1}] {p.id}" for p in result.prompts)
    )
    lines += [f"note: {e}" for e in result.events]
    return text_result(result.public_dict(), "\n".join(lines))


#: PromptRequest's fields that the tool leaves out: `context_files` names paths on the machine that reads them,
#: which over HTTP is the server, so a client could make it read its files; send the text as `context` items.
GENERATE_EXCLUDED = frozenset({"context_files"})
#: Parameters whose values are known only when the server is built (narrowed by `register_tools`).
_CHOICES = {"persona": PersonaName, "provider": ProviderName}


def request_parameters(exclude: frozenset[str]) -> list[inspect.Parameter]:
    """PromptRequest's fields as tool parameters (see `partial_request_fields`), so the SDK's input schema carries
    the same descriptions and limits; persona and provider take the server's choices."""
    params = []
    for name, (annotation, info) in partial_request_fields(exclude=exclude).items():
        if name in _CHOICES:
            annotation = Annotated[(_CHOICES[name], *PromptRequest.model_fields[name].metadata)] | None
        default = inspect.Parameter.empty if info.is_required() else info.default
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=Annotated[annotation, Field(description=info.description)],
            )
        )
    return params


generate_prompts.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=ToolContext),
        *request_parameters(GENERATE_EXCLUDED),
    ],
    return_annotation=CallToolResult,
)


class PartialText:
    """Progress notifications for generate: one per finished phase call, and between them the final phase's text
    so far (throttled). Progress rises with each notification, as the protocol requires: partial-text
    notifications take fractions between two phase counts."""

    INTERVAL = 0.25  # seconds between partial-text notifications

    def __init__(self, relay: ProgressRelay, total: int, final_phase: Any) -> None:
        self.relay = relay
        self.total = total
        self.final_phase = final_phase
        self.texts: dict[int, str] = {}
        self.done = 0
        self.partials = 0  # partial-text notifications since the last phase event
        self.sent_at = 0.0

    def phase_done(self, event: Any) -> None:
        self.done, self.partials = event.done, 0
        message = f"{event.phase.value} · variant {event.variant + 1} done"
        if event.phase == self.final_phase and event.variant in self.texts:
            message += f": {self.texts[event.variant]}"
        self.relay(event.done, self.total, message)

    def token(self, event: Any) -> None:
        text = self.texts[event.variant] = self.texts.get(event.variant, "") + event.delta
        now = time.monotonic()
        if now - self.sent_at < self.INTERVAL:
            return
        self.sent_at = now
        self.partials += 1
        progress = self.done + self.partials / (self.partials + 1)
        self.relay(progress, self.total, f"{self.final_phase.value} · variant {event.variant + 1}: {text}")


async def batch_generate(
    items: Annotated[
        list[BatchItem],
        Field(
            min_length=1,
            max_length=100,
            description="Ideas to generate, each with optional per-item options (phases, count, persona, "
            "target_model, provider, temperature, max_tokens, tags).",
        ),
    ],
    ctx: ToolContext,
    workers: Annotated[int, Field(ge=1, le=8, description="Items generated at the same time.")] = 2,
    save: Annotated[bool, Field(description="Store the prompts in the library (default true).")] = True,
) -> Annotated[CallToolResult, BatchReport]:
    """Generate prompts for many ideas at once, at most `workers` at a time. Every item is validated before
    anything runs; a failing item is reported and the others go on. Sends one progress notification per
    finished item when the request carries a progress token."""
    relay = ProgressRelay(ctx)

    def on_item(item: Any, done: int, total: int) -> None:
        relay(done, total, f"item {item.index}: {item.status}")

    ok = False
    try:
        with tool_errors():
            report = await service(ctx).batch_generate(items, workers=workers, save=save, progress=on_item)
        ok = True
    finally:
        await relay.aclose(flush=ok)
    lines = [f"{report.generated} of {report.total} item(s) generated, {report.failed} failed."]
    for item in report.items:
        if item.status == "ok":
            lines.append(f"{item.index}. ok · best {item.best_id} · {short(item.idea, 50)}\n{item.best or ''}")
        else:
            lines.append(f"{item.index}. {item.status}: {item.error} · {short(item.idea, 50)}")
    return text_result(report.model_dump(mode="json"), "\n".join(lines))
