"""Learning tools: rate prompts, train the learned ranking model, and report on it."""

from typing import Annotated

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.mcp.tools._common import ToolContext, service, text_result, tool_errors
from prompt_alchemy.render import learning_status_lines, pattern_lines


async def rate_prompt(
    id: Annotated[str, Field(min_length=1, description="The prompt id or a unique prefix.")],
    score: Annotated[int, Field(ge=1, le=5, description="1 (useless) to 5 (excellent).")],
    ctx: ToolContext,
    comment: Annotated[str | None, Field(max_length=5000, description="Why: kept with the rating.")] = None,
) -> CallToolResult:
    """Rate a stored prompt from 1 to 5 (recorded with source mcp). Ratings teach the ranker what a good
    prompt is for this user: the nightly training adopts a model only when it ranks held-out feedback
    better."""
    with tool_errors():
        row = await service(ctx).rate(id, score, comment=comment, source="mcp")
    return text_result(row.model_dump(mode="json"), f"rated {row.prompt_id} {row.rating}/5")


async def train_model(
    ctx: ToolContext,
    dry_run: Annotated[bool, Field(description="Fit and validate only; adopt and store nothing.")] = False,
) -> CallToolResult:
    """Train the learned ranking model on the ratings and choices given so far. The new model is adopted
    only if it ranks held-out feedback better than the current ranker; the report says why or why not."""
    with tool_errors():
        report = await service(ctx).train(dry_run, trigger="mcp")
    summary = (
        f"{report.reason} (validation accuracy {report.current_accuracy:.3f} -> "
        f"{report.candidate_accuracy:.3f} on {report.validation_pairs} pair(s))"
    )
    return text_result(report.model_dump(mode="json"), summary)


async def learning_status(ctx: ToolContext) -> CallToolResult:
    """The learned ranking model: the active version with its validation metrics, the feedback it was trained
    on and the features that matter most; recent versions; feedback given so far against what training
    needs; the training schedule and the last training attempt."""
    with tool_errors():
        data = await service(ctx).learning_status()
    return text_result(data, "\n".join(learning_status_lines(data, "train it with train_model")))


async def learning_patterns(ctx: ToolContext) -> CallToolResult:
    """Which characteristics of a prompt go with high and with low ratings: sections present, length band,
    opening form ('You are...', 'I want you to act as...', an imperative), examples, {variables}, persona,
    provider, model, target and phase. Each with counts, the mean rating with and without it (95% interval of
    the difference) and the share rated 4 or more (95% Wilson interval); characteristics with too few rated
    prompts are listed as thin and not judged."""
    with tool_errors():
        report = await service(ctx).learning_patterns()
    return text_result(report.model_dump(mode="json"), "\n".join(pattern_lines(report)))
