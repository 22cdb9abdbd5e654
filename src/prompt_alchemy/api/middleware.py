"""The team server's pure ASGI middleware (pure so that event streams pass through unbuffered):

- `RequestContext`: the request id (the caller's `X-Request-Id` when it is sane, else a new one) in the log
  context, in `request.state.request_id` and on every answer; the server span (a child of the caller's
  traceparent); the access log line and the HTTP metrics, labelled by `request.state.route` (a closed set: the
  route templates, or `other`) and by a known method (else `other`).
- `HostOriginGuard`: the Host must name this server (421) and a browser's Origin must be one of its names (403),
  as server/hosts.py parses them; the probes are exempt (kubelet sends the pod's IP).
- `BodyCap`: a request body is read before anything else sees it and refused with a JSON 413 as soon as it passes
  the cap (at once when Content-Length says so, else when the bytes counted while a chunked body streams pass it);
  nothing larger is ever buffered.

Every refusal is the JSON error shape (`api.errors.error_response`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prompt_alchemy import telemetry
from prompt_alchemy.api.errors import ApiError, error_response
from prompt_alchemy.api.logs import request_id
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.server.hosts import HostPolicy

access_log = get_logger("http.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def state(scope: Scope) -> dict[str, Any]:
    """The request's state (what `request.state` reads and writes)."""
    value: dict[str, Any] = scope.setdefault("state", {})
    return value


class RequestContext:
    """Request id, server span, access log and HTTP metrics around every HTTP request (see the module docstring).
    `route_label(path)` is the metrics label until a route sets `request.state.route` itself."""

    def __init__(self, app: ASGIApp, *, route_label: Callable[[str], str]) -> None:
        self.app = app
        self.route_label = route_label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        request_state = state(scope)
        request_state["request_id"] = rid
        request_state["route"] = self.route_label(scope["path"])
        started = time.perf_counter()
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            with telemetry.server_span(scope, headers, lambda: status[0], lambda: request_state["route"]):
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            telemetry.observe_http(request_state["route"], method, status[0], elapsed)
            user = scope.get("user")
            actor = user.display_name if user is not None and user.is_authenticated else None
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status[0],
                elapsed * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status[0],
                    "duration_ms": round(elapsed * 1000, 2),
                    "actor": actor,
                },
            )
            request_id.reset(token)


class HostOriginGuard:
    """421 for a Host that does not name this server, 403 for another site's Origin; `exempt` paths pass."""

    def __init__(self, app: ASGIApp, *, policy: HostPolicy, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.policy = policy
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            refusal = self.refusal(Headers(scope=scope))
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: Headers) -> ApiError | None:
        if not self.policy.allows_host(headers.get("host")):
            return ApiError(
                "misdirected_request", "the Host header does not name this server (see " "server.allowed_hosts)"
            )
        if not self.policy.allows_origin(headers.get("origin")):
            return ApiError("forbidden", "requests from this Origin are not allowed (see server.allowed_hosts)")
        return None


class BodyCap:
    """Reads a request's body up to `cap(path)` bytes and replays it to the app; a JSON 413 past the cap."""

    def __init__(self, app: ASGIApp, *, cap: Callable[[str], int]) -> None:
        self.app = app
        self.cap = cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                receive = await read_body(receive, Headers(scope=scope), self.cap(scope["path"]))
            except ApiError as refusal:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def read_body(receive: Receive, headers: Headers, cap: int) -> Receive:
    """Read the request's body (at most `cap` bytes) and return a `receive` that replays it, then passes on.
    ApiError 413 as soon as Content-Length or the bytes counted so far pass `cap`: nothing larger is buffered.
    A request that announces no body is passed on unread (a GET that opens an event stream)."""
    declared = headers.get("content-length")
    if declared is None and "chunked" not in headers.get("transfer-encoding", "").lower():
        return receive
    too_large = ApiError(
        "payload_too_large",
        f"the request body is larger than {cap // (1024 * 1024)} MiB",
        headers={"Connection": "close"},
    )
    if declared is not None and declared.strip().isdigit() and int(declared) > cap:
        raise too_large
    body = bytearray()
    pending: list[Message] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client left: the app sees it after what arrived
            pending.append(message)
            break
        chunk = message.get("body", b"")
        if len(body) + len(chunk) > cap:
            raise too_large
        body += chunk
        more = bool(message.get("more_body", False))
    pending.insert(0, {"type": "http.request", "body": bytes(body), "more_body": more})

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
