"""The team server's front door: one ASGI app in front of the MCP app that adds the REST API (/api/v1, its
OpenAPI schema and docs), /metrics, API keys with per-key rate limits on REST and on MCP over HTTP, request ids,
access logs and HTTP metrics, the probes /livez and /readyz, the Host/Origin checks and the request-body cap.
Everything else (/mcp, /health) goes to the MCP app unchanged.

Every request but the probes is checked against server.allowed_hosts (server/hosts.py: parsed, never compared by
prefix); a refusal is the JSON error shape (421 for the Host, 403 for the Origin). A request body is read here,
before anything else sees it, and refused with a JSON 413 as soon as it passes the cap: at once when Content-Length
says so, else when the bytes counted while streaming (a chunked body) pass it; nothing larger is ever buffered.
Metrics labels come from closed sets (known routes, known methods; the rest is `other`).

Keys are required whenever the server is bound beyond loopback, and on loopback when `server.require_auth` is
set; a key that is sent is always checked (a wrong one is refused even where none is required). Every request
with a key counts against the key's rate limit: a fixed window of a minute, counted by the store (on PostgreSQL
one UPSERT shared by every replica). A read key may connect to /mcp; each tool then checks the scope it needs
(the table in mcp/tools), with the key this request carries (scope["pa_key"]).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from prompt_alchemy.api.errors import ApiError, from_exception, validation_message
from prompt_alchemy.api.logs import request_id
from prompt_alchemy.api.routes import ENDPOINTS, PREFIX, Call, Endpoint
from prompt_alchemy.observability import get_logger

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService
    from prompt_alchemy.services.access import ApiKey

log = get_logger("http")
access_log = get_logger("http.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MCP_SCOPE = "read"  # to connect; each MCP tool then needs its own scope (mcp/tools TOOLS)
MAX_BODY = 24 * 1024 * 1024  # a REST request body
MAX_MCP_BODY = 4 * 1024 * 1024  # any other request body (a JSON-RPC message to /mcp): the MCP SDK's own limit
PROBES = ("/livez", "/readyz")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
READY_TIMEOUT_S = 2.5  # /readyz answers within the probe's timeoutSeconds (3) even when a check hangs


def error_response(err: ApiError) -> Any:
    from starlette.responses import JSONResponse

    from prompt_alchemy.public_errors import public_message

    body = {"error": {"code": err.code, "message": public_message(err.message), "request_id": request_id.get()}}
    headers = dict(err.headers)
    if err.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="prompt-alchemy"')
    return JSONResponse(body, status_code=err.status, headers=headers)


class TeamServer:
    """ASGI: REST API, /metrics, auth and observability in front of `inner` (the MCP app)."""

    def __init__(self, inner: Any, service: AlchemyService, *, host: str) -> None:
        from prompt_alchemy import __version__, telemetry
        from prompt_alchemy.mcp.http import MCP_PATH, is_loopback
        from prompt_alchemy.server.hosts import HostPolicy

        self.inner = inner
        allowed = list(service.settings.server.allowed_hosts)
        self.hosts = HostPolicy(allowed, check=is_loopback(host) or bool(allowed))
        self.service = service
        self.version = __version__
        cfg = service.settings.server
        self.require_auth = bool(cfg.require_auth) or not is_loopback(host)
        self.metrics_require_auth = bool(cfg.metrics_require_auth)
        self.default_rate = cfg.rate_limit_per_minute
        self.mcp_path = MCP_PATH
        #: key id -> time.monotonic() until which the key's window is full: its refusals are answered here, without
        #: counting again (the count only grows until the window closes, so no other server can admit it sooner).
        self.refused_until: dict[str, float] = {}
        self.search_slots = asyncio.Semaphore(4)
        self.api = self._build_api()
        self._openapi: bytes | None = None
        telemetry.enable_metrics()

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        from prompt_alchemy import telemetry

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        started = time.perf_counter()
        status = [500]

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", rid.encode())]}
            await send(message)

        scope["pa_route"] = self._route_label(scope["path"])
        try:
            with telemetry.server_span(scope, headers, lambda: status[0]):  # a child of the caller's traceparent
                await self._dispatch(scope, receive, send_with_id, headers)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            telemetry.observe_http(scope.get("pa_route", "other"), method, status[0], elapsed)
            access_log.info("%s %s %d %.1fms", scope["method"], scope["path"], status[0], elapsed * 1000,
                            extra={"method": scope["method"], "path": scope["path"], "status": status[0],
                                   "duration_ms": round(elapsed * 1000, 2), "actor": scope.get("pa_actor")})
            request_id.reset(token)

    def _route_label(self, path: str) -> str:
        if path.rstrip("/") == self.mcp_path:
            return self.mcp_path
        if path in ("/health", "/metrics", *PROBES):
            return path
        if path.startswith(PREFIX):
            return path if path in (f"{PREFIX}/openapi.json", f"{PREFIX}/docs") else f"{PREFIX}/unmatched"
        return "other"

    async def _dispatch(self, scope: dict[str, Any], receive: Any, send: Any, headers: dict[str, str]) -> None:
        path = scope["path"]
        if path in PROBES:  # before the Host check: kubelet sends the pod's IP
            await self._probe(path, scope, receive, send)
            return
        is_api = path == PREFIX or path.startswith(PREFIX + "/")
        is_mcp = path.rstrip("/") == self.mcp_path
        try:
            self._check_origin(headers)
            receive = await read_body(scope, receive, headers, MAX_BODY if is_api else MAX_MCP_BODY)
        except ApiError as refusal:
            await error_response(refusal)(scope, receive, send)
            return
        if not (is_api or is_mcp or path == "/metrics"):
            await self.inner(scope, receive, send)  # /health and anything else: the MCP app
            return
        from starlette.responses import Response

        public = path in (f"{PREFIX}/openapi.json", f"{PREFIX}/docs", f"{PREFIX}/docs/") \
            or (path == "/metrics" and not self.metrics_require_auth)
        key = None
        if not public:
            try:
                key = await self._authenticate(headers, needed=MCP_SCOPE if is_mcp else None,
                                               required=self.require_auth or path == "/metrics")
            except Exception as exc:  # noqa: BLE001 - a refusal, or the library unreachable (503): JSON either way
                err = from_exception(exc)
                if err.status >= 500:
                    log.error("checking the API key of %s %s failed: %s", scope["method"], path, exc,
                              exc_info=err.code == "internal_error")
                await error_response(err)(scope, receive, send)
                return
        from prompt_alchemy.services.access import actor

        scope["pa_key"] = key
        scope["pa_actor"] = key.name if key else None
        token = actor.set(key.name if key else None)
        try:
            if path == "/metrics":
                from prompt_alchemy import telemetry

                await self._count_library()
                body, media = await asyncio.to_thread(telemetry.render_metrics)
                await Response(body, media_type=media)(scope, receive, send)
            elif is_mcp:
                await self.inner(scope, receive, send)
            else:
                await self.api(scope, receive, send)
        finally:
            actor.reset(token)

    def _check_origin(self, headers: dict[str, str]) -> None:
        """Refuse a request whose Host is not this server's (421) or that comes from another site's page (403)."""
        if not self.hosts.allows_host(headers.get("host")):
            raise ApiError("misdirected_request", "the Host header does not name this server (see "
                                                  "server.allowed_hosts)")
        if not self.hosts.allows_origin(headers.get("origin")):
            raise ApiError("forbidden", "requests from this Origin are not allowed (see server.allowed_hosts)")

    async def _probe(self, path: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """GET /livez: the process answers (nothing else is checked, so a database outage restarts nothing).
        GET /readyz: the database answers and every phase has a usable model; 503 naming what is not ready (the
        details go to the log, never to the unauthenticated caller)."""
        from starlette.responses import JSONResponse

        if scope["method"] not in ("GET", "HEAD"):
            await error_response(ApiError("method_not_allowed", f"{scope['method']} is not allowed on {path}"))(
                scope, receive, send)
            return
        if path == "/livez":
            await JSONResponse({"status": "ok"})(scope, receive, send)
            return
        checks = {"database": await self._ready("database", self.service.count_prompts()),
                  "model": await self._ready("model", asyncio.to_thread(self._models_usable))}
        ready = all(v == "ok" for v in checks.values())
        await JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                           status_code=200 if ready else 503)(scope, receive, send)

    def _models_usable(self) -> None:
        from prompt_alchemy.models import Phase

        for phase in Phase:
            self.service.registry.chain(phase)  # raises when no provider of the phase can run here

    async def _ready(self, name: str, check: Any) -> str:
        try:
            await asyncio.wait_for(check, READY_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a probe reports, never raises
            log.warning("/readyz: the %s is not ready: %s", name, exc if str(exc) else type(exc).__name__)
            return "unavailable"
        return "ok"

    async def _authenticate(self, headers: dict[str, str], *, needed: str | None, required: bool) -> ApiKey | None:
        """The key the request carries (checked, rate-limited), None when it carries none and none is required;
        else an ApiError (401, 403 or 429)."""
        from prompt_alchemy.services.access import scope_allows

        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "").strip()
        if not token:
            if required:
                raise ApiError("unauthorized", "an API key is required: send 'Authorization: Bearer <key>' "
                                               "(create one with 'prompt-alchemy keys create')")
            return None
        key = await self.service.authenticate(token)
        if key is None:
            raise ApiError("unauthorized", "the API key is not valid (unknown, mistyped or revoked)")
        if needed is not None and not scope_allows(key.scope, needed):
            raise ApiError("forbidden", f"the key '{key.name}' has scope '{key.scope}'; this needs '{needed}'")
        now = time.monotonic()
        wait = self.refused_until.get(key.id, 0.0) - now
        if wait <= 0:
            wait = await self.service.count_request(key, self.default_rate)
            if wait > 0:
                self.refused_until[key.id] = now + wait
            else:
                self.refused_until.pop(key.id, None)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise ApiError("rate_limited", f"the key '{key.name}' is over its rate limit of "
                                           f"{key.rate_limit or self.default_rate} requests per minute; retry in "
                                           f"{retry} s", headers={"Retry-After": str(retry)})
        return key

    async def _count_library(self) -> None:
        from prompt_alchemy import telemetry

        try:
            telemetry.observe_library_size(await self.service.count_prompts())
        except Exception:  # noqa: BLE001 - a scrape never fails on it
            telemetry.observe_library_size(float("nan"))

    # ------------------------------------------------------------------ the REST app

    def _build_api(self) -> Any:
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.responses import HTMLResponse, Response
        from starlette.routing import Route

        routes = [Route(PREFIX + e.path, self._endpoint(e), methods=[e.method]) for e in ENDPOINTS]

        async def openapi(_: Any) -> Response:
            if self._openapi is None:
                from prompt_alchemy.api.openapi import build_openapi

                self._openapi = json.dumps(build_openapi(self.version)).encode()
            return Response(self._openapi, media_type="application/json")

        async def docs(_: Any) -> Response:
            page = resources.files("prompt_alchemy.api").joinpath("static/docs.html").read_text("utf-8")
            return HTMLResponse(page)

        routes += [Route(f"{PREFIX}/openapi.json", openapi, methods=["GET"]),
                   Route(f"{PREFIX}/docs", docs, methods=["GET"])]

        async def http_error(request: Any, exc: HTTPException) -> Response:
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_input")
            message = {404: f"no route {request.url.path} (see {PREFIX}/docs)",
                       405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code,
                                                                                      str(exc.detail))
            return error_response(ApiError(code, message))

        async def server_error(request: Any, exc: Exception) -> Response:
            log.error("unexpected error on %s %s: %r", request.method, request.url.path, exc, exc_info=exc)
            return error_response(ApiError("internal_error", "unexpected server error; the server log has the "
                                                             "details"))

        return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})

    def _endpoint(self, e: Endpoint) -> Any:
        from starlette.requests import Request
        from starlette.responses import Response

        from prompt_alchemy.services.access import scope_allows

        label = PREFIX + e.path

        async def handle(request: Request) -> Response:
            request.scope["pa_route"] = label
            key = request.scope.get("pa_key")
            try:
                if key is None and self.require_auth:
                    raise ApiError("unauthorized", "an API key is required")
                if key is not None and not scope_allows(key.scope, e.scope):
                    raise ApiError("forbidden", f"the key '{key.name}' has scope '{key.scope}'; {e.method} "
                                                f"{label} needs '{e.scope}'")
                query = body = None
                if e.query is not None:
                    params: dict[str, Any] = {}
                    for name, value in request.query_params.multi_items():
                        params[name] = value if name not in params else f"{params[name]},{value}"
                    try:
                        query = e.query.model_validate(params)
                    except ValidationError as exc:
                        raise ApiError("bad_input", validation_message(exc)) from None
                elif request.query_params:
                    raise ApiError("bad_input", f"{label} takes no query parameters")
                if e.body is not None:
                    raw = await request.body()  # at most MAX_BODY: read_body refused anything larger
                    try:
                        body = e.body.model_validate_json(raw or b"{}")
                    except ValidationError as exc:
                        raise ApiError("bad_input", validation_message(exc)) from None
                call = Call(self.service, dict(request.path_params), query, body, self.search_slots,
                            request.headers.get("accept", ""))
                result = await e.handler(call)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error
                err = from_exception(exc)
                if err.status >= 500:
                    log.error("%s %s failed: %s", e.method, label, exc, exc_info=err.code == "internal_error")
                return error_response(err)
            if isinstance(result, Response):
                return result
            return Response(json.dumps(result, default=str, ensure_ascii=False), status_code=e.status,
                            media_type="application/json")

        return handle


async def read_body(scope: dict[str, Any], receive: Any, headers: dict[str, str], cap: int) -> Any:
    """Read the request's body (at most `cap` bytes) and return a `receive` that replays it, then passes on.
    ApiError 413 as soon as Content-Length or the bytes counted so far pass `cap`: nothing larger is buffered.
    A request that announces no body is passed on unread (a GET that opens an event stream)."""
    declared = headers.get("content-length")
    if declared is None and "chunked" not in headers.get("transfer-encoding", "").lower():
        return receive
    too_large = ApiError("payload_too_large", f"the request body is larger than {cap // (1024 * 1024)} MiB",
                         headers={"Connection": "close"})
    if declared is not None and declared.strip().isdigit() and int(declared) > cap:
        raise too_large
    body = bytearray()
    pending: list[dict[str, Any]] = []
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

    async def replay() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replay
