"""Server telemetry: Prometheus metrics and OpenTelemetry spans, both off until the server turns them on.

`enable_metrics()` (the HTTP server does it) creates the metrics in a registry of their own; until then every
`observe_*` call is a no-op, so the CLI never imports `prometheus_client`. `enable_tracing()` sets up an
OpenTelemetry tracer when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the `otel` extra is installed; until then
every span helper is a no-op that imports nothing (see the tracing section below).

What is measured: HTTP requests by route, method and status with latency histograms; provider calls, errors,
retries, failovers, tokens and cost by provider and model (from each generation's metric records); generation
latency in total and by phase; search latency by mode; response-cache hits; the library's size (read when
scraped).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

_metrics: _Metrics | None = None
_tracer: Any = None

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = r = CollectorRegistry(auto_describe=True)
        p = "prompt_alchemy_"
        self.http_requests = Counter(
            f"{p}http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            f"{p}http_request_duration_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_calls = Counter(
            f"{p}provider_calls_total", "Provider calls that answered", ["provider", "model"], registry=r
        )
        self.provider_errors = Counter(
            f"{p}provider_errors_total", "Provider call failures", ["provider", "model"], registry=r
        )
        self.provider_retries = Counter(
            f"{p}provider_retries_total", "Provider call retries", ["provider", "model"], registry=r
        )
        self.provider_failovers = Counter(
            f"{p}provider_failovers_total", "Failovers away from a provider", ["provider", "model"], registry=r
        )
        self.provider_tokens = Counter(
            f"{p}provider_tokens_total",
            "Tokens by provider, model and direction",
            ["provider", "model", "direction"],
            registry=r,
        )
        self.provider_cost = Counter(
            f"{p}provider_cost_usd_total", "Cost in USD by provider and model", ["provider", "model"], registry=r
        )
        self.cache_hits = Counter(
            f"{p}cache_hits_total", "Provider calls answered from the response cache", ["provider"], registry=r
        )
        self.generation_latency = Histogram(
            f"{p}generation_duration_seconds", "Whole generation runs", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.phase_latency = Histogram(
            f"{p}generation_phase_duration_seconds",
            "Generation calls by phase",
            ["phase"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.search_latency = Histogram(
            f"{p}search_duration_seconds", "Library searches by mode", ["mode"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.library = Gauge(f"{p}library_prompts", "Stored prompts", registry=r)
        self.queue_depth = Gauge(
            f"{p}job_queue_depth", "Job items queued or running (the worker autoscaler's " "signal)", registry=r
        )


def enable_metrics() -> None:
    """Create the metrics (once per process)."""
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()


def observe_library_size(prompts: float) -> None:
    """The library's size, as counted when a scrape asks."""
    if _metrics is not None:
        _metrics.library.set(prompts)


def observe_queue_depth(items: float) -> None:
    """Job items queued or running over every job, as counted when a scrape asks."""
    if _metrics is not None:
        _metrics.queue_depth.set(items)


def metrics_enabled() -> bool:
    return _metrics is not None


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if _metrics is None:
        enable_metrics()
    assert _metrics is not None
    return generate_latest(_metrics.registry), CONTENT_TYPE_LATEST


def observe_http(route: str, method: str, status: int, seconds: float) -> None:
    if _metrics is not None:
        _metrics.http_requests.labels(route, method, str(status)).inc()
        _metrics.http_latency.labels(route, method).observe(seconds)


def observe_search(mode: str, seconds: float) -> None:
    if _metrics is not None:
        _metrics.search_latency.labels(mode).observe(seconds)


def observe_generation(result: Any, seconds: float) -> None:
    """Count a finished generation from its metric records (calls, errors, retries, failovers, cache hits)."""
    m = _metrics
    records = list(getattr(result, "metrics", []) or [])
    if m is not None:
        m.generation_latency.observe(seconds)
        for rec in records:
            provider, model = rec.provider or "unknown", rec.model or ""
            if rec.kind == "generation":
                m.phase_latency.labels(rec.phase or "unknown").observe(rec.latency_ms / 1000.0)
                if rec.latency_ms or rec.input_tokens or rec.output_tokens:
                    m.provider_calls.labels(provider, model).inc()
                m.provider_tokens.labels(provider, model, "input").inc(rec.input_tokens)
                m.provider_tokens.labels(provider, model, "output").inc(rec.output_tokens)
                m.provider_cost.labels(provider, model).inc(rec.cost_usd)
            elif rec.kind == "provider_error":
                m.provider_errors.labels(provider, model).inc()
            elif rec.kind == "retry":
                m.provider_retries.labels(provider, model).inc()
            elif rec.kind == "failover":
                m.provider_failovers.labels(provider, model).inc()
            elif rec.kind == "cache_hit":
                m.cache_hits.labels(provider).inc()


# ------------------------------------------------------------------------------------------------ tracing
#
# Live spans, started when the work starts and ended when it ends: the server span of an HTTP request (a child of
# the caller's W3C trace context), `generate`, one `phase <name>` per phase call, and one span per model call named
# and described by the OpenTelemetry GenAI semantic conventions (gen_ai.provider.name, not the older
# gen_ai.system). The model call's context goes out to the provider as `traceparent`/`tracestate` headers.
# Every function here returns at once, importing nothing, while tracing is off.

_propagator: Any = None

#: gen_ai.provider.name for the providers whose value the conventions name; the rest keep their own name.
_GENAI_PROVIDER = {"google": "gcp.gen_ai"}
#: gen_ai.operation.name: Gemini's API is generate_content; every other provider here is a chat API.
_GENAI_OPERATION = {"google": "generate_content"}


def enable_tracing(exporter: Any = None) -> bool:
    """Send spans to OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (the exporter reads the OTEL_EXPORTER_OTLP_*
    variables), or to `exporter` (tests). False when neither applies or the `otel` extra is not installed."""
    global _tracer, _propagator
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor: Any = BatchSpanProcessor(OTLPSpanExporter())
        else:
            processor = SimpleSpanProcessor(exporter)
    except ImportError as exc:
        from prompt_alchemy.localstack import missing_extra
        from prompt_alchemy.logging_setup import get_logger

        get_logger("telemetry").warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing is off: %s", missing_extra("otel", exc)
        )
        return False
    from prompt_alchemy import __version__

    provider = TracerProvider(
        resource=Resource.create({"service.name": "prompt-alchemy", "service.version": __version__})
    )
    provider.add_span_processor(processor)
    _tracer = provider.get_tracer("prompt_alchemy", __version__)
    _propagator = TraceContextTextMapPropagator()
    return True


def tracing_enabled() -> bool:
    return _tracer is not None


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """An internal span around a block (a child of the current one) when tracing is on; nothing otherwise."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=_clean(attributes)):
        yield


def annotate(**attributes: Any) -> None:
    """Add attributes to the current span (when tracing is on and there is one)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes(_clean(attributes))


@contextlib.contextmanager
def server_span(
    scope: MutableMapping[str, Any], headers: Mapping[str, str], status: Callable[[], int], route: Callable[[], str]
) -> Iterator[None]:
    """The SERVER span of one HTTP request, a child of the caller's `traceparent`/`tracestate` (a new trace without
    them). It is current while the request is handled, and also kept in the request's state
    (`scope["state"]["trace_context"]`) for work that runs in another task (an MCP tool call: see :func:`attached`).
    Named `{method} {route()}` and given `status()` as the response code when the request ends."""
    if _tracer is None:
        yield
        return
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    method = scope.get("method", "GET")
    parent = _propagator.extract({k: v for k, v in headers.items() if k in ("traceparent", "tracestate")})
    with _tracer.start_as_current_span(
        f"{method} {route()}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={
            "http.request.method": method,
            "url.path": scope.get("path", ""),
            "url.scheme": scope.get("scheme", "http"),
        },
    ) as current:
        scope.setdefault("state", {})["trace_context"] = otel_context.get_current()
        try:
            yield
        finally:
            label, code = route(), status()
            current.update_name(f"{method} {label}")
            current.set_attribute("http.route", label)
            current.set_attribute("http.response.status_code", code)
            if code >= 500:
                current.set_attribute("error.type", str(code))
                current.set_status(trace.StatusCode.ERROR)


@contextlib.contextmanager
def attached(scope: Mapping[str, Any] | None) -> Iterator[None]:
    """Make the request's server span (kept by :func:`server_span` in the ASGI scope) current for a block that runs
    in another task, so its spans nest under the request."""
    trace_context = scope.get("state", {}).get("trace_context") if scope is not None and _tracer is not None else None
    if trace_context is None:
        yield
        return
    from opentelemetry import context as otel_context

    token = otel_context.attach(trace_context)
    try:
        yield
    finally:
        otel_context.detach(token)


class ModelCall:
    """What a model-call span learns from the answer (see :func:`model_call`)."""

    def __init__(self, current: Any = None) -> None:
        self._span = current

    def answered(
        self, model: str | None, input_tokens: int, output_tokens: int, finish_reason: str | None = None
    ) -> None:
        if self._span is None:
            return
        self._span.set_attributes(
            _clean(
                {
                    "gen_ai.response.model": model,
                    "gen_ai.usage.input_tokens": input_tokens,
                    "gen_ai.usage.output_tokens": output_tokens,
                    "gen_ai.response.finish_reasons": [finish_reason] if finish_reason else None,
                }
            )
        )


@contextlib.contextmanager
def model_call(
    provider: str,
    model: str | None,
    *,
    temperature: float | None,
    max_tokens: int | None,
    remote: bool,
    server: str | None = None,
) -> Iterator[ModelCall]:
    """The span of one logical call to a model, retries included (GenAI semantic conventions: named
    `{gen_ai.operation.name} {gen_ai.request.model}`, CLIENT for a model across the network, INTERNAL for one in
    this process). A failure sets `error.type` (the HTTP status, or the exception's class) and the ERROR status."""
    if _tracer is None:
        yield ModelCall()
        return
    from opentelemetry import trace

    operation = _GENAI_OPERATION.get(provider, "chat")
    attributes = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": _GENAI_PROVIDER.get(provider, provider),
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": temperature,
        "gen_ai.request.max_tokens": max_tokens,
        **_server_address(server),
    }
    kind = trace.SpanKind.CLIENT if remote else trace.SpanKind.INTERNAL
    with _tracer.start_as_current_span(
        f"{operation} {model}" if model else operation,
        kind=kind,
        attributes=_clean(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield ModelCall(current)
        except BaseException as exc:
            status = getattr(exc, "status", None)
            current.set_attribute("error.type", str(status) if isinstance(status, int) else type(exc).__qualname__)
            current.set_status(trace.StatusCode.ERROR, str(exc)[:200])
            raise


def outgoing_headers() -> dict[str, str]:
    """The current span's W3C trace context (`traceparent`, and `tracestate` when there is one) for an outgoing
    request; empty when tracing is off."""
    if _tracer is None:
        return {}
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def _server_address(url: str | None) -> dict[str, Any]:
    if not url:
        return {}
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return {}
    return {"server.address": parts.hostname, "server.port": port} if parts.hostname else {}


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes without the unset ones (OpenTelemetry refuses None)."""
    return {k: v for k, v in attributes.items() if v is not None}
