"""Google Gemini through the official `google-genai` SDK (the Gemini Developer API, keyed by GOOGLE_API_KEY).

The system prompt goes in `system_instruction`; temperature (0-2) and `max_output_tokens` in the generation
config. Embeddings use a Gemini embedding model with `output_dimensionality`. `base_url` points the SDK at another
endpoint (a proxy, or a local server in tests).

`stream()` uses `generate_content_stream` (`:streamGenerateContent?alt=sse`); each chunk is a partial
GenerateContentResponse, and the usage metadata of the last one holds the totals.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, SDKProvider, StreamItem
from prompt_alchemy.telemetry import outgoing_headers

_EMBED_BATCH = 100  # the API's limit per batchEmbedContents call


class GoogleProvider(SDKProvider):
    close_method = "aclose"
    name = "google"

    @property
    def endpoint(self) -> str:
        return self.config.base_url or "https://generativelanguage.googleapis.com"

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("google.genai") is None:
            return "the google-genai package is not installed; pip install google-genai"
        if self._key() is None:
            return "no API key; set GOOGLE_API_KEY (or GEMINI_API_KEY) or providers.google.api_key"
        return None

    def supports_embeddings(self) -> bool:
        return True

    def client(self) -> Any:
        """The SDK's async client (`genai.Client(...).aio`), created once."""
        if self._client is None:
            from google import genai
            from google.genai import types

            options = types.HttpOptions(base_url=self.config.base_url or None, timeout=int(self.config.timeout * 1000))
            self._client = genai.Client(api_key=self._key(), vertexai=False, http_options=options).aio
        return self._client

    def _params(self, request: GenerationRequest, model: str) -> dict[str, Any]:
        from google.genai import types

        contents = [
            types.Content(role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.content)])
            for m in request.non_system
        ]
        trace_headers = outgoing_headers()  # the model call's span, as traceparent
        config = types.GenerateContentConfig(
            system_instruction=request.system or None,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
            seed=request.seed,
            stop_sequences=request.stop or None,
            http_options=types.HttpOptions(headers=trace_headers) if trace_headers else None,
        )
        return {"model": model, "contents": contents, "config": config}

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        model = request.model or self.default_model()
        start = time.perf_counter()
        try:
            response = await self.client().models.generate_content(**self._params(request, model))
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
            raise self._error(exc, model) from None
        latency = (time.perf_counter() - start) * 1000.0
        candidates = getattr(response, "candidates", None) or []
        if not candidates:
            raise self._no_candidates(response)
        return self._response(_text(candidates[0]), response, candidates[0], model, latency)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        model = request.model or self.default_model()
        start = time.perf_counter()
        parts: list[str] = []
        last: Any = None  # the last chunk: its usage metadata holds the totals
        candidate: Any = None
        try:
            chunks = await self.client().models.generate_content_stream(**self._params(request, model))
            async with aclosing(chunks):
                async for chunk in chunks:
                    last = chunk if getattr(chunk, "usage_metadata", None) or last is None else last
                    candidates = getattr(chunk, "candidates", None) or []
                    if not candidates:
                        continue
                    candidate = candidates[0]
                    delta = _text(candidate)
                    if delta:
                        parts.append(delta)
                        yield delta
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a ProviderError
            raise self._error(exc, model) from None
        if candidate is None:
            raise self._no_candidates(last)
        if getattr(candidate, "finish_reason", None) is None:
            raise ProviderError(
                self.name, "the stream ended before the model finished (a cut or malformed " "stream)", retryable=True
            )
        yield self._response("".join(parts), last, candidate, model, (time.perf_counter() - start) * 1000.0)

    def _no_candidates(self, response: Any) -> ProviderError:
        feedback = getattr(response, "prompt_feedback", None)
        reason = getattr(feedback, "block_reason", None)
        return ProviderError(
            self.name, f"returned no candidates{f' (blocked: {reason})' if reason else ''}", retryable=reason is None
        )

    def _response(self, text: str, response: Any, candidate: Any, model: str, latency: float) -> GenerationResponse:
        usage = getattr(response, "usage_metadata", None)
        finish = getattr(candidate, "finish_reason", None)
        return GenerationResponse(
            text=text,
            provider=self.name,
            model=getattr(response, "model_version", None) or model,
            input_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
            output_tokens=int(getattr(usage, "candidates_token_count", 0) or 0)
            + int(getattr(usage, "thoughts_token_count", 0) or 0),  # thinking is billed as output
            latency_ms=latency,
            finish_reason=getattr(finish, "value", finish),
        )

    async def embed(
        self, texts: list[str], model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        from google.genai import types

        model = model or self.default_embedding_model()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), _EMBED_BATCH):
            batch = texts[start : start + _EMBED_BATCH]
            config = types.EmbedContentConfig(output_dimensionality=dimensions) if dimensions else None
            try:
                result = await self.client().models.embed_content(model=model, contents=batch, config=config)
            except Exception as exc:  # noqa: BLE001
                raise self._error(exc, model) from None
            embeddings = getattr(result, "embeddings", None) or []
            vectors.extend(self._expect([list(e.values or []) for e in embeddings], len(batch)))
        return vectors

    async def _probe(self) -> str:
        pager = await self.client().models.list(config={"page_size": 20})
        count = len(pager.page or [])
        return f"reachable at {self.endpoint}, key accepted, {count} models listed"


def _text(candidate: Any) -> str:
    """A candidate's answer text: its text parts, without thinking."""
    content = getattr(candidate, "content", None)
    parts = (getattr(content, "parts", None) or []) if content is not None else []
    return "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False))
