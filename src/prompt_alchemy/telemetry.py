"""Server telemetry: Prometheus metrics and OpenTelemetry spans, both off until the server turns them on.

`enable_metrics()` (the HTTP server does it) creates the metrics in a registry of their own; until then every
`observe_*` call is a no-op, so the CLI never imports `prometheus_client`. `enable_tracing()` sets up an
OpenTelemetry tracer when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the optional packages are installed; `span()`
is a no-op context manager otherwise.

What is measured: HTTP requests by route, method and status with latency histograms; provider calls, errors,
retries, failovers, tokens and cost by provider and model (from each generation's metric records); generation
latency in total and by phase; search latency by mode; response-cache hits; the library's size (read when
scraped).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

_metrics: _Metrics | None = None
_tracer: Any = None

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = r = CollectorRegistry(auto_describe=True)
        p = "prompt_alchemy_"
        self.http_requests = Counter(f"{p}http_requests_total", "HTTP requests by route, method and status",
                                     ["route", "method", "status"], registry=r)
        self.http_latency = Histogram(f"{p}http_request_duration_seconds", "HTTP request latency by route",
                                      ["route", "method"], buckets=_LATENCY_BUCKETS, registry=r)
        self.provider_calls = Counter(f"{p}provider_calls_total", "Provider calls that answered",
                                      ["provider", "model"], registry=r)
        self.provider_errors = Counter(f"{p}provider_errors_total", "Provider call failures",
                                       ["provider", "model"], registry=r)
        self.provider_retries = Counter(f"{p}provider_retries_total", "Provider call retries",
                                        ["provider", "model"], registry=r)
        self.provider_failovers = Counter(f"{p}provider_failovers_total", "Failovers away from a provider",
                                          ["provider", "model"], registry=r)
        self.provider_tokens = Counter(f"{p}provider_tokens_total", "Tokens by provider, model and direction",
                                       ["provider", "model", "direction"], registry=r)
        self.provider_cost = Counter(f"{p}provider_cost_usd_total", "Cost in USD by provider and model",
                                     ["provider", "model"], registry=r)
        self.cache_hits = Counter(f"{p}cache_hits_total", "Provider calls answered from the response cache",
                                  ["provider"], registry=r)
        self.generation_latency = Histogram(f"{p}generation_duration_seconds", "Whole generation runs",
                                            buckets=_LATENCY_BUCKETS, registry=r)
        self.phase_latency = Histogram(f"{p}generation_phase_duration_seconds", "Generation calls by phase",
                                       ["phase"], buckets=_LATENCY_BUCKETS, registry=r)
        self.search_latency = Histogram(f"{p}search_duration_seconds", "Library searches by mode", ["mode"],
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.library = Gauge(f"{p}library_prompts", "Stored prompts", registry=r)


def enable_metrics() -> None:
    """Create the metrics (once per process)."""
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()


def observe_library_size(prompts: float) -> None:
    """The library's size, as counted when a scrape asks."""
    if _metrics is not None:
        _metrics.library.set(prompts)


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
    _record_span("search", seconds, {"search.mode": mode})


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
    if _tracer is not None:
        end = time.time_ns()
        root = _tracer.start_span("generate", start_time=end - int(seconds * 1e9),
                                  attributes={"session.id": getattr(result, "session_id", "")})
        from opentelemetry import trace

        ctx = trace.set_span_in_context(root)
        for rec in records:
            if rec.kind in ("generation", "provider_error", "retry", "failover", "cache_hit"):
                start = int(rec.created_at.timestamp() * 1e9) - int(rec.latency_ms * 1e6)
                span = _tracer.start_span(f"provider.{rec.kind}" if rec.kind != "generation" else
                                          f"phase.{rec.phase}", context=ctx, start_time=start, attributes={
                                              "provider": rec.provider or "", "model": rec.model or "",
                                              "phase": rec.phase or "", "tokens.input": rec.input_tokens,
                                              "tokens.output": rec.output_tokens, "success": rec.success})
                span.end(end_time=start + int(rec.latency_ms * 1e6))
        root.end(end_time=end)


# ------------------------------------------------------------------------------------------------ tracing


def enable_tracing(exporter: Any = None) -> bool:
    """Send spans to OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (or to `exporter`, for tests). False when
    neither applies or the optional packages are missing."""
    global _tracer
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor: Any = BatchSpanProcessor(OTLPSpanExporter())
        else:
            processor = SimpleSpanProcessor(exporter)
    except ImportError as exc:
        from prompt_alchemy.observability import get_logger

        get_logger("telemetry").warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing is off: %s (pip install "
                                        "'prompt-alchemy[otel]')", exc)
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": "prompt-alchemy"}))
    provider.add_span_processor(processor)
    _tracer = provider.get_tracer("prompt_alchemy")
    return True


def _record_span(name: str, seconds: float, attributes: dict[str, Any]) -> None:
    if _tracer is not None:
        end = time.time_ns()
        _tracer.start_span(name, start_time=end - int(seconds * 1e9), attributes=attributes).end(end_time=end)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """A span around a block when tracing is on; nothing otherwise."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=attributes):
        yield
