"""The provider registry as a gateway: one long-lived instance (and SDK client) per provider, per-phase resolution
with ordered fallbacks, and dependable calls.

Each call in a phase's chain goes: response cache -> cost limit -> rate limit -> provider, retried with exponential
backoff and jitter on timeouts, connection errors, 429 and 5xx (honouring Retry-After), then failed over to the
next provider. Authentication and bad-request errors fail fast. Every retry, failover and cache hit becomes a
MetricRecord, and every failover an event the `generate` output shows.

A call streams when the caller passes `on_delta`: the provider's streaming API is used and each text delta is
handed over as it arrives (a cached answer arrives as one delta). The same rules apply until the first delta has
been delivered; after that a failure ends the call (see :mod:`prompt_alchemy.providers.resilience`). Without
`on_delta` the provider's plain `generate` is called, exactly as before streaming existed.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prompt_alchemy import telemetry
from prompt_alchemy.config import Settings
from prompt_alchemy.errors import CostLimitError, InputError, ProviderError, ProviderUnavailableError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import MetricRecord, Phase
from prompt_alchemy.providers.base import (
    BaseProvider,
    DeltaCallback,
    GenerationRequest,
    GenerationResponse,
    Provider,
    StreamItem,
    stream_from_generate,
)
from prompt_alchemy.providers.catalog import all_providers
from prompt_alchemy.providers.pricing import PriceTable, price_source
from prompt_alchemy.providers.resilience import RetryPolicy, StreamProgress, TokenBucket, interrupted_stream_error

log = get_logger("providers")
T = TypeVar("T")

#: Implementations by name ("module:Class"), imported on first use so that unused SDKs are never loaded.
IMPLEMENTATIONS: dict[str, str]
#: Never picked automatically: only when named.
EXPLICIT_ONLY: frozenset[str]
#: Providers across a network, which the embedded model backs up.
REMOTE_PROVIDERS: tuple[str, ...]

_DERIVED = {
    "IMPLEMENTATIONS": lambda: {n: i.implementation for n, i in all_providers().items()},
    "EXPLICIT_ONLY": lambda: frozenset(n for n, i in all_providers().items() if i.explicit_only),
    "REMOTE_PROVIDERS": lambda: tuple(n for n, i in all_providers().items() if i.kind in ("cloud", "remote")),
}


def __getattr__(name: str) -> Any:
    """The tables above, derived from the provider descriptions (built-in and plugins) on first access."""
    derive = _DERIVED.get(name)
    if derive is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = derive()
    return value


_unloadable_warned: set[str] = set()


class _UnloadableProvider(BaseProvider):
    """Stands in for a provider whose implementation cannot be imported (a plugin's missing module or SDK): it is
    unavailable, with the reason, so that every other provider keeps working."""

    def __init__(self, name: str, config: Any, reason: str) -> None:
        super().__init__(config)
        self.name = name
        self._reason = reason

    def unavailable_reason(self) -> str | None:
        return self._reason

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        raise ProviderUnavailableError(self.name, self._reason)


@dataclass
class CallOutcome:
    """What a chain call produced, plus what happened on the way (failovers, errors) for metrics and output."""

    response: GenerationResponse
    events: list[str] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)


@dataclass
class RunOptions:
    """Per-run gateway options, set around a run with :meth:`ProviderRegistry.run_options` and shared by every
    task the run starts (a context variable): cache use and the cost limit with what has been spent so far."""

    read_cache: bool = True
    write_cache: bool = True
    max_cost: float | None = None
    spent: float = 0.0
    cache_hits: int = 0
    calls: int = 0


_run_options: contextvars.ContextVar[RunOptions | None] = contextvars.ContextVar("prompt_alchemy_run", default=None)


class ProviderRegistry:
    def __init__(self, settings: Settings, cache_factory: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self._instances: dict[str, Provider] = {}
        self._limiters: dict[str, TokenBucket] = {}
        self._cache_factory = cache_factory
        self._cache: Any = None
        self.prices = PriceTable(settings.gateway.prices)

    # ------------------------------------------------------------------ lookup

    @staticmethod
    def check_name(name: str) -> str:
        if name not in all_providers():
            raise InputError(f"unknown provider '{name}'; known providers: {', '.join(all_providers())}")
        return name

    def get(self, name: str) -> Provider:
        self.check_name(name)
        if name not in self._instances:
            info = all_providers()[name]
            config = self.settings.providers.get(name)
            try:
                provider = info.load()(config)
            except Exception as exc:  # noqa: BLE001 - a broken implementation disables that provider only
                reason = f"its implementation {info.implementation} could not be loaded: " + " ".join(
                    f"{type(exc).__name__}: {exc}".split()
                )
                if name not in _unloadable_warned:
                    _unloadable_warned.add(name)
                    log.warning("provider '%s': %s", name, reason)
                provider = _UnloadableProvider(name, config, reason)
            if getattr(provider, "name", None) != name:
                provider.name = name  # the description's name is the one config, output and storage use
            self._instances[name] = provider
        return self._instances[name]

    def available(self) -> list[str]:
        return [n for n, info in all_providers().items() if not info.explicit_only and self.get(n).is_available()]

    # ------------------------------------------------------------------ resolution

    def chain(self, phase: Phase, override: str | None = None) -> list[str]:
        """The ordered providers to try for a phase. Raises when none of them can run here.

        A phase served by a remote provider (cloud or Ollama) falls back to the embedded `local` model last when it
        is installed, unless the phase's `fallbacks` are set explicitly (even to []) or `override` names the one
        provider to use: an outage then gives a slower answer instead of an error."""
        cfg = self.settings.phases.get(phase)
        if override:
            names = [self.check_name(override)]
        elif cfg.provider:
            names = [self.check_name(cfg.provider)] + [self.check_name(f) for f in cfg.fallbacks]
        else:
            preferred = next((n for n, i in all_providers().items() if phase in i.preferred_phases), None)
            auto = preferred
            if auto not in self.available():
                auto = next(iter(self.available()), None)
            names = ([auto] if auto else []) + [self.check_name(f) for f in cfg.fallbacks]
        remote = [n for n in names if all_providers()[n].kind in ("cloud", "remote")]
        if not override and self.local_is_automatic_fallback(phase) and remote:
            names.append("local")
        ordered = list(dict.fromkeys(names))
        usable = [n for n in ordered if self.get(n).is_available()]
        if not usable:
            from prompt_alchemy.localstack import setup_hint

            reasons = (
                "; ".join(f"{n}: {self.get(n).unavailable_reason()}" for n in ordered)
                or f"no provider is configured or installed (add an API key, or {setup_hint()} for the local model)"
            )
            raise ProviderUnavailableError(
                ordered[0] if ordered else "none", f"no usable provider for phase {phase.value}: {reasons}"
            )
        return usable

    def local_is_automatic_fallback(self, phase: Phase) -> bool:
        """Whether `local` ends the phase's chain on its own account: the user did not set the phase's fallbacks."""
        return "fallbacks" not in self.settings.phases.get(phase).model_fields_set

    def model_for(self, phase: Phase, provider: str) -> str:
        """The phase's configured model applies to the phase's own provider; fallbacks use their default."""
        cfg = self.settings.phases.get(phase)
        if cfg.model and (cfg.provider in (None, provider)):
            return cfg.model
        return self.get(provider).default_model()

    # ------------------------------------------------------------------ gateway plumbing

    @contextmanager
    def run_options(
        self, *, read_cache: bool = True, write_cache: bool = True, max_cost: float | None = None
    ) -> Iterator[RunOptions]:
        """Gateway options for everything called inside the block (and the tasks it starts)."""
        options = RunOptions(read_cache=read_cache, write_cache=write_cache, max_cost=max_cost)
        token = _run_options.set(options)
        try:
            yield options
        finally:
            _run_options.reset(token)

    @staticmethod
    def current_options() -> RunOptions:
        return _run_options.get() or RunOptions()

    def limiter(self, name: str) -> TokenBucket:
        if name not in self._limiters:
            rpm = getattr(self.settings.providers.get(name), "requests_per_minute", None)
            self._limiters[name] = TokenBucket(rpm)
        return self._limiters[name]

    def retry_policy(self, name: str) -> RetryPolicy:
        gw = self.settings.gateway
        return RetryPolicy(
            max_retries=getattr(self.settings.providers.get(name), "max_retries", 0),
            base_delay=gw.backoff_base_seconds,
            max_delay=gw.backoff_max_seconds,
        )

    @property
    def cache(self) -> Any:
        """The response cache (created on first use), or None when caching is off or unavailable."""
        if self._cache is None and self._cache_factory is not None and self.settings.gateway.cache:
            self._cache = self._cache_factory()
        return self._cache

    def _cacheable(self, name: str) -> bool:
        return self.settings.gateway.cache and name not in self.settings.gateway.cache_skip_providers

    def endpoint(self, name: str) -> str | None:
        provider = self.get(name)
        return getattr(provider, "endpoint", None)

    def price_response(self, response: GenerationResponse) -> float:
        return self.prices.cost(response.provider, response.model, response.input_tokens, response.output_tokens)

    def estimate_cost(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
        return self.prices.cost(provider, model, input_tokens, output_tokens)

    async def prepare(self, provider: Any) -> None:
        """Create the provider's SDK client (importing the SDK) before any timer starts: timeouts are for the
        network. This runs on the event-loop thread on purpose: importing an SDK in a worker thread while the
        loop uses the same half-imported transport (httpx) raised "partially initialized module" errors; the
        one-time import cost per process is the price of never racing."""
        make_client = getattr(provider, "client", None)
        if callable(make_client) and getattr(provider, "_client", None) is None and provider.is_available():
            make_client()

    async def call_with_retries(
        self,
        name: str,
        make_call: Callable[[], Awaitable[T]],
        *,
        phase: str | None = None,
        model: str | None = None,
        metrics: list[MetricRecord] | None = None,
        stream: StreamProgress | None = None,
    ) -> T:
        """Rate-limit and call `make_call()`, retrying retryable ProviderErrors per the provider's policy.
        Raises the last error when retries are exhausted (or the server asks for a longer wait than allowed).

        With `stream` (a streamed call, which applies its own timeout between deltas instead of one over the whole
        call), a failure after the first delta was delivered is not retried: it raises the mapped error, marked
        not retryable so that no failover follows either."""
        metrics = metrics if metrics is not None else []
        policy = self.retry_policy(name)
        limiter = self.limiter(name)
        timeout = self.settings.providers.get(name).timeout
        attempt = 0
        while True:
            waited = await limiter.acquire()
            if waited > 0:
                metrics.append(
                    MetricRecord(
                        kind="throttle",
                        phase=phase,
                        provider=name,
                        model=model,
                        latency_ms=waited * 1000.0,
                        detail="client-side rate limit",
                    )
                )
            start = time.perf_counter()
            try:
                if timeout and stream is None:
                    async with asyncio.timeout(timeout + 1.0):  # backstop over the SDK's own timeout
                        return await make_call()
                return await make_call()
            except TimeoutError:
                exc = ProviderError(
                    name,
                    f"timed out after {timeout:g}s; raise providers.{name}.timeout if this " f"persists",
                    retryable=True,
                )
            except ProviderError as err:
                exc = err
            elapsed = (time.perf_counter() - start) * 1000.0
            if stream is not None and stream.started:
                exc = interrupted_stream_error(exc, stream)
            metrics.append(
                MetricRecord(
                    kind="provider_error",
                    phase=phase,
                    provider=name,
                    model=model,
                    latency_ms=elapsed,
                    success=False,
                    detail=str(exc),
                )
            )
            if not exc.retryable or attempt >= policy.max_retries:
                raise exc
            delay = policy.delay(attempt, exc.retry_after)
            if delay is None:
                log.info(
                    "%s asks to wait %.0fs (over gateway.backoff_max_seconds); not retrying", name, exc.retry_after or 0
                )
                raise exc
            if exc.retry_after:
                limiter.defer(exc.retry_after)
            attempt += 1
            metrics.append(
                MetricRecord(
                    kind="retry",
                    phase=phase,
                    provider=name,
                    model=model,
                    latency_ms=delay * 1000.0,
                    success=False,
                    detail=f"attempt {attempt + 1} of {policy.max_retries + 1} after " f"{delay:.2f}s: {exc}",
                )
            )
            log.info(
                "retrying %s in %.2fs (attempt %d of %d): %s", name, delay, attempt + 1, policy.max_retries + 1, exc
            )
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------ calls

    async def generate(
        self, phase: Phase, chain: list[str], request: GenerationRequest, *, on_delta: DeltaCallback | None = None
    ) -> CallOutcome:
        """Call the chain in order until one provider answers; retryable failures are retried, then fail over to
        the next provider; non-retryable ones (auth, bad request) fail fast.

        With `on_delta` the call streams: each text delta goes to `on_delta` as it arrives, and only the provider
        that delivers the first delta ever delivers any (a stream that breaks later ends the call)."""
        with telemetry.span(
            f"phase {phase.value}",
            **{"prompt_alchemy.phase": phase.value, "prompt_alchemy.variant": request.metadata.get("variant")},
        ):
            return await self._generate(phase, chain, request, on_delta)

    async def _generate(
        self, phase: Phase, chain: list[str], request: GenerationRequest, on_delta: DeltaCallback | None
    ) -> CallOutcome:
        options = self.current_options()
        events: list[str] = []
        metrics: list[MetricRecord] = []
        for position, name in enumerate(chain):
            call = dataclasses.replace(request, model=self.model_for(phase, name))
            try:
                response = await self._call_one(name, call, phase.value, options, metrics, on_delta)
            except ProviderError as exc:
                if not exc.retryable or position == len(chain) - 1:
                    raise
                nxt = chain[position + 1]
                why = (
                    f" (the embedded model, every remote provider's last fallback; set phases.{phase.value}."
                    f"fallbacks to choose another)"
                    if nxt == "local" and position == len(chain) - 2 and self.local_is_automatic_fallback(phase)
                    else ""
                )
                events.append(f"{phase.value}: {name} failed ({exc}); failed over to {nxt}{why}")
                metrics.append(
                    MetricRecord(
                        kind="failover",
                        phase=phase.value,
                        provider=name,
                        model=call.model,
                        success=False,
                        detail=f"{name} -> {nxt}: {exc}",
                    )
                )
                log.info("failover in %s: %s -> %s (%s)", phase.value, name, nxt, exc)  # the result's note says it
                continue
            return CallOutcome(response=response, events=events, metrics=metrics)
        raise ProviderUnavailableError("none", f"no provider in the chain for {phase.value}")

    async def call(
        self, name: str, request: GenerationRequest, *, phase: str | None = None, on_delta: DeltaCallback | None = None
    ) -> CallOutcome:
        """One provider through the gateway: response cache, cost limit, rate limit, retries and pricing, without
        failover. For callers outside the phase chains (a judge, an optimizer). `on_delta` streams the call."""
        call = dataclasses.replace(request, model=request.model or self.get(name).default_model())
        metrics: list[MetricRecord] = []
        response = await self._call_one(name, call, phase, self.current_options(), metrics, on_delta)
        return CallOutcome(response=response, metrics=metrics)

    async def _call_one(
        self,
        name: str,
        call: GenerationRequest,
        phase: str | None,
        options: RunOptions,
        metrics: list[MetricRecord],
        on_delta: DeltaCallback | None = None,
    ) -> GenerationResponse:
        cached = self._cache_lookup(name, call, options)
        if cached is not None:
            options.cache_hits += 1
            metrics.append(
                MetricRecord(
                    kind="cache_hit",
                    phase=phase,
                    provider=cached.provider,
                    model=cached.model,
                    latency_ms=cached.latency_ms,
                    detail="answered from the response cache",
                )
            )
            if on_delta is not None and cached.text:
                on_delta(cached.text)  # a cached answer is delivered whole, as one delta
            return cached
        if options.max_cost is not None and options.spent >= options.max_cost:
            raise CostLimitError(
                f"the run reached --max-cost ${options.max_cost:g} (spent ${options.spent:.4f}) before "
                f"{phase or 'the next call'}; nothing was saved. Answers so far are cached: rerun with a higher "
                f"--max-cost to continue without paying for them again"
            )
        provider = self.get(name)
        await self.prepare(provider)
        with telemetry.model_call(
            name,
            call.model,
            temperature=call.temperature,
            max_tokens=call.max_tokens,
            remote=all_providers()[name].kind in ("cloud", "remote"),
            server=self.endpoint(name),
        ) as traced:
            if on_delta is None:
                response = await self.call_with_retries(
                    name, lambda: provider.generate(call), phase=phase, model=call.model, metrics=metrics
                )
            else:
                progress = StreamProgress()
                response = await self.call_with_retries(
                    name,
                    lambda: self._read_stream(name, provider, call, on_delta, progress),
                    phase=phase,
                    model=call.model,
                    metrics=metrics,
                    stream=progress,
                )
            traced.answered(response.model, response.input_tokens, response.output_tokens, response.finish_reason)
        options.calls += 1
        if not response.cost_usd:
            response.cost_usd = self.price_response(response)
        options.spent += response.cost_usd
        self._cache_store(name, call, response, options)
        return response

    async def _read_stream(
        self, name: str, provider: Provider, call: GenerationRequest, on_delta: DeltaCallback, progress: StreamProgress
    ) -> GenerationResponse:
        """One attempt at a streamed call: hand each delta to `on_delta` (noting it in `progress`) and return the
        final response. The wait for each next item is bounded by the provider's timeout (plus the backstop's
        second), so a long answer that keeps arriving is never cut, while a stalled one is."""
        timeout = self.settings.providers.get(name).timeout
        response: GenerationResponse | None = None
        async with aclosing(_open_stream(provider, call)) as items:
            iterator = aiter(items)
            while True:
                try:
                    if timeout:
                        async with asyncio.timeout(timeout + 1.0):
                            item = await anext(iterator)
                    else:
                        item = await anext(iterator)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    waiting = "the next token" if progress.started else "the first token"
                    raise ProviderError(
                        name,
                        f"timed out after {timeout:g}s waiting for {waiting}; raise "
                        f"providers.{name}.timeout if this persists",
                        retryable=True,
                    ) from None
                if isinstance(item, GenerationResponse):
                    response = item
                elif item:
                    progress.delivered(item)
                    on_delta(item)
        if response is None:
            raise ProviderError(
                name, "the stream ended without its final response (a cut or malformed stream)", retryable=True
            )
        return response

    def _cache_lookup(self, name: str, call: GenerationRequest, options: RunOptions) -> GenerationResponse | None:
        if not (options.read_cache and self._cacheable(name)):
            return None
        cache = self.cache
        if cache is None:
            return None
        from prompt_alchemy.providers.cache import response_key

        start = time.perf_counter()
        hit = cache.get(response_key(name, self.endpoint(name), call.model or "", call))
        if hit is not None:
            hit.latency_ms = (time.perf_counter() - start) * 1000.0
        return hit

    def _cache_store(
        self, name: str, call: GenerationRequest, response: GenerationResponse, options: RunOptions
    ) -> None:
        if not (options.write_cache and self._cacheable(name)) or not response.text.strip():
            return
        cache = self.cache
        if cache is None:
            return
        from prompt_alchemy.providers.cache import response_key

        cache.put(response_key(name, self.endpoint(name), call.model or "", call), response)

    # ------------------------------------------------------------------ embeddings

    def embedding_client(self, name: str) -> EmbeddingClient:
        """The provider's embeddings behind the gateway: cache, rate limit and retries."""
        return EmbeddingClient(self, name)

    # ------------------------------------------------------------------ status

    def describe(self, name: str) -> dict[str, Any]:
        """What `prompt-alchemy providers` shows for one provider (no network)."""
        from prompt_alchemy.config import provider_has_credentials

        info = all_providers()[name]
        provider = self.get(name)
        cfg = self.settings.providers.get(name)
        reason = provider.unavailable_reason()
        if info.kind == "cloud":
            configured = provider_has_credentials(self.settings, name) or bool(getattr(cfg, "base_url", None))
        elif info.kind == "remote" and hasattr(provider, "endpoint"):
            configured = bool(getattr(provider, "endpoint", None))
        else:
            configured = reason is None
        phases: dict[str, dict[str, str]] = {}
        for phase in Phase:
            pcfg = self.settings.phases.get(phase)
            try:
                chain = self.chain(phase)
            except ProviderError:
                chain = []
            declared = ([pcfg.provider] if pcfg.provider else []) + list(pcfg.fallbacks)
            if name in chain or name in declared:
                role = "primary" if (chain[:1] == [name] or pcfg.provider == name) else "fallback"
                phases[phase.value] = {"role": role, "model": self.model_for(phase, name)}
        embeds = provider.supports_embeddings() or name == "local"  # local: the bundled MiniLM embedder
        embedding_model = None
        if name == "local":
            embedding_model = info.embedding_model
        elif embeds:
            default_embed = getattr(provider, "default_embedding_model", None)
            embedding_model = (default_embed() if callable(default_embed) else info.embedding_model) or None
        price = self.prices.lookup(name, provider.default_model())
        return {
            "name": name,
            "configured": configured,
            "available": reason is None,
            "reason": reason,
            "default_model": provider.default_model(),
            "phases": phases,
            "embeddings": embeds,
            "embedding_model": embedding_model,
            "embedder": name == self.settings.generation.embedding_provider,
            "endpoint": getattr(provider, "endpoint", None),
            "timeout": cfg.timeout,
            "max_retries": getattr(cfg, "max_retries", None),
            "requests_per_minute": getattr(cfg, "requests_per_minute", None),
            "price_per_million": {"input": price.input, "output": price.output} if price else None,
            "price_source": price_source(price),
        }

    async def check(self, name: str) -> dict[str, Any]:
        """Contact the provider (host reachable, key accepted). Never raises; the outcome is in the result."""
        provider = self.get(name)
        await self.prepare(provider)
        start = time.perf_counter()
        try:
            detail = await asyncio.wait_for(
                provider.check(), timeout=min(30.0, (self.settings.providers.get(name).timeout or 30.0) + 1.0)
            )
            ok = True
        except ProviderError as exc:
            detail, ok = str(exc).removeprefix(f"provider '{name}': "), False
        except TimeoutError:
            detail, ok = "timed out", False
        return {"ok": ok, "detail": detail, "latency_ms": round((time.perf_counter() - start) * 1000.0, 1)}

    async def aclose(self) -> None:
        for provider in self._instances.values():
            await provider.aclose()
        self._instances.clear()


def _open_stream(provider: Provider, call: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
    """The provider's stream; a plugin object without `stream` answers through `generate`, as one delta."""
    stream = getattr(provider, "stream", None)
    if callable(stream):
        return stream(call)
    return stream_from_generate(provider, call)


class EmbeddingClient:
    """A provider's `embed` seen through the gateway; looks like a provider to embeddings.ProviderEmbedder."""

    def __init__(self, registry: ProviderRegistry, name: str) -> None:
        self._registry = registry
        self._provider = registry.get(name)
        self.name = name

    def supports_embeddings(self) -> bool:
        return self._provider.supports_embeddings()

    def unavailable_reason(self) -> str | None:
        return self._provider.unavailable_reason()

    def default_model(self) -> str:
        return self._provider.default_model()

    async def embed(
        self, texts: list[str], model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        registry = self._registry
        options = registry.current_options()
        model = model or getattr(self._provider, "default_embedding_model", lambda: "")()
        cache = registry.cache if registry._cacheable(self.name) else None
        found: list[list[float] | None] = [None] * len(texts)
        if cache is not None and options.read_cache:
            found = cache.get_embeddings(self.name, model, dimensions, texts)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            await registry.prepare(self._provider)
            todo = [texts[i] for i in missing]
            vectors = await registry.call_with_retries(
                self.name, lambda: self._provider.embed(todo, model=model, dimensions=dimensions), model=model
            )
            for i, vector in zip(missing, vectors):
                found[i] = vector
            if cache is not None and options.write_cache:
                cache.put_embeddings(self.name, model, dimensions, todo, vectors)
        return [v for v in found if v is not None]
