"""The MCP server: the tools (`mcp/tools/`, thin typed adapters over the same AlchemyService methods the CLI calls),
the stored prompts as `prompt://ID` resources, and labelled and best-scored prompts as MCP prompts whose arguments
are their template variables (`mcp/prompts.py`).

Tools return a readable text summary plus structured content; failures come back as `isError` results whose text
says what was wrong and what to do. Over HTTP a tool runs only when the request's API key has the scope the tool
needs (`TOOL_SCOPES`); otherwise the call is an `isError` result naming that scope. The server's lifespan yields
its `ServerState` (the service and what requests share), which a tool reads from its context. Nothing here writes
to stdout: in stdio mode stdout is the protocol.

Imported only when a server is built (`prompt-alchemy serve`, tests): it loads the MCP SDK.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, GetPromptResult, InputRequiredResult, Resource
from mcp_types import Prompt as MCPPrompt

from prompt_alchemy import __version__
from prompt_alchemy.errors import AlchemyError, NotFoundError
from prompt_alchemy.mcp.prompts import prompt_name as _prompt_name
from prompt_alchemy.mcp.tools import TOOL_SCOPES, register_tools
from prompt_alchemy.mcp.tools._common import SEARCH_SLOTS, ServerState, prompt_dict, short

if TYPE_CHECKING:
    from prompt_alchemy.mcp.notifications import ClientHub
    from prompt_alchemy.services import AlchemyService

__all__ = ["SEARCH_SLOTS", "SERVER_NAME", "AlchemyMCPServer", "ServerState", "build_server"]

SERVER_NAME = "prompt-alchemy"
INSTRUCTIONS = (
    "Prompt Alchemy turns a raw idea into refined, ready-to-use LLM prompts through three phases: prima-materia "
    "(extract the essence), solutio (natural language) and coagulatio (the precise final prompt). Use "
    "generate_prompts for one idea and batch_generate for many; generated prompts are saved in a searchable "
    "library. Stored prompts are resources at prompt://ID."
)
RECENT_RESOURCES = 100


def build_server(service: AlchemyService) -> AlchemyMCPServer:
    """An MCPServer whose tools, resources and prompts all call `service`."""
    from prompt_alchemy.config import PROVIDER_NAMES

    server = AlchemyMCPServer(ServerState(service))
    register_tools(server, {"persona": tuple(service.persona_names()), "provider": PROVIDER_NAMES})
    server.resource(
        "prompt://{prompt_id}",
        name="stored-prompt",
        title="Stored prompt",
        mime_type="application/json",
        description="A stored prompt with its metadata; the id may be a unique prefix.",
    )(read_prompt)
    from prompt_alchemy.mcp import completions, notifications

    server.hub = notifications.install(server, service)  # logging, subscriptions, list_changed
    completions.install(server, service)
    return server


class AlchemyMCPServer(MCPServer[ServerState]):
    """The SDK's server, refusing unknown tool arguments, with the library in the resource list and the best
    prompts (by rating, then score) in the prompt list."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.hub: ClientHub | None = None

        @asynccontextmanager
        async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
            if self.hub is None:
                yield state
                return
            async with self.hub.running():
                yield state

        super().__init__(
            SERVER_NAME,
            title="Prompt Alchemy",
            version=__version__,
            instructions=INSTRUCTIONS,
            log_level="WARNING",
            lifespan=lifespan,
        )

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[ServerState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Unknown arguments are an error, not silently dropped: a client that sends one (a misspelt option, or
        `examples_path` from an older version) must learn that it was not used."""
        tool = self._tool_manager.get_tool(name) if hasattr(self, "_tool_manager") else None
        if tool is None and hasattr(self, "_tool_manager"):  # the client's mistake: invalid params
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {short(str(name), 80)}; tools/list names them")
        refusal = scope_refusal(str(name), request_key(context))
        if refusal is not None:
            raise ToolError(refusal)
        if tool is not None and isinstance(arguments, dict):
            known = set((tool.parameters or {}).get("properties", {}))
            unknown = sorted(str(k) for k in arguments if k not in known)
            if known and unknown:
                raise ToolError(
                    f"unknown argument(s) for {name}: {short(', '.join(unknown), 120)}; it takes: "
                    f"{', '.join(sorted(known))}"
                )
        from prompt_alchemy import telemetry

        with telemetry.attached(request_scope(context)):  # the tool's spans under the HTTP request's server span
            return await super().call_tool(name, arguments, context)

    async def list_resources(self) -> list[Resource]:
        listed = await super().list_resources()
        for p in await self.state.service.list_prompts(limit=RECENT_RESOURCES):
            listed.append(
                Resource(
                    uri=f"prompt://{p.id}",
                    name=_prompt_name(p),
                    title=short(p.title or p.content, 80),
                    mime_type="application/json",
                    description=f"{p.phase.value if p.phase else 'prompt'} · {p.provider or p.source_type}"
                    + (f" · score {p.score:.2f}" if p.score is not None else ""),
                )
            )
        return listed

    async def list_prompts(self) -> list[MCPPrompt]:
        from prompt_alchemy.mcp.prompts import list_stored_prompts

        return [*await super().list_prompts(), *await list_stored_prompts(self.state.service)]

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[ServerState, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        from prompt_alchemy.mcp.prompts import get_stored_prompt

        unknown = f"Unknown prompt: {short(str(name), 80)}; list the prompts again (the top prompts change)"
        if self._prompt_manager.get_prompt(name):
            return await super().get_prompt(name, arguments, context)
        result = await get_stored_prompt(self.state.service, str(name or ""), arguments)
        if result is None:  # the client's mistake, not a server failure
            raise MCPError(INVALID_PARAMS, unknown)
        return result


def request_scope(context: Any) -> dict[str, Any] | None:
    """The ASGI scope of the HTTP request behind a tool call, or None (stdio, or a direct call)."""
    try:
        request = context.request_context.request if context is not None else None
    except ValueError:  # no request context (a direct call)
        return None
    scope = getattr(request, "scope", None)
    return scope if isinstance(scope, dict) else None


def request_key(context: Any) -> Any:
    """The API key of the HTTP request behind a tool call (the team server's authentication puts it in the
    request's `scope["user"]`, an api.auth.ApiKeyUser), or None: over stdio, or over HTTP without a key where none
    is required."""
    scope = request_scope(context)
    return getattr(scope.get("user"), "key", None) if scope is not None else None


def scope_refusal(tool: str, key: Any) -> str | None:
    """Why `key` may not call `tool` (its scope is below the tool's in TOOL_SCOPES), or None when it may. No key
    (stdio, the local user) may call every tool."""
    from prompt_alchemy.services.access import scope_allows

    needed = TOOL_SCOPES.get(tool, "write")
    if key is None or scope_allows(key.scope, needed):
        return None
    return (
        f"the key '{key.name}' has scope '{key.scope}'; the tool {tool} needs scope '{needed}' (use a key "
        f"created with --scope {needed})"
    )


async def read_prompt(prompt_id: str, ctx: Context[ServerState, Any]) -> str:
    """The `prompt://{prompt_id}` resource: a stored prompt with its metadata, its name and version (null when it
    has no name) and the labels pointing at it, as JSON."""
    service = ctx.request_context.lifespan_context.service
    try:
        prompt = await service.get_prompt(prompt_id)
    except NotFoundError as exc:
        raise ResourceNotFoundError(str(exc)) from None
    except AlchemyError as exc:
        raise ResourceError(str(exc)) from None
    named = (await service.names_for([prompt.id])).get(prompt.id)
    data = prompt_dict(prompt)
    data["name"], data["version"] = named if named else (None, None)
    data["labels"] = (await service.labels_for([prompt.id])).get(prompt.id, [])
    return json.dumps(data, ensure_ascii=False, indent=2)
