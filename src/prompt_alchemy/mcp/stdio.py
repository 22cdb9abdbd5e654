"""The MCP server over stdio, answering malformed JSON-RPC the way the HTTP transport does.

The SDK's stdio transport drops a line it cannot validate (invalid JSON, `params` of the wrong type, a lone
surrogate escape) without a reply, so the client waits forever. Here every line is checked first: a request that
cannot be read gets a JSON-RPC error reply (-32700 parse error, -32600 invalid request, -32602 invalid params) with
its id when the id can be read, and a line without an id gets a parse-error reply with id null. Valid lines go to
the SDK unchanged. Nothing but protocol messages is ever written to stdout.
"""

from __future__ import annotations

import json
import sys
from io import TextIOWrapper
from typing import TYPE_CHECKING, Any, cast

from prompt_alchemy.logging_setup import get_logger

if TYPE_CHECKING:
    import anyio
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from mcp_types import JSONRPCMessage

log = get_logger("mcp.stdio")


def error_reply(line: str, exc: Exception) -> Any | None:
    """The JSON-RPC error for a line that the SDK cannot validate, or None when no reply is due (a malformed
    notification or response: JSON-RPC answers neither)."""
    import mcp_types as types

    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return _error(None, types.PARSE_ERROR, "Parse error: the line is not valid JSON")
    detail = _first_error(exc)
    if not isinstance(message, dict):
        return _error(None, types.INVALID_REQUEST, "Invalid Request: a JSON-RPC message is a JSON object")
    raw_id = message.get("id")
    msg_id = raw_id if isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool)) else None
    if "method" not in message:
        log.warning("ignored a malformed JSON-RPC response from the client: %s", detail)
        return None
    if "id" not in message:
        log.warning("ignored a malformed JSON-RPC notification: %s", detail)
        return None
    if _has_lone_surrogate(message):
        return _error(
            msg_id,
            types.INVALID_PARAMS,
            "Invalid params: a string holds a lone UTF-16 surrogate escape, which is not a character",
        )
    params = message.get("params")
    if "params" in message and not isinstance(params, (dict, type(None))):
        return _error(msg_id, types.INVALID_PARAMS, "Invalid params: params must be an object")
    if msg_id is None:
        return _error(None, types.INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    return _error(msg_id, types.INVALID_REQUEST, f"Invalid Request: {detail}")


def _error(msg_id: Any, code: int, message: str) -> Any:
    import mcp_types as types

    return types.JSONRPCError(jsonrpc="2.0", id=msg_id, error=types.ErrorData(code=code, message=message))


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            return f"{loc}: {first.get('msg')}"[:200] if loc else str(first.get("msg"))[:200]
        except Exception:  # noqa: BLE001 - only a description
            pass
    return str(exc).splitlines()[0][:200]


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


class _CheckedLines:
    """An async text stream for the SDK's stdio transport that yields only the lines it can validate; for the
    others it queues the error reply."""

    def __init__(self, source: Any, replies: Any) -> None:
        self.source = source
        self.replies = replies

    def __aiter__(self):
        return self._lines()

    async def _lines(self):
        import mcp_types as types

        async for line in self.source:
            if not line.strip():
                continue
            try:
                message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                if (
                    isinstance(message, types.JSONRPCNotification) and '"id"' in line and "id" in json.loads(line)
                ):  # a request whose id is neither a string nor an integer
                    raise ValueError("id must be a string or an integer")
            except Exception as exc:  # noqa: BLE001 - every invalid line gets a reply (or a log line)
                reply = error_reply(line, exc)
                if reply is not None:
                    await self.replies.send(reply)
                continue
            yield line


async def run_stdio(server: Any) -> None:
    """Serve `server` (an MCPServer) over stdin/stdout, replying to malformed JSON-RPC with errors."""
    import anyio
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    lowlevel = getattr(server, "_lowlevel_server", None)
    if lowlevel is None:  # a future SDK without the hook: its own transport (no replies to malformed lines)
        await server.run_stdio_async()
        return
    send_reply: MemoryObjectSendStream[JSONRPCMessage]
    replies: MemoryObjectReceiveStream[JSONRPCMessage]
    send_reply, replies = anyio.create_memory_object_stream(16)
    stdin = anyio.wrap_file(TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    # the transport only iterates over its stdin's lines, which is all _CheckedLines offers
    checked = cast("anyio.AsyncFile[str]", _CheckedLines(stdin, send_reply))
    async with stdio_server(stdin=checked) as (read_stream, write_stream):

        async def forward_replies() -> None:
            async with replies:
                async for reply in replies:
                    await write_stream.send(SessionMessage(reply))

        async with anyio.create_task_group() as tg:
            tg.start_soon(forward_replies)
            try:
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
            finally:
                send_reply.close()
                tg.cancel_scope.cancel()
