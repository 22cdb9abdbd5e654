"""API keys on the team server, from Starlette's authentication parts (the MCP SDK's bearer middleware is the model).

- `ApiKeyBackend` (an `AuthenticationBackend`) reads `Authorization: Bearer <key>` or `X-API-Key`, checks the key
  once per request and puts it in `scope["user"]` (an `ApiKeyUser`) with the scopes it grants in `scope["auth"]`
  (`read` < `write` < `admin`: a write key holds `read` and `write`). A key that is sent is always checked; a wrong
  one is a 401 even where none is required.
- `RequireKey` refuses a request without a key where one is required (401), or whose key lacks a scope (403).
- `RateLimit` counts every request that carries a key against the key's limit per minute (429 with Retry-After).

Beside API keys the backend accepts the access tokens of an OpenID Connect provider (`auth.oidc` in the settings):
a JWT whose signature is checked against the issuer's published keys (JWKS, through PyJWT's `PyJWKClient`), whose
issuer, audience and expiry are checked, and whose subject becomes a user on first sign-in (services/people.py).
Every caller then acts in one project (`X-Project` picks one of a signed-in user's projects): `scope["user"]` holds
its principal, which bounds every prompt read and write of the request (prompt_alchemy.tenancy), and the scope it
holds is bounded by its role there.

`Protected(app, ...)` stacks the three in that order in front of an app (a Mount's). Refusals are the JSON error
shape (`api.errors.error_response`).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError, BaseUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from prompt_alchemy.api.errors import ApiError, error_response, from_exception
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.services.access import SCOPES, ApiKey, actor
from prompt_alchemy.services.people import Caller, Refused
from prompt_alchemy.tenancy import Principal, principal

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("http")

KEY_REQUIRED = (
    "an API key is required: send 'Authorization: Bearer <key>' (create one with 'prompt-alchemy keys " "create')"
)


class ApiKeyUser(BaseUser):
    """`scope["user"]` of a request that carries a valid key."""

    def __init__(self, key: ApiKey, caller: Principal | None = None) -> None:
        self.key = key
        self.principal = caller

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.key.name


def granted_scopes(scope: str) -> list[str]:
    """Every scope a key of `scope` holds (read < write < admin)."""
    return list(SCOPES[: SCOPES.index(scope) + 1])


def request_key(scope: Scope) -> ApiKey | None:
    """The key the request carries (set by ApiKeyBackend), or None."""
    user = scope.get("user")
    return user.key if isinstance(user, ApiKeyUser) else None


class KeyRefused(AuthenticationError):
    """A refusal of the backend, with the JSON answer it becomes."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def bearer_token(conn: HTTPConnection) -> str:
    auth = conn.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else conn.headers.get("x-api-key", "").strip()


def looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(parts) and token[:3] == "eyJ"


class TokenVerifier:
    """Verifies an OIDC provider's access tokens: the signature against the issuer's JWKS (fetched from the
    issuer's discovery document, cached, fetched again when a token names an unknown key), the algorithm among the
    configured public-key ones, `iss`, `aud`, `exp` (and `nbf`/`iat`) with a small leeway. No crypto of our own:
    PyJWT does all of it."""

    def __init__(self, issuer: str, audience: str, algorithms: list[str], leeway: int) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leeway = leeway
        self._jwks: Any = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        import json
        import urllib.request

        import jwt

        with self._lock:
            if self._jwks is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the configured issuer
                    discovery = json.load(answer)
                if discovery.get("issuer") != self.issuer:
                    raise ValueError(f"the discovery document of {self.issuer} names another issuer")
                self._jwks = jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=True, lifespan=300, timeout=10)
            return self._jwks

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises ApiError (401) naming what was wrong."""
        import jwt

        try:
            key = self._client().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError("unauthorized", "the access token has expired; sign in again") from None
        except jwt.InvalidAudienceError:
            raise ApiError(
                "unauthorized",
                "the access token was issued for another audience than this " "server's (auth.oidc.audience)",
            ) from None
        except jwt.InvalidIssuerError:
            raise ApiError("unauthorized", "the access token comes from another issuer") from None
        except jwt.InvalidSignatureError:
            raise ApiError("unauthorized", "the access token's signature is not valid") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise ApiError("unauthorized", f"the access token is not valid: {exc}") from None
        except OSError as exc:
            log.error("fetching the signing keys of %s failed: %s", self.issuer, exc)
            raise ApiError("unavailable", "the sign-in provider's keys could not be fetched", status=503) from None
        return claims


class ApiKeyBackend(AuthenticationBackend):
    """Checks the key a request carries against the library's keys (salted hashes; revoked keys fail), or the
    access token against the OIDC provider's keys, and finds the caller's project and role."""

    def __init__(self, service: AlchemyService) -> None:
        self.service = service
        oidc = service.settings.auth.oidc
        self.verifier = (
            TokenVerifier(oidc.issuer, oidc.audience, oidc.algorithms, oidc.leeway_seconds)
            if oidc.issuer and oidc.audience
            else None
        )

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        token = bearer_token(conn)
        if not token:
            return None
        project = conn.headers.get("x-project", "").strip() or None
        try:
            if self.verifier is not None and looks_like_jwt(token):
                claims = await asyncio.to_thread(self.verifier.verify, token)
                caller = await self.service.people.sign_in(claims, project)
            else:
                caller = await self.key_caller(token, project)
        except ApiError as err:
            raise KeyRefused(err) from None
        except Refused as exc:
            raise KeyRefused(ApiError("forbidden", str(exc))) from None
        except Exception as exc:  # noqa: BLE001 - the library unreachable (503) or worse: JSON either way
            failure = from_exception(exc)
            log.error(
                "checking the credentials of %s %s failed: %s",
                conn.scope["method"],
                conn.url.path,
                exc,
                exc_info=failure.code == "internal_error",
            )
            raise KeyRefused(failure) from None
        return AuthCredentials(granted_scopes(caller.key.scope)), ApiKeyUser(caller.key, caller.principal)

    async def key_caller(self, token: str, project: str | None) -> Caller:
        """The caller of an API key: remembered from a recent request (no worker thread, no database read), else
        looked up in one worker-thread trip and remembered (services.access.VerifiedKeys)."""
        verified = self.service.access.verified
        remembered: Caller | None = verified.get(token, project, self.service.access.generation)
        if remembered is not None:
            return remembered
        epoch = verified.epoch
        caller, generation = await asyncio.to_thread(self._look_up_key, token, project)
        verified.put(token, project, caller, generation, epoch)
        return caller

    def _look_up_key(self, token: str, project: str | None) -> tuple[Caller, int | None]:
        """The key's caller and the change counter read before it was looked up (a worker thread)."""
        generation = self.service.access.generation()
        key = self.service.access.verify_token(token)
        if key is None:
            raise ApiError("unauthorized", "the API key is not valid (unknown, mistyped or revoked)")
        return self.service.people.caller_of_key(key, project), generation


def on_auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    err = exc.error if isinstance(exc, KeyRefused) else ApiError("unauthorized", str(exc))
    response: Response = error_response(err)
    return response


class RequireKey:
    """401 without a key where one is `required`; 403 when the key lacks `scope`. Sets the audit's actor."""

    def __init__(self, app: ASGIApp, *, required: bool, scope: str | None = None) -> None:
        self.app = app
        self.required = required
        self.scope = scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = request_key(scope)
        refusal = None
        if key is None and self.required:
            refusal = ApiError("unauthorized", KEY_REQUIRED)
        elif key is not None and self.scope is not None and self.scope not in scope["auth"].scopes:
            refusal = ApiError(
                "forbidden", f"the key '{key.name}' has scope '{key.scope}'; this needs " f"'{self.scope}'"
            )
        if refusal is not None:
            await error_response(refusal)(scope, receive, send)
            return
        user = scope.get("user")
        caller = user.principal if isinstance(user, ApiKeyUser) else None
        signed_in = caller is not None and key is not None and key.id.startswith("user:")
        token = actor.set(caller.handle if signed_in and caller is not None else key.name if key else None)
        bound = principal.set(caller)
        try:
            await self.app(scope, receive, send)
        finally:
            principal.reset(bound)
            actor.reset(token)


class RateLimit:
    """Counts a keyed request against its key's limit (a fixed window of a minute, counted by the store: one
    UPSERT shared by every replica on PostgreSQL). Once a key's window is full its refusals are answered here
    without counting again until the window closes (the count only grows, so no other server admits it sooner)."""

    def __init__(
        self, app: ASGIApp, *, service: AlchemyService, default_rate: int, refused_until: dict[str, float]
    ) -> None:
        self.app = app
        self.service = service
        self.default_rate = default_rate
        self.refused_until = refused_until

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = request_key(scope)
        try:
            wait = await self._wait(key) if key is not None else 0.0
        except Exception as exc:  # noqa: BLE001 - the library unreachable (503) or worse: JSON either way
            log.error("counting a request of %s failed: %s", scope["path"], exc)
            await error_response(from_exception(exc))(scope, receive, send)
            return
        if key is not None and wait > 0:
            retry = max(1, math.ceil(wait))
            refusal = ApiError(
                "rate_limited",
                f"the key '{key.name}' is over its rate limit of "
                f"{key.rate_limit or self.default_rate} requests per minute; retry "
                f"in {retry} s",
                headers={"Retry-After": str(retry)},
            )
            await error_response(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _wait(self, key: ApiKey) -> float:
        now = time.monotonic()
        wait = self.refused_until.get(key.id, 0.0) - now
        if wait > 0:
            return wait
        wait = await self.service.count_request(key, self.default_rate)
        if wait > 0:
            self.refused_until[key.id] = now + wait
        else:
            self.refused_until.pop(key.id, None)
        return wait


class Protected:
    """`app` behind the key check (once), the key requirement and the rate limit; `limits` are RateLimit's
    keyword arguments (one shared `refused_until` for the whole server). Usable as a Starlette `Middleware`."""

    def __init__(
        self, app: ASGIApp, *, backend: ApiKeyBackend, limits: dict[str, Any], required: bool, scope: str | None = None
    ) -> None:
        self.app = AuthenticationMiddleware(
            RequireKey(RateLimit(app, **limits), required=required, scope=scope),
            backend=backend,
            on_error=on_auth_error,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
