"""API errors: every failure is a JSON body `{"error": {"code", "message", "request_id"}}` with a stable code and a
status that follows the CLI's exit codes (bad input 400, not found 404, conflict 409, runtime failures 5xx).
Never a traceback."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from prompt_alchemy.api.logs import request_id
from prompt_alchemy.errors import (
    AlchemyError,
    ConfigError,
    ConflictError,
    CostLimitError,
    ForbiddenError,
    GenerationError,
    InputError,
    NotFoundError,
    ProviderError,
    ProviderUnavailableError,
)
from prompt_alchemy.public_errors import public_message

#: Every code the API answers with, and its status (documented in the OpenAPI schema).
CODES: dict[str, int] = {
    "bad_input": 400,
    "invalid_config": 400,
    "provider_unavailable": 400,
    "cost_limit": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413,
    "misdirected_request": 421,
    "rate_limited": 429,
    "internal_error": 500,
    "provider_error": 502,
    "generation_failed": 502,
    "storage_error": 503,
}


class ApiError(Exception):
    """An error answer: a stable `code` (its status comes from CODES unless `status` is given: the viewer's own
    codes), a one-line message, extra headers."""

    def __init__(
        self, code: str, message: str, *, headers: dict[str, str] | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or CODES[code]
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str, rid: str | None) -> dict[str, Any]:
    """The one error shape of every JSON answer the server and the viewer give."""
    return {"error": {"code": code, "message": message, "request_id": rid}}


def error_response(err: ApiError) -> JSONResponse:
    """`err` as the JSON error answer, with the id of the request being served (a 401 says how to authenticate)."""
    headers = dict(err.headers)
    if err.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="prompt-alchemy"')
    return JSONResponse(
        error_body(err.code, public_message(err.message), request_id.get()), status_code=err.status, headers=headers
    )


def from_exception(exc: BaseException) -> ApiError:
    """The answer for a failure raised by a service; anything unexpected is a 500 that names no internals."""
    if isinstance(exc, ApiError):
        return exc
    message = public_message(str(exc))
    if isinstance(exc, ConflictError):
        return ApiError("conflict", message)
    if isinstance(exc, ForbiddenError):
        return ApiError("forbidden", message)
    if isinstance(exc, ConfigError):
        return ApiError("invalid_config", message)
    if isinstance(exc, ProviderUnavailableError):
        return ApiError("provider_unavailable", message)
    if isinstance(exc, InputError):
        return ApiError("bad_input", message)
    if isinstance(exc, NotFoundError):
        return ApiError("not_found", message)
    if isinstance(exc, CostLimitError):
        return ApiError("cost_limit", message)
    if isinstance(exc, GenerationError):
        return ApiError("generation_failed", message)
    if isinstance(exc, ProviderError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        return ApiError("provider_error", message, headers=headers)
    if type(exc).__name__ == "StorageError":
        return ApiError("storage_error", message)
    if isinstance(exc, AlchemyError):
        return ApiError("internal_error", message)
    return ApiError("internal_error", "unexpected server error; the server log has the details")


def validation_message(exc: Any) -> str:
    """One line from a pydantic ValidationError: the first field and what is wrong with it."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ())) or "request"
    return f"invalid {field}: {str(err.get('msg', 'invalid value')).removeprefix('Value error, ')}"
