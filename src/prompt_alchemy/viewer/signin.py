"""The viewer on the team server (`serve --transport http`), at `/viewer` on the same port, behind OpenID Connect
sign-in. `prompt-alchemy view` stays the loopback tool for one person (no sign-in).

- **Sign-in**: the authorization code flow with PKCE (S256), state and nonce, by Authlib's Starlette client
  (`/viewer/login` -> the provider -> `/viewer/callback`). Authlib checks the ID token; the token the session then
  holds is the access token when it is a JWT (else the ID token: Google's access tokens are opaque), checked on every
  request exactly as a REST bearer token is (api.auth.TokenVerifier: JWKS signature, issuer, audience, expiry) and
  turned into a caller by the same `people.sign_in` (users created on first sign-in, roles from the claim or an
  admin, a disabled user refused).
- **The session** is a cookie signed by Starlette's SessionMiddleware (itsdangerous): HttpOnly, SameSite=Lax, path
  `/viewer`, Secure (and named `__Secure-pa_viewer`) when the request came over https. It holds the token, the
  refresh token, the token's expiry and the chosen project; nothing is stored server-side, so any replica with the
  same `auth.oidc.session_secret` serves it.
- **Refresh**: a token within a quarter of its lifetime (at most REFRESH_MARGIN_S) of expiring is refreshed with the
  refresh token before the request runs. Concurrent requests of one session share one refresh (providers rotate
  refresh tokens and revoke a grant whose old refresh token is reused). A refused refresh (revoked grant, ended
  session) ends the viewer session: the page is sent to sign in again.
- **Checks**: the team server's Host and Origin checks apply to `/viewer` like every path; writes also need the
  viewer's CSRF header, a same-origin Origin and a JSON body (viewer.guard in `site` mode). A caller's role bounds
  what they may do (a viewer reads only; protected labels need an admin or owner), and every prompt they see or
  change is their project's (prompt_alchemy.tenancy).
"""

from __future__ import annotations

import asyncio
import html
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.authentication import AuthCredentials
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from prompt_alchemy.api.auth import ApiKeyUser, RateLimit, RequireKey, TokenVerifier, granted_scopes, looks_like_jwt
from prompt_alchemy.api.errors import ApiError, error_response
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.security import register_secret
from prompt_alchemy.services.people import Refused
from prompt_alchemy.tenancy import principal
from prompt_alchemy.viewer.app import _body, _error, _text, viewer_app
from prompt_alchemy.viewer.guard import ViewerError, ViewerGuard

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("viewer.signin")

VIEWER_PATH = "/viewer"
COOKIE = "pa_viewer"
SECURE_COOKIE = "__Secure-pa_viewer"
#: Refresh this long before expiry at most (a quarter of the token's lifetime when that is shorter).
REFRESH_MARGIN_S = 30
#: How long a refresh's answer is kept for the concurrent requests that carried the same refresh token.
_SHARED_REFRESH_S = 60.0
_SIGN_IN_AGAIN = "your sign-in has ended; sign in again"


class SessionCookies:
    """Starlette's signed session cookie for `/viewer`: HttpOnly and SameSite=Lax always, Secure (under the
    `__Secure-` name) when the request came over https."""

    def __init__(self, app: ASGIApp, *, secret: str, max_age: int) -> None:
        common: dict[str, Any] = {"secret_key": secret, "max_age": max_age, "path": VIEWER_PATH, "same_site": "lax"}
        self.plain = SessionMiddleware(app, session_cookie=COOKIE, https_only=False, **common)
        self.secure = SessionMiddleware(app, session_cookie=SECURE_COOKIE, https_only=True, **common)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.secure if scope.get("scheme") in ("https", "wss") else self.plain)(scope, receive, send)


class SharedRefresh:
    """Refreshes tokens through the provider, once per refresh token: concurrent requests that carry the same one
    wait for the first and get its answer (kept for _SHARED_REFRESH_S, in this process)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.locks: dict[str, asyncio.Lock] = {}
        self.answers: dict[str, tuple[float, dict[str, Any]]] = {}

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        lock = self.locks.setdefault(refresh_token, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            for old in [k for k, (at, _) in self.answers.items() if now - at > _SHARED_REFRESH_S]:
                self.answers.pop(old, None)
                self.locks.pop(old, None)
            kept = self.answers.get(refresh_token)
            if kept is not None:
                return kept[1]
            token: dict[str, Any] = await self.client.fetch_access_token(
                grant_type="refresh_token", refresh_token=refresh_token
            )
            self.answers[refresh_token] = (time.monotonic(), dict(token))
            return dict(token)


def _route_path(scope: Scope) -> str:
    return str(scope["path"])[len(scope.get("root_path", "")) :] or "/"


def _safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path of the viewer only (never another site)."""
    if value and value.startswith(VIEWER_PATH + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return VIEWER_PATH + "/"


def _page(status: int, message: str) -> HTMLResponse:
    """A page-level refusal for a person (the JSON routes answer the API's error shape instead)."""
    text = html.escape(message)
    body = (
        f"<!doctype html><meta charset='utf-8'><title>Prompt Alchemy</title>"
        f"<p role='alert'>{text}</p><p><a href='{VIEWER_PATH}/login'>Sign in</a></p>"
    )
    return HTMLResponse(body, status_code=status)


class SignedInViewer:
    """The viewer site: the sign-in routes, then the viewer app for a signed-in caller (see the module
    docstring). ASGI; mount it at VIEWER_PATH."""

    def __init__(self, service: AlchemyService, *, limits: dict[str, Any]) -> None:
        from authlib.integrations.starlette_client import OAuth

        oidc = service.settings.auth.oidc
        if not (oidc.issuer and oidc.audience and oidc.client_id):
            raise ValueError("the viewer's sign-in needs auth.oidc.issuer, audience and client_id")
        self.service = service
        self.verifier = TokenVerifier(oidc.issuer, oidc.audience, oidc.algorithms, oidc.leeway_seconds)
        client_secret = oidc.client_secret.get_secret_value() if oidc.client_secret else None
        if client_secret:
            register_secret(client_secret)
        oauth = OAuth()
        self.client = oauth.register(
            "oidc",
            client_id=oidc.client_id,
            client_secret=client_secret,
            server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={
                "scope": oidc.scopes,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_post" if client_secret else "none",
                "timeout": 15,
            },
        )
        self.authorize_params = dict(oidc.authorize_params)
        self.refresher = SharedRefresh(self.client)
        secret = oidc.session_secret.get_secret_value() if oidc.session_secret else None
        if secret:
            register_secret(secret)
        else:
            secret = secrets.token_urlsafe(32)
            log.warning(
                "auth.oidc.session_secret is not set: viewer sessions end when this server stops, and replicas "
                "cannot share them"
            )
        extra = [
            Route("/login", self.login, methods=["GET"]),
            Route("/callback", self.callback, methods=["GET"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/api/me", self.me, methods=["GET"]),
            Route("/api/project", self.choose_project, methods=["POST"]),
        ]
        inner = viewer_app(service, extra_routes=extra)
        self.viewer = RequireKey(RateLimit(inner, **limits), required=False)
        self.public = inner
        self.app = SessionCookies(
            ViewerGuard(self._dispatch, site=True), secret=secret, max_age=oidc.session_hours * 3600
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ every request

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope)
        if path in ("/login", "/callback") or path.startswith("/static/"):
            await self.public(scope, receive, send)
            return
        session: dict[str, Any] = scope["session"]
        try:
            caller = await self._caller(session)
        except (ApiError, Refused) as exc:
            ended = isinstance(exc, ApiError) and exc.status == 401
            if ended:
                session.clear()
            await self._refuse(scope, exc, ended)(scope, receive, send)
            return
        scope["user"] = ApiKeyUser(caller.key, caller.principal)
        scope["auth"] = AuthCredentials(granted_scopes(caller.key.scope))
        await self.viewer(scope, receive, send)

    def _refuse(self, scope: Scope, exc: Exception, ended: bool) -> Response:
        path = _route_path(scope)
        page = scope["method"] == "GET" and not path.startswith("/api/")
        if isinstance(exc, Refused):
            err: ApiError = ViewerError("forbidden", str(exc))
        else:
            err = exc if isinstance(exc, ApiError) else ApiError("unauthorized", _SIGN_IN_AGAIN)
        if page and ended:
            target = scope.get("root_path", "") + path
            query = scope.get("query_string", b"").decode("latin-1")
            target += f"?{query}" if query else ""
            return RedirectResponse(f"{VIEWER_PATH}/login?next={quote(target, safe='')}", status_code=303)
        if page:
            return _page(err.status, err.message)
        return error_response(err)

    async def _caller(self, session: dict[str, Any]) -> Any:
        """The signed-in caller of this session, refreshing its token first when it is about to expire. ApiError
        401 when there is no session or it has ended; Refused (403) for a disabled user or one without a role."""
        token = session.get("token")
        if not isinstance(token, str):
            raise ApiError("unauthorized", "sign in first: open /viewer/login")
        if time.time() >= float(session.get("refresh_at", 0)):
            await self._refresh(session)
        claims = await self._verify(str(session["token"]))
        return await self.service.people.sign_in(claims, session.get("project"))

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(self.verifier.verify, token)
        except ApiError as err:
            if err.status == 401:
                log.info("a viewer session's token was refused: %s", err.message)
                raise ApiError("unauthorized", f"{err.message}; {_SIGN_IN_AGAIN}") from None
            raise

    async def _refresh(self, session: dict[str, Any]) -> None:
        refresh = session.get("refresh")
        if not isinstance(refresh, str):
            raise ApiError("unauthorized", _SIGN_IN_AGAIN)
        try:
            token = await self.refresher.refresh(refresh)
        except Exception as exc:  # noqa: BLE001 - a refused refresh (revoked, expired) or an unreachable provider
            log.info("refreshing a viewer session failed: %s", type(exc).__name__)
            raise ApiError("unauthorized", f"the sign-in could not be renewed; {_SIGN_IN_AGAIN}") from None
        await self._store(session, token, keep_refresh=refresh)

    async def _store(self, session: dict[str, Any], token: dict[str, Any], *, keep_refresh: str | None = None) -> dict:
        """Put a token answer in the session: the token to verify, its refresh token, when to refresh. Returns
        the verified claims."""
        access = str(token.get("access_token") or "")
        chosen = access if looks_like_jwt(access) else str(token.get("id_token") or "")
        claims = await self._verify(chosen)
        expires, issued = int(claims["exp"]), int(claims.get("iat") or time.time())
        margin = min(REFRESH_MARGIN_S, max(1, (expires - issued) // 4))
        session["token"] = chosen
        session["refresh"] = token.get("refresh_token") or keep_refresh
        session["refresh_at"] = expires - margin
        return claims

    # ------------------------------------------------------------------ the sign-in routes

    async def login(self, request: Request) -> Response:
        request.session.clear()
        request.session["next"] = _safe_next(request.query_params.get("next"))
        redirect_uri = f"{request.url.scheme}://{request.url.netloc}{VIEWER_PATH}/callback"
        try:
            answer: Response = await self.client.authorize_redirect(request, redirect_uri, **self.authorize_params)
        except Exception as exc:  # noqa: BLE001 - the provider unreachable or misconfigured
            log.error("starting a viewer sign-in failed: %s", exc)
            return _page(503, "the sign-in provider cannot be reached; try again later")
        return answer

    async def callback(self, request: Request) -> Response:
        from authlib.integrations.base_client import OAuthError

        goto = _safe_next(request.session.get("next"))
        try:
            token = await self.client.authorize_access_token(request)
        except OAuthError as exc:
            log.info("a viewer sign-in was refused: %s", exc.error)
            return _page(400, f"sign-in failed: {exc.description or exc.error}")
        except Exception as exc:  # noqa: BLE001 - the provider unreachable, or its answer unreadable
            log.error("finishing a viewer sign-in failed: %s", exc)
            return _page(502, "sign-in failed: the provider's answer could not be used; try again")
        request.session.clear()
        try:
            claims = await self._store(request.session, dict(token))
            caller = await self.service.people.sign_in(claims, None)
        except ApiError as err:
            request.session.clear()
            return _page(err.status, err.message)
        except Refused as exc:
            request.session.clear()
            return _page(403, str(exc))
        request.session["project"] = caller.principal.project_id
        log.info("viewer sign-in: %s in %s", caller.principal.handle, caller.principal.project_id)
        return RedirectResponse(goto, status_code=303)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return JSONResponse({"signed_out": True, "login": f"{VIEWER_PATH}/login"})

    async def me(self, request: Request) -> Response:
        caller = principal.get()
        if caller is None or caller.user_id is None:
            return _error(ViewerError("forbidden", "not signed in"))
        projects = await self.service.people.user_projects(caller.user_id)
        return JSONResponse(
            {
                "user": caller.handle,
                "project": caller.project_id,
                "role": caller.role,
                "projects": projects,
                "signed_in": True,
            }
        )

    async def choose_project(self, request: Request) -> Response:
        caller = principal.get()
        try:
            wanted = _text(await _body(request), "project", required=True) or ""
            if caller is None or caller.user_id is None:
                raise ViewerError("forbidden", "not signed in")
            projects = await self.service.people.user_projects(caller.user_id)
            if wanted not in projects:
                raise ViewerError("forbidden", f"you have no role in the project '{wanted[:64]}'")
        except Exception as exc:  # noqa: BLE001 - JSON either way
            return _error(exc)
        request.session["project"] = wanted
        return JSONResponse({"project": wanted, "role": projects[wanted]})
