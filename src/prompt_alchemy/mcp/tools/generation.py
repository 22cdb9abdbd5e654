"""Generation tools: one idea (generate_prompts) or many (batch_generate)."""

import time
from typing import Annotated, Any

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.mcp.tools._common import (PersonaName, PhaseName, ProgressRelay, ProviderName, ToolContext,
                                              service, short, text_result, tool_errors)
from prompt_alchemy.models import BatchItem, BatchReport


async def generate_prompts(
    idea: Annotated[str, Field(min_length=1, description="The raw idea to turn into prompts.")],
    ctx: ToolContext,
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
    coagulatio). Returns every variant of every phase with its id, and the best final prompt. When the request
    carries a progress token, sends a progress notification per finished phase call, and the final phase's text
    as it arrives (the message holds the variant's text so far, at most every quarter second)."""
    svc = service(ctx)
    with tool_errors():  # validation only: no I/O
        request = svc.build_request(idea, phases=phases, count=count, persona=persona, target_model=target_model,
                                    provider=provider, temperature=temperature, max_tokens=max_tokens, tags=tags,
                                    save=save, max_cost=max_cost)
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
    lines = [f"Generated {len(result.prompts)} prompt(s) for session {result.session_id}"
             + (" (saved)" if result.saved else " (not saved)") + "."]
    if best is not None:
        lines += [f"Best final prompt ({best.id}, score {best.score:.2f}):", "", best.content, ""]
    lines.append("All prompts: " + ", ".join(f"{p.phase.value}[{p.variant + 1}] {p.id}" for p in result.prompts))
    lines += [f"note: {e}" for e in result.events]
    return text_result(result.public_dict(), "\n".join(lines))


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
    items: Annotated[list[BatchItem], Field(
        min_length=1, max_length=100,
        description="Ideas to generate, each with optional per-item options (phases, count, persona, "
                    "target_model, provider, temperature, max_tokens, tags).")],
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
