"""Ollama through the official `ollama` SDK, at `providers.ollama.host` or `OLLAMA_HOST`.

The system prompt is sent as a system message (the Go reference implementation dropped it); temperature, max
tokens (`num_predict`), seed and stop go in `options`. Embeddings use Ollama's `/api/embed` (e.g. nomic-embed-text).
Ollama is used only when a host is configured, so an absent local server is never picked automatically.

`stream()` asks `/api/chat` with `stream: true` and reads its newline-delimited JSON: one message piece per line,
then a `done` line with the counts. An `{"error": ...}` line inside the stream is a server failure (retryable).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from contextvars import ContextVar
from typing import Any

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, SDKProvider, StreamItem
from prompt_alchemy.providers.resilience import map_exception, parse_retry_after, stream_error
from prompt_alchemy.telemetry import outgoing_headers

# The Ollama SDK's ResponseError keeps the status and body but drops the headers, so a response hook notes the
# server's Retry-After for the call that is failing (hooks run in the caller's task, so each call sees its own).
_RETRY_AFTER: ContextVar[float | None] = ContextVar("ollama_retry_after", default=None)


async def _note_retry_after(response: Any) -> None:
    if response.status_code >= 400:
        _RETRY_AFTER.set(parse_retry_after(response.headers))


async def _send_trace_context(request: Any) -> None:
    """The model call's span as traceparent (the Ollama API has no per-request headers; hooks run in the
    caller's task, so this is the calling span)."""
    request.headers.update(outgoing_headers())


class OllamaProvider(SDKProvider):
    name = "ollama"

    @property
    def endpoint(self) -> str | None:
        return self.config.host or self.config.base_url

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("ollama") is None:
            return "the ollama package is not installed; pip install ollama"
        if not self.endpoint:
            return "no Ollama host configured; set OLLAMA_HOST or providers.ollama.host (e.g. http://127.0.0.1:11434)"
        return None

    def supports_embeddings(self) -> bool:
        return True

    def client(self) -> Any:
        if self._client is None:
            from ollama import AsyncClient

            key = self._key()
            headers = {"Authorization": f"Bearer {key}"} if key else None
            self._client = AsyncClient(
                host=self.endpoint,
                timeout=self.config.timeout,
                headers=headers,
                event_hooks={"request": [_send_trace_context], "response": [_note_retry_after]},
            )
        return self._client

    def _error(self, exc: BaseException, model: str | None = None) -> ProviderError:
        if isinstance(exc, ConnectionError) and not isinstance(exc, (TimeoutError,)):
            return ProviderError(
                self.name,
                f"cannot connect to Ollama at {self.endpoint}; is `ollama serve` " f"running there?",
                retryable=True,
            )
        if getattr(exc, "status_code", None) == 404 and model:
            return ProviderError(
                self.name,
                f"model '{model}' is not available on {self.endpoint}; run "
                f"`ollama pull {model}` there or choose another model",
                status=404,
            )
        if getattr(exc, "status_code", None) == -1 and type(exc).__name__ == "ResponseError":
            # the SDK's ResponseError without a status: an {"error": ...} line inside a streamed answer
            return stream_error(self.name, "server_error", getattr(exc, "error", None) or str(exc), model=model)
        return map_exception(
            self.name,
            exc,
            model=model,
            timeout=self.config.timeout,
            endpoint=self.endpoint,
            retry_after=_RETRY_AFTER.get(),
        )

    def _params(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": request.temperature, "num_predict": request.max_tokens}
        if request.seed is not None:
            options["seed"] = request.seed
        if request.stop:
            options["stop"] = request.stop
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        return {"model": model, "messages": messages, "options": options}

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        model = request.model or self.default_model()
        start = time.perf_counter()
        try:
            response = await self.client().chat(**self._params(request, model), stream=False)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
            raise self._error(exc, model) from None
        latency = (time.perf_counter() - start) * 1000.0
        message = getattr(response, "message", None)
        if message is None:
            raise ProviderError(self.name, "returned no message (a malformed response)", retryable=True)
        return self._response(message.content or "", response, model, latency)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        model = request.model or self.default_model()
        start = time.perf_counter()
        parts: list[str] = []
        final: Any = None
        try:
            lines = await self.client().chat(**self._params(request, model), stream=True)
            async with aclosing(lines):
                async for line in lines:
                    delta = getattr(getattr(line, "message", None), "content", None)
                    if delta:
                        parts.append(delta)
                        yield delta
                    if getattr(line, "done", False):
                        final = line
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
            raise self._error(exc, model) from None
        if final is None:
            raise ProviderError(
                self.name, "the stream ended before its done line (a cut or malformed stream)", retryable=True
            )
        yield self._response("".join(parts), final, model, (time.perf_counter() - start) * 1000.0)

    def _response(self, text: str, response: Any, model: str, latency: float) -> GenerationResponse:
        return GenerationResponse(
            text=text,
            provider=self.name,
            model=getattr(response, "model", None) or model,
            input_tokens=int(getattr(response, "prompt_eval_count", 0) or 0),
            output_tokens=int(getattr(response, "eval_count", 0) or 0),
            latency_ms=latency,
            finish_reason=getattr(response, "done_reason", None),
        )

    async def embed(
        self, texts: list[str], model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        model = model or self.default_embedding_model()
        try:
            response = await self.client().embed(model=model, input=texts, dimensions=dimensions)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, model) from None
        return self._expect([list(v) for v in (getattr(response, "embeddings", None) or [])], len(texts))

    async def _probe(self) -> str:
        listing = await self.client().list()
        names = {getattr(m, "model", None) for m in (getattr(listing, "models", None) or [])}
        model = self.default_model()
        pulled = model in names or f"{model}:latest" in names
        return f"reachable at {self.endpoint}, {len(names)} models pulled" + (
            "" if pulled else f"; default model '{model}' is not pulled (run `ollama pull {model}`)"
        )
