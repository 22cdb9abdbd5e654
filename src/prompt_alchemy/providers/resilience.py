"""Dependable provider calls: retry with exponential backoff and jitter (honouring Retry-After), a token-bucket
rate limiter per provider, the mapping of HTTP failures to :class:`ProviderError`, and the rule for streams.

Providers translate their SDK's exceptions with :func:`status_error` and :func:`transport_error` (and errors a
server reports inside a stream with :func:`stream_error`); the registry decides what to do with the result (retry,
fail over, or fail fast).

Streams follow the same rules until their first text delta reaches the caller (:class:`StreamProgress`): a stream
that fails before that is retried and failed over like any call. Once text has been delivered, a retry or another
provider would repeat or contradict it, so a failure ends the call with the mapped error, marked not retryable
(:func:`interrupted_stream_error`).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.security import redact

#: HTTP statuses worth retrying: request timeout, conflict, too early, rate limit, server errors, overloaded.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_MAX_DETAIL = 200


# ------------------------------------------------------------------------------------------------ retries


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` extra attempts; delay = base * 2**attempt with full jitter in [delay/2, delay], capped.

    A server's Retry-After is honoured exactly when it is within `max_delay`; a longer wait is not worth it, so
    :meth:`delay` returns None and the caller fails over at once.
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float | None:
        if retry_after is not None:
            return max(0.0, retry_after) if retry_after <= self.max_delay else None
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return (rng or random).uniform(ceiling / 2, ceiling)


def parse_retry_after(headers: Mapping[str, str] | Any | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date; None when absent."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# ------------------------------------------------------------------------------------------------ rate limits


class TokenBucket:
    """A client-side rate limit: `requests_per_minute` on average with bursts of a sixth of that (10 s worth).

    Reservations are taken in arrival order without a lock held across awaits, so the bucket works from any
    event loop. `defer(seconds)` holds every caller back, used when a server answers 429 with Retry-After.
    """

    def __init__(self, requests_per_minute: int | None = None, *, clock=time.monotonic) -> None:
        self.rate = (requests_per_minute / 60.0) if requests_per_minute else None
        self.capacity = max(1.0, (requests_per_minute or 0) / 6.0)
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one request slot; returns how many seconds the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._blocked_until - now)
            if self.rate is None:
                return wait
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            if self._tokens < 0:
                wait = max(wait, -self._tokens / self.rate)
            return wait

    def defer(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))

    async def acquire(self) -> float:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        return wait


# ------------------------------------------------------------------------------------------------ error mapping


def key_hint(provider: str) -> str:
    from prompt_alchemy.providers.catalog import all_providers

    info = all_providers().get(provider)
    names = info.key_env_vars if info is not None else ()
    if names:
        return f"check {' or '.join(names)} (or providers.{provider}.api_key)"
    if provider == "ollama":
        return "check providers.ollama.api_key (or OLLAMA_API_KEY) for a protected Ollama server"
    return f"check providers.{provider}.api_key"


def _detail(message: str | None) -> str:
    text = " ".join(redact(str(message or "")).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def status_error(
    provider: str,
    status: int,
    message: str | None = None,
    *,
    model: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """A ProviderError for an HTTP error status. Auth failures never include the server's text (servers echo
    parts of the key); other details are redacted and shortened."""
    if status in (401, 403):
        what = "authentication failed" if status == 401 else "permission denied"
        return ProviderError(provider, f"{what} (HTTP {status}); {key_hint(provider)}", status=status)
    if status in RETRYABLE_STATUSES:
        label = {429: "rate limited", 529: "overloaded"}.get(status, "server error" if status >= 500 else "busy")
        detail = _detail(message)
        wait = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        return ProviderError(
            provider,
            f"{label} (HTTP {status}){': ' + detail if detail else ''}{wait}",
            retryable=True,
            retry_after=retry_after,
            status=status,
        )
    detail = _detail(message)
    if status == 404:
        fix = (
            (
                f"check that model '{model}' exists for this provider (providers.{provider}.model or the "
                f"phase's model)"
            )
            if model
            else f"check providers.{provider}.base_url"
        )
    else:
        fix = f"check the request settings for {provider} (model, temperature, max_tokens)"
    return ProviderError(
        provider, f"rejected the request (HTTP {status}){': ' + detail if detail else ''}; {fix}", status=status
    )


def _transport_classes() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(timeouts, connection errors, protocol errors) from whichever of httpx / httpx2 the SDKs use."""
    timeouts: list[type] = [TimeoutError]
    connects: list[type] = [ConnectionError]
    protocol: list[type] = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        connects += [module.ConnectError, module.NetworkError]
        protocol += [module.RemoteProtocolError, module.TransportError, module.DecodingError]
    return tuple(timeouts), tuple(connects), tuple(protocol)


def transport_error(
    provider: str, exc: BaseException, *, timeout: float | None = None, endpoint: str | None = None
) -> ProviderError | None:
    """A retryable ProviderError for timeouts, refused or reset connections and malformed responses, or None when
    `exc` is none of these."""
    timeouts, connects, protocol = _transport_classes()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # SDKs wrap the transport error; look through causes
        seen.add(id(current))
        if isinstance(current, timeouts):
            after = f" after {timeout:g}s" if timeout else ""
            return ProviderError(
                provider, f"timed out{after}; raise providers.{provider}.timeout if this persists", retryable=True
            )
        if isinstance(current, connects + protocol):
            where = f" to {endpoint}" if endpoint else ""
            reason = _detail(str(current)) or type(current).__name__
            return ProviderError(provider, f"connection failed{where} ({reason})", retryable=True)
        if isinstance(current, ValueError):  # json.JSONDecodeError and friends: a garbled body
            return ProviderError(provider, "returned a malformed response (not the JSON it documents)", retryable=True)
        current = current.__cause__ or current.__context__
    return None


def unexpected_error(provider: str, exc: BaseException) -> ProviderError:
    """Anything else an SDK raised: reported with its type, redacted, and not retried."""
    return ProviderError(provider, f"unexpected {type(exc).__name__}: {_detail(str(exc))}")


def _google_retry_delay(details: Any) -> float | None:
    """Gemini reports the wait as a google.rpc.RetryInfo detail ("retryDelay": "13s")."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details", []) if isinstance(error, dict) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


def _body_message(body: Any) -> str | None:
    """The human message inside an error body ({"message": ...} or {"error": {"message": ...}})."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return None


def map_exception(
    provider: str,
    exc: BaseException,
    *,
    model: str | None = None,
    timeout: float | None = None,
    endpoint: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Translate whatever an SDK raised into a ProviderError (duck-typed over the official SDKs: `status_code`
    or an integer `code`, the response headers, and the transport exception underneath). `retry_after` is the
    server's wait when the caller read it from the response itself (SDKs whose errors drop the headers)."""
    if isinstance(exc, ProviderError):
        return exc
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        code = getattr(exc, "code", None)
        status = code if isinstance(code, int) else None
    if status is not None and status >= 400:
        if retry_after is None:
            retry_after = parse_retry_after(getattr(getattr(exc, "response", None), "headers", None))
        if retry_after is None:
            retry_after = _google_retry_delay(getattr(exc, "details", None))
        message = (
            _body_message(getattr(exc, "body", None))
            or getattr(exc, "message", None)
            or getattr(exc, "error", None)
            or str(exc)
        )
        return status_error(
            provider,
            status,
            message if isinstance(message, str) else str(message),
            model=model,
            retry_after=retry_after,
        )
    if status is not None or "ResponseValidation" in type(exc).__name__:
        return ProviderError(provider, "returned a malformed response (not the JSON it documents)", retryable=True)
    mapped = transport_error(provider, exc, timeout=timeout, endpoint=endpoint)
    if mapped is not None:
        return mapped
    name = type(exc).__name__
    if "Timeout" in name:
        return ProviderError(
            provider, f"timed out; raise providers.{provider}.timeout if this persists", retryable=True
        )
    if "Connection" in name:
        where = f" to {endpoint}" if endpoint else ""
        return ProviderError(provider, f"connection failed{where}", retryable=True)
    return unexpected_error(provider, exc)


# ------------------------------------------------------------------------------------------------ streams

#: Error types that providers report inside a stream (where the HTTP status is already 200), as the HTTP status
#: the same failure has as a plain response: Anthropic's `event: error` types, OpenAI-style error `type`s.
STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "api_error": 500,
    "server_error": 500,
    "internal_error": 500,
    "service_unavailable": 503,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def stream_error(
    provider: str, kind: str | None, message: str | None = None, *, model: str | None = None
) -> ProviderError:
    """An error the server reported inside a stream, by its type (`overloaded_error`, `server_error` ...): mapped
    like the HTTP status that type stands for; an unknown type counts as a server error (retryable)."""
    status = STREAM_ERROR_STATUS.get(str(kind or "").lower(), 500)
    return status_error(provider, status, message or kind, model=model)


class StreamProgress:
    """What a streamed call has handed to its caller so far. Retrying and failing over are allowed only while
    nothing has been delivered (`started` is false)."""

    def __init__(self) -> None:
        self.deltas = 0
        self.chars = 0

    @property
    def started(self) -> bool:
        return self.deltas > 0

    def delivered(self, delta: str) -> None:
        self.deltas += 1
        self.chars += len(delta)


def interrupted_stream_error(exc: ProviderError, progress: StreamProgress) -> ProviderError:
    """The error that ends a stream which failed after its first delta: the mapped cause (same provider, message
    and status), saying how much had arrived, and never retryable, so nothing retries or fails it over."""
    detail = str(exc).removeprefix(f"provider '{exc.provider}': ")
    return ProviderError(
        exc.provider,
        f"{detail} (the stream broke after {progress.chars} characters had been " f"delivered, so it was not retried)",
        status=exc.status,
    )
