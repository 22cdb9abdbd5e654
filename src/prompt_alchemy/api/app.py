"""The team server's front door, from Starlette's own parts: one `Starlette` app with a route table in front of the
MCP app.

    RequestContext      request id, server span, access log, HTTP metrics      (api/middleware.py)
    HostOriginGuard     Host 421 / Origin 403, the probes exempt               (server/hosts.py)
    BodyCap             request bodies capped (413) before anything reads them
    Router
      /livez, /readyz   the probes
      /health           the MCP app's health route
      /metrics          Prometheus text (behind a key when server.metrics_require_auth)
      /mcp              [key check, key required + scope read, rate limit] -> the MCP app
      /api/v1           openapi.json and docs (public), then
                        [key check, key required, rate limit] -> the REST routes (api/routes.py)
      /viewer           the web viewer behind OIDC sign-in (viewer/signin.py), when auth.oidc.client_id is set

The key check is `api.auth.ApiKeyBackend` under Starlette's `AuthenticationMiddleware`: it runs once per request,
and the key lands in `scope["user"]` (its scopes in `scope["auth"]`), where the REST routes check the scope each
needs and each MCP tool checks its own (mcp/tools). Keys are required whenever the server is bound beyond loopback,
and on loopback when `server.require_auth` is set; a key that is sent is always checked. Every refusal and failure
is the JSON error shape `{"error": {"code", "message", "request_id"}}`. Metrics labels come from closed sets.
"""

from __future__ import annotations

import asyncio
import json
import os
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from prompt_alchemy import __version__, telemetry
from prompt_alchemy.api.auth import ApiKeyBackend, Protected, request_key
from prompt_alchemy.api.errors import ApiError, error_response, from_exception, validation_message
from prompt_alchemy.api.middleware import BodyCap, HostOriginGuard, RequestContext
from prompt_alchemy.api.routes import ENDPOINTS, PREFIX, Call, Endpoint
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.mcp.http import MCP_PATH, is_loopback
from prompt_alchemy.models import Phase
from prompt_alchemy.server.hosts import HostPolicy
from prompt_alchemy.viewer.signin import VIEWER_PATH

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("http")

MCP_SCOPE = "read"  # to connect; each MCP tool then needs its own scope (mcp/tools TOOLS)
MAX_BODY = 24 * 1024 * 1024  # a REST request body
MAX_MCP_BODY = 4 * 1024 * 1024  # any other request body (a JSON-RPC message to /mcp): the MCP SDK's own limit
PROBES = ("/livez", "/readyz")
READY_TIMEOUT_S = 2.5  # /readyz answers within the probe's timeoutSeconds (3) even when a check hangs
#: Searches run at once (the rest wait their turn on the event loop): two per core. Measured with 50 concurrent
#: clients on 2 cores (benchmarks/bench_rest.py), 2, 4, 8 and 16 slots cost the same server CPU per search within
#: the noise, and 4 had the lowest p99; more slots only add threads contending for the same cores.
SEARCH_SLOTS = 2 * (os.cpu_count() or 1)


def is_api(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def route_label(path: str) -> str:
    """The metrics label of a path before a route names itself: a closed set, never the path as sent."""
    if path.rstrip("/") == MCP_PATH:
        return MCP_PATH
    if path in ("/health", "/metrics", *PROBES):
        return path
    if path == VIEWER_PATH or path.startswith(VIEWER_PATH + "/"):
        return VIEWER_PATH
    return f"{PREFIX}/unmatched" if is_api(path) else "other"


def body_cap(path: str) -> int:
    return MAX_BODY if is_api(path) else MAX_MCP_BODY


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route 404, wrong method 405) in the JSON error shape."""
    status = getattr(exc, "status_code", 400)
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "bad_input")
    message = {
        404: f"no route {request.url.path} (see {PREFIX}/docs)",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(status, str(getattr(exc, "detail", "")))
    return error_response(ApiError(code, message, status=status))


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %r", request.method, request.url.path, exc, exc_info=exc)
    return error_response(ApiError("internal_error", "unexpected server error; the server log has the details"))


class TeamServer:
    """ASGI: the Starlette app above for HTTP; the lifespan (and anything not HTTP) goes to `inner`, the MCP app."""

    def __init__(self, inner: ASGIApp, service: AlchemyService, *, host: str) -> None:
        cfg = service.settings.server
        allowed = list(cfg.allowed_hosts)
        self.inner = inner
        self.service = service
        self.hosts = HostPolicy(allowed, check=is_loopback(host) or bool(allowed))
        self.require_auth = bool(cfg.require_auth) or not is_loopback(host)
        self.metrics_require_auth = bool(cfg.metrics_require_auth)
        #: key id -> time.monotonic() until which the key's window is full (api.auth.RateLimit)
        self.refused_until: dict[str, float] = {}
        self.limits = {
            "service": service,
            "default_rate": cfg.rate_limit_per_minute,
            "refused_until": self.refused_until,
        }
        self.backend = ApiKeyBackend(service)
        self.search_slots = asyncio.Semaphore(SEARCH_SLOTS)
        self._openapi: bytes | None = None
        self.app = self._build()
        telemetry.enable_metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.app if scope["type"] == "http" else self.inner)(scope, receive, send)

    def _protected(self, *, required: bool, scope: str | None = None) -> dict[str, Any]:
        return {"backend": self.backend, "limits": self.limits, "required": required, "scope": scope}

    def _build(self) -> Starlette:
        mcp = Protected(self.inner, **self._protected(required=self.require_auth, scope=MCP_SCOPE))
        metrics_auth = [Middleware(Protected, **self._protected(required=True))] if self.metrics_require_auth else None
        rest = Router([Route(e.path, self._endpoint(e), methods=[e.method]) for e in ENDPOINTS])
        routes = [
            Route("/livez", self._livez, methods=["GET"]),
            Route("/readyz", self._readyz, methods=["GET"]),
            Route("/health", self.inner),
            Route("/metrics", self._metrics, methods=["GET"], middleware=metrics_auth),
            Route(MCP_PATH, mcp),
            Route(MCP_PATH + "/", mcp),
            Mount(
                PREFIX,
                routes=[
                    Route("/openapi.json", self._openapi_json, methods=["GET"]),
                    Route("/docs", self._docs, methods=["GET"]),
                    Mount("", app=Protected(rest, **self._protected(required=self.require_auth))),
                ],
            ),
        ]
        routes += self._viewer_routes()
        middleware = [
            Middleware(RequestContext, route_label=route_label),
            Middleware(HostOriginGuard, policy=self.hosts, exempt=frozenset(PROBES)),
            Middleware(BodyCap, cap=body_cap),
        ]
        app = Starlette(
            routes=routes,
            middleware=middleware,
            exception_handlers={HTTPException: http_error, Exception: server_error},
        )
        app.router.redirect_slashes = False
        return app

    def _viewer_routes(self) -> list[Any]:
        """The viewer at /viewer behind sign-in when the viewer's OIDC client is configured (`/` leads there)."""
        oidc = self.service.settings.auth.oidc
        if not (oidc.issuer and oidc.audience and oidc.client_id):
            return []
        from prompt_alchemy.viewer.signin import SignedInViewer

        site = SignedInViewer(self.service, limits=self.limits)

        async def to_viewer(request: Request) -> Response:
            return RedirectResponse(VIEWER_PATH + "/", status_code=307)

        return [
            Route("/", to_viewer, methods=["GET"]),
            Route(VIEWER_PATH, to_viewer, methods=["GET"]),
            Mount(VIEWER_PATH, app=site),
        ]

    # ------------------------------------------------------------------ probes, metrics, docs

    async def _livez(self, request: Request) -> Response:
        """The process answers (nothing else is checked, so a database outage restarts nothing)."""
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        """The database answers and every phase has a usable model; 503 naming what is not ready (the details go
        to the log, never to the unauthenticated caller)."""
        checks = {
            "database": await self._ready("database", self.service.count_prompts()),
            "model": await self._ready("model", asyncio.to_thread(self._models_usable)),
        }
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    def _models_usable(self) -> None:
        for phase in Phase:
            self.service.registry.chain(phase)  # raises when no provider of the phase can run here

    async def _ready(self, name: str, check: Any) -> str:
        try:
            await asyncio.wait_for(check, READY_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a probe reports, never raises
            log.warning("/readyz: the %s is not ready: %s", name, exc if str(exc) else type(exc).__name__)
            return "unavailable"
        return "ok"

    async def _metrics(self, request: Request) -> Response:
        try:
            telemetry.observe_library_size(await self.service.count_prompts())
        except Exception:  # noqa: BLE001 - a scrape never fails on it
            telemetry.observe_library_size(float("nan"))
        try:
            telemetry.observe_queue_depth(await self.service.jobs.queue_depth())
        except Exception:  # noqa: BLE001 - a scrape never fails on it
            telemetry.observe_queue_depth(float("nan"))
        body, media = await asyncio.to_thread(telemetry.render_metrics)
        return Response(body, media_type=media)

    async def _openapi_json(self, request: Request) -> Response:
        request.state.route = f"{PREFIX}/openapi.json"
        if self._openapi is None:
            from prompt_alchemy.api.openapi import build_openapi

            self._openapi = json.dumps(build_openapi(__version__)).encode()
        return Response(self._openapi, media_type="application/json")

    async def _docs(self, request: Request) -> Response:
        request.state.route = f"{PREFIX}/docs"
        return HTMLResponse(resources.files("prompt_alchemy.api").joinpath("static/docs.html").read_text("utf-8"))

    # ------------------------------------------------------------------ the REST routes

    def _endpoint(self, e: Endpoint) -> Any:
        label = PREFIX + e.path

        async def handle(request: Request) -> Response:
            request.state.route = label
            try:
                call = await self._call(e, request)
                result = await e.handler(call)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error
                err = from_exception(exc)
                if err.status >= 500:
                    log.error("%s %s failed: %s", e.method, label, exc, exc_info=err.code == "internal_error")
                return error_response(err)
            if isinstance(result, Response):
                return result
            return Response(
                json.dumps(result, default=str, ensure_ascii=False), status_code=e.status, media_type="application/json"
            )

        return handle

    async def _call(self, e: Endpoint, request: Request) -> Call:
        """What the handler gets: the scope checked, the query and body validated into the route's models."""
        key = request_key(request.scope)
        if key is not None and e.scope not in request.auth.scopes:
            raise ApiError(
                "forbidden",
                f"the key '{key.name}' has scope '{key.scope}'; {e.method} {PREFIX}{e.path} " f"needs '{e.scope}'",
            )
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
            raise ApiError("bad_input", f"{PREFIX}{e.path} takes no query parameters")
        if e.body is not None:
            raw = await request.body()  # at most MAX_BODY: BodyCap refused anything larger
            try:
                body = e.body.model_validate_json(raw or b"{}")
            except ValidationError as exc:
                raise ApiError("bad_input", validation_message(exc)) from None
        return Call(
            self.service,
            dict(request.path_params),
            query,
            body,
            self.search_slots,
            request.headers.get("accept", ""),
            request.headers.get("prefer", ""),
        )
