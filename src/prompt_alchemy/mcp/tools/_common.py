"""What the tool modules share: the server state a tool reaches through the lifespan context, the argument types,
the result builder, the failure mapping and the progress relay.

(No `from __future__ import annotations` in the tool modules: the SDK reads their signatures at runtime.)
"""

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent

from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.public_errors import public_message

if TYPE_CHECKING:
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.services import AlchemyService

log = get_logger("mcp")

# Searches run at most one per core at a time: each is CPU-bound (~10 ms), so running a burst all at once only makes
# every call finish at the end of it; in turn, the first calls of a burst finish early (same total work).
SEARCH_SLOTS = max(2, os.cpu_count() or 1)


@dataclass
class ServerState:
    """What every request of one server shares; the server's lifespan yields it, so a tool reads it as
    `ctx.request_context.lifespan_context`."""

    service: "AlchemyService"
    search_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SEARCH_SLOTS))


ToolContext = Context[ServerState, Any]


def state(ctx: ToolContext) -> ServerState:
    """The server state of the request `ctx` belongs to."""
    return ctx.request_context.lifespan_context


def service(ctx: ToolContext) -> "AlchemyService":
    """The application service every tool adapts."""
    return state(ctx).service


# ------------------------------------------------------------------ argument types

PhaseName = Literal["prima-materia", "solutio", "coagulatio", "idea", "human", "precision"]


class Choices:
    """Marks a `str` parameter whose allowed values are known only when the server is built (the configured
    personas, the registered providers): registration narrows it to a `Literal` of those values, so the schema
    lists them and anything else is rejected before the tool runs."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"Choices({self.kind!r})"


PersonaName = Annotated[str, Choices("persona")]
ProviderName = Annotated[str, Choices("provider")]


# ------------------------------------------------------------------ results and failures


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn anticipated failures (AlchemyError) into tool errors whose text a model can act on, secrets
    redacted and the server's folders named, not shown (public_errors); anything else stays an unexpected failure."""
    try:
        yield
    except AlchemyError as exc:
        raise ToolError(public_message(str(exc))) from exc


def text_result(data: Any, summary: str, *, json_ready: bool = False) -> CallToolResult:
    """A tool result: a readable summary for the model plus the structured data. Data of unknown shape goes through
    one JSON round trip (datetimes, paths and tuples become strings and lists); `json_ready` data, built from JSON
    types only, is used as it is."""
    structured = data if json_ready else json.loads(json.dumps(data, default=str))
    return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=structured)


def prompt_dict(p: "Prompt") -> dict[str, Any]:
    """The public fields of a stored prompt (no embedding)."""
    return p.model_dump(mode="json", exclude={"embedding", "generation_request", "generation_context"})


def short(text: str, n: int = 70) -> str:
    """`text` on one line, cut to `n` characters."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class ProgressRelay:
    """Turns the engine's synchronous progress callbacks into MCP progress notifications, in order. A no-op on the
    wire when the client sent no progress token."""

    def __init__(self, ctx: ToolContext) -> None:
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
