"""Ranking tools: optimize a prompt for a task."""

from typing import Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.mcp.tools._common import ProgressRelay, ProviderName, ToolContext, service, text_result, tool_errors


def _score(value: float | None) -> str:
    return "unscored" if value is None else f"{value:.3f}"


async def optimize_prompt(
    task: Annotated[str, Field(min_length=1, description="What the prompt must get a model to do.")],
    ctx: ToolContext,
    id: Annotated[str | None, Field(description="A stored prompt to improve (id or unique prefix).")] = None,
    prompt: Annotated[str | None, Field(min_length=1, description="Or the text of a prompt to improve.")] = None,
    max_iterations: Annotated[int, Field(ge=1, le=20, description="Rounds of critique and rewrite.")] = 3,
    target_score: Annotated[
        float | None, Field(gt=0, le=1, description="Stop once the best prompt scores at least this (0-1).")
    ] = None,
    max_cost: Annotated[float | None, Field(gt=0, description="Stop before spending more than this (USD).")] = None,
    metric: Annotated[
        Literal["auto", "judge", "accuracy", "loglik"],
        Field(description="judge (AI rubric), or with examples: accuracy or loglik (auto picks)."),
    ] = "auto",
    examples: Annotated[
        list[dict[str, Any]] | None,
        Field(
            max_length=2000,
            description='Examples to measure the prompt on: objects with "input" and "expected" (optional '
            '"match": exact, contains or regex; "split": propose or heldout). The score is '
            "then measured on held-out examples.",
        ),
    ] = None,
    examples_file: Annotated[
        str | None,
        Field(
            max_length=255,
            description="Or the name of a JSONL examples file in the server's examples folder (server.examples_dir; "
            "a file name, not a path).",
        ),
    ] = None,
    provider: Annotated[ProviderName | None, Field(description="Provider that critiques and rewrites.")] = None,
    save: Annotated[bool, Field(description="Store every candidate in the library (default true).")] = True,
) -> CallToolResult:
    """Improve a prompt for a task: evaluate it, then in each round critique it and rewrite it, keeping the
    best candidate. Give a stored prompt's id or the prompt text. Sends a progress notification per step
    when the request carries a progress token."""
    relay = ProgressRelay(ctx)
    steps = 0

    def on_step(message: str) -> None:
        nonlocal steps
        steps += 1
        relay(steps, None, message)

    ok = False
    try:
        with tool_errors():
            result = await service(ctx).optimize(
                prompt_id=id,
                prompt=prompt,
                task=task,
                examples=examples,
                examples_file=examples_file,
                max_iterations=max_iterations,
                target_score=target_score,
                max_cost=max_cost,
                metric=metric,
                provider=provider,
                save=save,
                progress=on_step,
            )
        ok = True
    finally:
        await relay.aclose(flush=ok)
    best, seed = result.best, result.seed
    lines = [
        f"{'Improved' if result.improved else 'No improvement'} after {result.iterations} round(s) "
        f"({result.stop_reason}, metric {result.metric}): seed {_score(seed.score)} -> best "
        f"{_score(best.score)}; best prompt {best.prompt_id}" + (" (saved)" if result.saved else ""),
        "",
    ]
    lines += [f"- {change}" for change in result.changes]
    lines += ["", best.content]
    return text_result(result.model_dump(mode="json"), "\n".join(lines))
