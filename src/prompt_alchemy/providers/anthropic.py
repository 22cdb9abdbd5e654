"""Anthropic's Messages API through the official `anthropic` SDK.

The system prompt goes in `system`; Anthropic's temperature range is 0-1, so a higher temperature (the tool allows
0-2) is clamped to 1.0 with a warning rather than rejected.

`stream()` uses the SDK's `messages.stream` (server-sent events message_start, content_block_delta, message_delta,
message_stop) and builds its response from the message the SDK accumulates, the same as `generate` reads. An
`event: error` inside the stream (overloaded, rate limited ...) is mapped by its error type.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, SDKProvider, StreamItem
from prompt_alchemy.providers.resilience import stream_error
from prompt_alchemy.telemetry import outgoing_headers

log = get_logger("providers.anthropic")

MAX_TEMPERATURE = 1.0


def clamp_temperature(value: float) -> float:
    return min(max(value, 0.0), MAX_TEMPERATURE)


class AnthropicProvider(SDKProvider):
    name = "anthropic"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._warned: set[float] = set()
        self._no_temperature: set[str] = set()

    @property
    def endpoint(self) -> str:
        return self.config.base_url or "https://api.anthropic.com"

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("anthropic") is None:
            return "the anthropic package is not installed; pip install anthropic"
        if self._key() is None:
            return "no API key; set ANTHROPIC_API_KEY or providers.anthropic.api_key"
        return None

    def client(self) -> Any:
        if self._client is None:
            from anthropic import AsyncAnthropic

            self._client = AsyncAnthropic(
                api_key=self._key(), base_url=self.config.base_url or None, timeout=self.config.timeout, max_retries=0
            )
        return self._client

    def _temperature(self, value: float) -> float:
        clamped = clamp_temperature(value)
        if clamped != value and value not in self._warned:
            self._warned.add(value)
            log.warning("anthropic accepts temperatures from 0 to 1; using %.1f instead of %.2f", clamped, value)
        return clamped

    def _error(self, exc: BaseException, model: str | None = None) -> ProviderError:
        # An `event: error` inside a stream arrives with the stream's status (200): map it by its error type.
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        if isinstance(status, int) and status < 400 and isinstance(body, dict):
            inner = body.get("error")
            error: dict[str, Any] = inner if isinstance(inner, dict) else body
            return stream_error(self.name, error.get("type"), error.get("message"), model=model)
        return super()._error(exc, model)

    def _params(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        messages = [
            {"role": "assistant" if m.role == "assistant" else "user", "content": m.content} for m in request.non_system
        ]
        params: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": request.max_tokens}
        if request.system:
            params["system"] = request.system
        if request.stop:
            params["stop_sequences"] = request.stop
        if trace_headers := outgoing_headers():  # the model call's span, as traceparent
            params["extra_headers"] = trace_headers
        return params

    async def _send(
        self, request: GenerationRequest, model: str, send: Callable[[dict[str, Any] | None], Awaitable[Any]]
    ) -> Any:
        """`send(extra_body)`, asked again without temperature when the model rejects it."""
        while True:
            # `temperature` is a documented Messages API field that recent SDKs no longer type, so it travels in
            # extra_body; a model that rejects it is asked again without it, and that is remembered.
            send_temperature = model not in self._no_temperature
            extra = {"temperature": self._temperature(request.temperature)} if send_temperature else None
            try:
                return await send(extra)
            except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
                if (
                    send_temperature
                    and getattr(exc, "status_code", None) == 400
                    and "temperature" in str(getattr(exc, "message", "") or exc).lower()
                ):
                    self._no_temperature.add(model)
                    log.info("anthropic model %s rejected temperature; retrying without it", model)
                    continue
                raise self._error(exc, model) from None

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        model = request.model or self.default_model()
        params = self._params(request, model)
        start = time.perf_counter()
        message = await self._send(
            request, model, lambda extra: self.client().messages.create(**params, extra_body=extra)
        )
        return self._response(message, model, (time.perf_counter() - start) * 1000.0)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        model = request.model or self.default_model()
        params = self._params(request, model)
        start = time.perf_counter()
        async with AsyncExitStack() as stack:
            events = await self._send(
                request,
                model,
                lambda extra: stack.enter_async_context(self.client().messages.stream(**params, extra_body=extra)),
            )
            try:
                async for text in events.text_stream:
                    if text:
                        yield text
                message = await events.get_final_message()
            except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
                raise self._error(exc, model) from None
        if getattr(message, "stop_reason", None) is None:
            raise ProviderError(
                self.name, "the stream ended before message_stop (a cut or malformed stream)", retryable=True
            )
        yield self._response(message, model, (time.perf_counter() - start) * 1000.0)

    def _response(self, message: Any, model: str, latency: float) -> GenerationResponse:
        blocks = getattr(message, "content", None)
        if blocks is None:
            raise ProviderError(self.name, "returned a message without content (a malformed response)", retryable=True)
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text")
        usage = getattr(message, "usage", None)
        return GenerationResponse(
            text=text,
            provider=self.name,
            model=getattr(message, "model", None) or model,
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            latency_ms=latency,
            finish_reason=getattr(message, "stop_reason", None),
        )

    async def _probe(self) -> str:
        page = await self.client().models.list(limit=20)
        count = len(getattr(page, "data", None) or [])
        return f"reachable at {self.endpoint}, key accepted, {count} models listed"
