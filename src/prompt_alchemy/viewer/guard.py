"""The viewer's front door: which requests it answers at all, and which writes it accepts.

- **Host**: only a request whose Host header parses to a loopback name and the port the viewer is bound to is
  answered (a DNS-rebinding page sends its own name); anything else gets 421.
- **Writes** (POST, PUT, PATCH, DELETE) must come from the viewer's own page:
  - Origin (or, without one, Referer) is `http://<loopback name>:<bound port>`; a write with neither is refused;
  - they carry the header `X-Prompt-Alchemy: 1`, which a form cannot send and a cross-site script cannot send
    without a CORS preflight the viewer never grants;
  - a body is `Content-Type: application/json` (415 otherwise) and at most MAX_BODY bytes by its Content-Length
    (413); the route counts the bytes again while reading, for bodies sent without a length.

Behind the team server (`site=True`, the viewer at `/viewer` behind sign-in) the server's own Host check and request
id apply instead of the loopback ones, and a write's Origin (or Referer) must name the host the request was sent to
(the session cookie is SameSite=Lax besides); the CSRF header, type and size checks are the same.

Every refusal is the team server's JSON error answer (`api.errors.error_response`, one implementation for both):
`{"error": {"code", "message", "request_id"}}`, with the request's id also in `x-request-id`.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

from prompt_alchemy.api.errors import ApiError, error_body, error_response
from prompt_alchemy.api.logs import request_id
from prompt_alchemy.http_guard import (
    DEFAULT_PORTS,
    Authority,
    is_local_authority,
    parse_host,
    parse_origin,
    referer_origin,
)

__all__ = ["CSRF_HEADER", "CSRF_VALUE", "MAX_BODY", "ViewerError", "ViewerGuard", "error_body", "is_json"]

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-prompt-alchemy"
CSRF_VALUE = "1"
MAX_BODY = 256 * 1024  # the page sends a few KB at most (an idea, a comment, template values)

#: code -> status for every error the viewer answers with (the REST API's codes plus the viewer's own checks).
STATUS = {
    "bad_input": 400,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "misdirected_request": 421,
    "invalid_field": 422,
    "internal_error": 500,
}


class ViewerError(ApiError):
    """The server's ApiError with the viewer's own codes: a code from STATUS (or the REST API's codes, with
    `status`) and a one-line message."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message, status=status or STATUS[code])


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type is `application/json` (parameters such as charset allowed)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


class ViewerGuard:
    """ASGI middleware in front of the viewer app: the Host, Origin, CSRF-header, size and type checks above."""

    def __init__(self, app: Any, *, site: bool = False) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.site:  # the team server set the request id and checked the Host
            refusal = self.refusal(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        token = request_id.set(rid)

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            refusal = self.refusal(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

    def refusal(self, scope: MutableMapping[str, Any]) -> ViewerError | None:
        """Why this request is refused, or None to let it through."""
        headers: dict[str, list[str]] = {}
        for key, value in scope.get("headers", []):
            headers.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        server = scope.get("server")
        port = server[1] if server else None
        hosts = headers.get("host", [])
        if not self.site and (port is None or len(hosts) != 1 or not is_local_authority(parse_host(hosts[0]), port)):
            return ViewerError(
                "misdirected_request",
                "this viewer answers only to http://127.0.0.1:<its port> " "or http://localhost:<its port>",
            )
        if scope["method"] not in WRITES:
            return None
        origin = headers.get("origin", [None])[0]
        parsed = parse_origin(origin) if origin is not None else referer_origin(headers.get("referer", [None])[0])
        if self.site:
            same = parsed is not None and len(hosts) == 1 and same_authority(parse_host(hosts[0]), parsed)
        else:
            same = (
                parsed is not None and parsed[0] == "http" and port is not None and is_local_authority(parsed[1], port)
            )
        if not same:
            return ViewerError(
                "forbidden",
                "a change must come from the viewer's own page (its Origin or Referer " "is missing or another site)",
            )
        if headers.get(CSRF_HEADER, [None])[0] != CSRF_VALUE:
            return ViewerError("forbidden", f"a change must carry the header '{CSRF_HEADER}: {CSRF_VALUE}'")
        lengths = headers.get("content-length", [])
        if lengths and (len(lengths) > 1 or not lengths[0].isdigit()):
            return ViewerError("bad_input", "the Content-Length header is not one number")
        if lengths and int(lengths[0]) > MAX_BODY:
            return ViewerError("payload_too_large", f"the request body is larger than {MAX_BODY} bytes")
        has_body = (lengths and int(lengths[0]) > 0) or "transfer-encoding" in headers
        if has_body and not is_json(headers.get("content-type", [None])[0]):
            return ViewerError(
                "unsupported_media_type", "a request body must be JSON sent with " "'Content-Type: application/json'"
            )
        return None


def same_authority(host: Authority | None, origin: tuple[str, Authority]) -> bool:
    """Whether an Origin (scheme, authority with its port filled in) names the host a request was sent to (a Host
    without a port means the origin scheme's default port)."""
    if host is None:
        return False
    scheme, authority = origin
    return host.host == authority.host and (host.port or DEFAULT_PORTS[scheme]) == authority.port
