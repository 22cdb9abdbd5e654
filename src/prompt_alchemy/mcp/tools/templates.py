"""Using stored prompts: fill a prompt's template variables (for agents that call tools but not MCP prompts), and
the labels that name versions."""

from typing import Annotated

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.mcp.tools._common import ToolContext, service, text_result, tool_errors


async def render_prompt(
    id: Annotated[
        str,
        Field(
            min_length=1,
            description="The prompt id, a unique prefix of at least 4 characters, " "or a label such as 'production'.",
        ),
    ],
    ctx: ToolContext,
    variables: Annotated[
        dict[str, str] | None,
        Field(
            description="A value for each of the prompt's {variables}, by name. Every variable needs one; call with "
            "raw=true to see which the prompt has."
        ),
    ] = None,
    raw: Annotated[bool, Field(description="Return the template unfilled, with its variable names.")] = False,
) -> CallToolResult:
    """Fill a stored prompt's {variables} (or {{variables}}) and return the text, ready to send to a model. A
    missing or unknown variable is an error naming each one."""
    svc = service(ctx)
    with tool_errors():
        rendered = await svc.render_prompt(id, variables or {}, raw=raw, missing_hint=" (pass them in 'variables')")
    return text_result(
        {
            "id": rendered.prompt.id,
            "labels": rendered.labels,
            "raw": raw,
            "text": rendered.text,
            "variables": rendered.variables,
            "values": rendered.values,
        },
        rendered.text,
        json_ready=True,
    )


async def list_labels(ctx: ToolContext) -> CallToolResult:
    """The labels (names such as 'production' that point at one prompt version) and the version each points at.
    Any tool that takes a prompt id also takes a label."""
    with tool_errors():
        labels = await service(ctx).list_labels()
    lines = [f"{lb['name']} → {lb['prompt_id']}" for lb in labels] or ["no labels"]
    return text_result({"labels": labels}, "\n".join(lines))
