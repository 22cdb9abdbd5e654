"""OpenAI, and any OpenAI-compatible server through `base_url` (llama.cpp server, vLLM, LM Studio ...).

One long-lived `AsyncOpenAI` client per provider, created on first use; the SDK's own retries are off because the
registry retries, fails over and rate-limits. Reasoning models (o1/o3/o4, gpt-5) get `max_completion_tokens` and no
`temperature`; a server that rejects either parameter is retried once without it, and the quirk is remembered.

`stream()` sends the same request with `stream: true` and `stream_options.include_usage`, reading the SSE chunks
as they arrive; the usage comes in the last chunk. A compatible server that sends no usage in streams (llama.cpp's
Python server, for one) gets its token counts estimated at about four characters per token, so cost limits and
metrics still see the call.
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, SDKProvider, StreamItem
from prompt_alchemy.providers.resilience import status_error, stream_error
from prompt_alchemy.telemetry import outgoing_headers

log = get_logger("providers.openai")

_REASONING = re.compile(r"^(o\d|gpt-5)(\b|[-.])")
#: Models that take `dimensions` on the embeddings endpoint.
_DIMENSIONED = re.compile(r"^text-embedding-3")
_EMBED_BATCH = 512
#: Sent to compatible servers that need no key (the SDK refuses to start without one); never a secret.
_NO_KEY = "no-key-required"


class OpenAIProvider(SDKProvider):
    name = "openai"
    sdk = "openai"
    default_base_url: str | None = None

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._quirks: dict[str, set[str]] = {}
        self._estimated_usage_noted = False

    # ------------------------------------------------------------------ description

    @property
    def base_url(self) -> str | None:
        return self.config.base_url or self.default_base_url

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    @property
    def official(self) -> bool:
        """True when talking to the provider's own API (not a compatible server behind `base_url`)."""
        return not self.config.base_url

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec(self.sdk) is None:
            return f"the {self.sdk} package is not installed; pip install {self.sdk}"
        if self._key() is None and self.official:
            return (
                f"no API key; set OPENAI_API_KEY or providers.{self.name}.api_key (or providers.{self.name}."
                f"base_url for a compatible server that needs none)"
            )
        return None

    def supports_embeddings(self) -> bool:
        return True

    # ------------------------------------------------------------------ client

    def _headers(self) -> dict[str, str]:
        return {}

    def client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=self._key() or _NO_KEY,
                base_url=self.base_url,
                timeout=self.config.timeout,
                max_retries=0,
                default_headers=self._headers() or None,
            )
        return self._client

    def _params(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        quirks = self._quirks.get(model, set())
        reasoning = self.official and bool(_REASONING.match(model))
        params: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        use_completion_tokens = (reasoning or "max_completion_tokens" in quirks) and "max_tokens" not in quirks
        params["max_completion_tokens" if use_completion_tokens else "max_tokens"] = request.max_tokens
        if not reasoning and "no_temperature" not in quirks:
            params["temperature"] = request.temperature
        if request.seed is not None:
            params["seed"] = request.seed
        if request.stop:
            params["stop"] = request.stop
        params.update(self._extra_params(model))
        return params

    def _extra_params(self, model: str) -> dict[str, Any]:
        return {}

    def _learn_quirk(self, model: str, exc: BaseException) -> bool:
        """Recognise a 400 about an unsupported parameter; returns True when a retry without it makes sense."""
        if getattr(exc, "status_code", None) != 400:
            return False
        text = str(getattr(exc, "message", "") or exc).lower()
        quirks = self._quirks.setdefault(model, set())
        if "temperature" in text and "no_temperature" not in quirks:
            quirks.add("no_temperature")
        elif (
            "max_tokens" in text
            and "max_completion_tokens" in text
            and not quirks & {"max_tokens", "max_completion_tokens"}
        ):
            quirks.add(
                "max_tokens" if "max_completion_tokens" in text.split("max_tokens")[0] else "max_completion_tokens"
            )
        else:
            return False
        log.info("%s model %s rejected a parameter; retrying without it (%s)", self.name, model, sorted(quirks))
        return True

    def _error(self, exc: BaseException, model: str | None = None) -> ProviderError:
        # An error inside a stream ({"error": {...}} in a chunk) has no HTTP status, the stream's was 200: map it
        # by its numeric code (OpenRouter sends the status there) or else by its type.
        body = getattr(exc, "body", None)
        if getattr(exc, "status_code", None) is None and isinstance(body, dict):
            code, message = body.get("code"), body.get("message")
            if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
                return status_error(self.name, int(code), message if isinstance(message, str) else None, model=model)
            return stream_error(self.name, body.get("type") or code, message, model=model)
        return super()._error(exc, model)

    async def _create(self, request: GenerationRequest, model: str, **extra: Any) -> Any:
        """chat.completions.create, asked again without a parameter the model rejected (see `_learn_quirk`)."""
        client = self.client()
        for _attempt in range(3):
            try:
                return await client.chat.completions.create(
                    **self._params(request, model), **extra, extra_headers=outgoing_headers() or None
                )
            except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
                if self._learn_quirk(model, exc):
                    continue
                raise self._error(exc, model) from None
        raise ProviderError(self.name, f"model {model} rejected every parameter combination")  # pragma: no cover

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        model = request.model or self.default_model()
        start = time.perf_counter()
        completion = await self._create(request, model)
        latency = (time.perf_counter() - start) * 1000.0
        if not getattr(completion, "choices", None):
            raise ProviderError(self.name, "returned no choices (a malformed or filtered response)", retryable=True)
        choice = completion.choices[0]
        usage = getattr(completion, "usage", None)
        text = (choice.message.content if choice.message else None) or ""
        return GenerationResponse(
            text=text,
            provider=self.name,
            model=getattr(completion, "model", None) or model,
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_ms=latency,
            finish_reason=choice.finish_reason,
        )

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        model = request.model or self.default_model()
        start = time.perf_counter()
        chunks = await self._create(request, model, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        usage: Any = None
        finish: str | None = None
        answered_by: str | None = None
        try:
            async with chunks:
                async for chunk in chunks:
                    answered_by = getattr(chunk, "model", None) or answered_by
                    usage = getattr(chunk, "usage", None) or usage
                    for choice in getattr(chunk, "choices", None) or []:
                        if getattr(choice, "index", 0) != 0:
                            continue
                        delta = getattr(getattr(choice, "delta", None), "content", None)
                        if delta:
                            parts.append(delta)
                            yield delta
                        finish = getattr(choice, "finish_reason", None) or finish
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
            raise self._error(exc, model) from None
        if finish is None:
            raise ProviderError(
                self.name, "the stream ended before the model finished (a cut or malformed " "stream)", retryable=True
            )
        text = "".join(parts)
        if usage is not None:
            input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        else:
            input_tokens = sum(len(m.content) for m in request.messages) // 4
            output_tokens = len(text) // 4
            if not self._estimated_usage_noted:
                self._estimated_usage_noted = True
                log.info("%s at %s sent no usage in its stream; token counts are estimated", self.name, self.endpoint)
        yield GenerationResponse(
            text=text,
            provider=self.name,
            model=answered_by or model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=(time.perf_counter() - start) * 1000.0,
            finish_reason=finish,
        )

    # ------------------------------------------------------------------ embeddings

    async def embed(
        self, texts: list[str], model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        model = model or self.default_embedding_model()
        client = self.client()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), _EMBED_BATCH):
            batch = texts[start : start + _EMBED_BATCH]
            params: dict[str, Any] = {"model": model, "input": batch, "encoding_format": "float"}
            if dimensions and _DIMENSIONED.match(model):
                params["dimensions"] = dimensions
            try:
                result = await client.embeddings.create(**params)
            except Exception as exc:  # noqa: BLE001
                raise self._error(exc, model) from None
            data = sorted(result.data, key=lambda d: d.index)
            vectors.extend(self._expect([list(d.embedding) for d in data], len(batch)))
        return vectors

    # ------------------------------------------------------------------ health

    async def _probe(self) -> str:
        page = await self.client().models.list()
        count = len(getattr(page, "data", None) or [])
        return f"reachable at {self.endpoint}, key accepted, {count} models listed"
