"""The MCP server's streamable HTTP app: the SDK's transport, answering each request the cheapest way the client
allows.

The SDK answers every request POST either with an SSE stream (needed to carry progress notifications before the
result) or, with `json_response=True`, with one plain JSON body (progress notifications are then dropped). The
plain body costs about half the server CPU of the stream and much less client CPU, so this app chooses per
request: a request that carries a progress token gets the SSE stream and its notifications; a request without one
(most calls: search, get, list, ...) gets the plain JSON body. The tools send nothing else tied to a request (no
log notifications, no sampling or elicitation), so a request without a progress token has nothing to stream.

The choice is made before the SDK sees the request (the body is read once and replayed) and is handed to the
SDK's transport through a context variable that its `is_json_response_enabled` attribute reads, request by
request. If a future SDK no longer offers the session hook this uses, every request gets the SDK's default
(the SSE stream), which is always correct.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any

from prompt_alchemy.logging_setup import get_logger

log = get_logger("mcp.http")

MCP_PATH = "/mcp"
# Requests answered by a single result: a plain JSON body unless a progress token asks for notifications.
PLAIN_METHODS = frozenset(
    {
        "tools/call",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "ping",
    }
)
MAX_PEEK_BYTES = 1 << 20  # larger bodies are not parsed twice: they get the SDK's default reply (its limit: 4 MiB)

_plain_reply: ContextVar[bool] = ContextVar("prompt_alchemy_mcp_plain_reply", default=False)


def wants_plain_reply(body: bytes) -> bool:
    """Whether a POSTed JSON-RPC message is a request that can be answered with one JSON body: a method from
    PLAIN_METHODS and no progress token in `params._meta`."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # the SDK answers it (a parse error, 400)
        return False
    if not isinstance(message, dict) or "id" not in message or message.get("method") not in PLAIN_METHODS:
        return False
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return not (isinstance(meta, dict) and meta.get("progressToken") is not None)


LOOPBACK = ("127.0.0.1", "localhost", "::1")
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


def transport_security(host: str, allowed_hosts: list[str]) -> Any:
    """The Host/Origin checks (DNS-rebinding protection): on loopback, the loopback names plus `allowed_hosts`;
    beyond loopback, `allowed_hosts` (server.allowed_hosts) plus loopback, or no check at all when none are
    configured (the caller warns loudly)."""
    from mcp.server.transport_security import TransportSecuritySettings

    if not is_loopback(host) and not allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = list(dict.fromkeys(_LOOPBACK_HOSTS + list(allowed_hosts)))
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_http_app(server: Any, *, host: str, allowed_hosts: list[str] | None = None, host_checks: bool = True) -> Any:
    """The ASGI app serving `server` (an MCPServer) at /mcp, plus its custom routes (checked against the same
    Host/Origin rules), choosing the reply form per request (see the module docstring). With
    `host_checks=False` nothing here checks Host/Origin: the app in front does (the team server, server/hosts.py)."""
    from mcp.server.streamable_http import StreamableHTTPServerTransport
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings

    security = (
        transport_security(host, allowed_hosts or [])
        if host_checks
        else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host, transport_security=security)
    guard = TransportSecurityMiddleware(security)
    manager = server.session_manager
    if type(manager) is not StreamableHTTPSessionManager or not callable(getattr(manager, "_admit_session", None)):
        log.info("this MCP SDK offers no per-session transport hook; every request is answered with an SSE stream")
        return _ReplyChooser(app, guard, choose=False)

    class _Transport(StreamableHTTPServerTransport):
        """The SDK's transport; its JSON-or-SSE switch is read per request from `_plain_reply`."""

        @property
        def is_json_response_enabled(self) -> bool:
            return _plain_reply.get()

        @is_json_response_enabled.setter
        def is_json_response_enabled(self, value: bool) -> None:
            """The base constructor sets it once; here it is decided per request."""

    class _SessionManager(StreamableHTTPSessionManager):
        """The SDK's session manager; every session it opens gets `_Transport` (a subclass that adds only the
        property, so the object the SDK built is used as it is)."""

        def _admit_session(self, requestor: Any) -> Any:
            transport = super()._admit_session(requestor)
            if transport is not None:
                transport.__class__ = _Transport
            return transport

    manager.__class__ = _SessionManager
    return _ReplyChooser(app, guard)


class _ReplyChooser:
    """ASGI middleware: checks Host/Origin of the routes outside /mcp (the SDK checks /mcp itself); reads a POST
    /mcp body, decides the reply form for the request, and replays the body to the app with the decision set in
    `_plain_reply` for this request's task."""

    def __init__(self, app: Any, guard: Any, *, choose: bool = True) -> None:
        self.app = app
        self.guard = guard
        self.choose = choose

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") != MCP_PATH:
            from starlette.requests import Request

            refused = await self.guard.validate_request(Request(scope), is_post=False)
            if refused is not None:
                await refused(scope, receive, send)
                return
        if (
            not self.choose
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].rstrip("/") != MCP_PATH
        ):
            await self.app(scope, receive, send)
            return
        messages: list[dict[str, Any]] = []
        size, complete = 0, False
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                complete = True
                break
            if size > MAX_PEEK_BYTES:
                break
        plain = (
            complete and size <= MAX_PEEK_BYTES and wants_plain_reply(b"".join(m.get("body", b"") for m in messages))
        )

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        token = _plain_reply.set(plain)
        try:
            await self.app(scope, replay, send)
        finally:
            _plain_reply.reset(token)
