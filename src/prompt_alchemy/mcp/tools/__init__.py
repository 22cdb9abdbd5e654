"""The MCP tools: module-level typed functions, one module per capability, all registered by `register_tools`.

Each tool is a thin adapter over the service: it reaches the service through the lifespan context, calls it, and
returns a readable summary plus the structured data. Its docstring, reflowed to one paragraph, is the description a
model reads; its annotations are the input schema. Anticipated failures (AlchemyError) come back as tool errors.

`TOOLS` is also the one place that says which API-key scope each tool needs over HTTP (`scope`: read for the tools
that only read, write for the rest, as on the REST API; generation needs write even unsaved, since it spends
provider budget). The server checks it before a tool runs (`AlchemyMCPServer.call_tool`); stdio, the local user,
has every tool.
"""

import functools
import inspect
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from prompt_alchemy.mcp.tools import generation, jobs, learning, library, ranking, setup, templates
from prompt_alchemy.mcp.tools._common import Choices

__all__ = ["TOOLS", "TOOL_SCOPES", "ToolSpec", "register_tools"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool function with the hints a client shows beside it, and the key scope it needs over HTTP (a tool
    without one needs write)."""

    fn: Callable[..., Any]
    title: str
    read_only: bool = False
    destructive: bool = False
    open_world: bool = False
    scope: Literal["read", "write", "admin"] = "write"


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(generation.generate_prompts, "Generate prompts", open_world=True, scope="write"),
    ToolSpec(generation.batch_generate, "Batch generate", open_world=True, scope="write"),
    ToolSpec(library.search_prompts, "Search prompts", read_only=True, scope="read"),
    ToolSpec(library.get_prompt, "Get prompt", read_only=True, scope="read"),
    ToolSpec(library.update_prompt, "Update prompt", scope="write"),
    ToolSpec(library.delete_prompt, "Delete prompt", destructive=True, scope="write"),
    ToolSpec(library.get_metrics, "Get metrics", read_only=True, scope="read"),
    ToolSpec(templates.render_prompt, "Render prompt", read_only=True, scope="read"),
    ToolSpec(templates.list_labels, "List labels", read_only=True, scope="read"),
    ToolSpec(ranking.optimize_prompt, "Optimize prompt", open_world=True, scope="write"),
    ToolSpec(learning.rate_prompt, "Rate prompt", scope="write"),
    ToolSpec(learning.train_model, "Train ranking model", scope="write"),
    ToolSpec(learning.learning_status, "Learning status", read_only=True, scope="read"),
    ToolSpec(learning.learning_patterns, "Learning patterns", read_only=True, scope="read"),
    ToolSpec(setup.get_providers, "Get providers", read_only=True, open_world=True, scope="read"),
    ToolSpec(setup.validate_config, "Validate configuration", read_only=True, scope="read"),
    ToolSpec(jobs.submit_batch, "Submit a batch job", open_world=True, scope="write"),
    ToolSpec(jobs.job_status, "Job status", read_only=True, scope="read"),
    ToolSpec(jobs.list_jobs, "List jobs", read_only=True, scope="read"),
    ToolSpec(jobs.cancel_job, "Cancel a job", destructive=True, scope="write"),
    ToolSpec(jobs.retry_job, "Retry a job", open_world=True, scope="write"),
)

#: The scope each tool needs from an HTTP client's API key, by tool name.
TOOL_SCOPES: dict[str, str] = {spec.fn.__name__: spec.scope for spec in TOOLS}


def register_tools(server: MCPServer, choices: Mapping[str, Sequence[str]]) -> None:
    """Add every tool to `server`. `choices` gives the allowed values of each `Choices` kind (persona, provider)
    for this server."""
    for spec in TOOLS:
        server.add_tool(
            with_choices(spec.fn, choices),
            title=spec.title,
            description=" ".join((spec.fn.__doc__ or "").split()),
            annotations=ToolAnnotations(
                title=spec.title,
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                open_world_hint=spec.open_world,
            ),
        )


def with_choices(fn: Callable[..., Any], choices: Mapping[str, Sequence[str]]) -> Callable[..., Any]:
    """`fn` as the SDK should see it: every parameter marked `Choices(kind)` narrowed to a `Literal` of
    `choices[kind]`. A function without such parameters is returned as it is; otherwise a wrapper with the narrowed
    signature, so the module-level function stays the same for every server."""
    signature = inspect.signature(fn, eval_str=True)
    params = [p.replace(annotation=_narrow(p.annotation, choices)) for p in signature.parameters.values()]
    if all(new.annotation is old.annotation for new, old in zip(params, signature.parameters.values())):
        return fn

    @functools.wraps(fn)
    async def tool(*args: Any, **kwargs: Any) -> Any:
        return await fn(*args, **kwargs)

    tool.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    tool.__annotations__ = {**fn.__annotations__, **{p.name: p.annotation for p in params}}
    return tool


def _narrow(tp: Any, choices: Mapping[str, Sequence[str]]) -> Any:
    """`tp` with every `Annotated[str, Choices(kind)]` inside it replaced by `Literal[*choices[kind]]`."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        marks = [m for m in meta if isinstance(m, Choices)]
        rest = [m for m in meta if not isinstance(m, Choices)]
        narrowed = Literal[tuple(choices[marks[0].kind])] if marks else _narrow(base, choices)
        if narrowed is base and not marks:
            return tp
        return Annotated[(narrowed, *rest)] if rest else narrowed
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        narrowed_args = tuple(_narrow(a, choices) for a in args)
        return tp if all(n is a for n, a in zip(narrowed_args, args)) else Union[narrowed_args]  # noqa: UP007  (a union built at run time)
    if origin is list:
        (item,) = get_args(tp)
        narrowed = _narrow(item, choices)
        return tp if narrowed is item else types.GenericAlias(list, (narrowed,))
    return tp
