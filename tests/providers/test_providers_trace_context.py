"""Every provider's SDK sends the current model-call span as a W3C `traceparent` (and the caller's `tracestate`)
on its requests, streamed or not, over a real socket to a fake server in its wire format; with tracing off no
trace header is sent at all."""

from __future__ import annotations

import pytest
from providers_testkit import fake_servers  # noqa: F401  (fixture)
from test_providers_sdk_wire import CLASSES, make, request

from prompt_alchemy import telemetry


@pytest.fixture
def exporter(monkeypatch):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    monkeypatch.setattr(telemetry, "_tracer", None)
    assert telemetry.enable_tracing(spans)
    yield spans
    monkeypatch.setattr(telemetry, "_tracer", None)


async def _call(provider, stream: bool) -> None:
    if stream:
        async for _item in provider.stream(request()):
            pass
    else:
        await provider.generate(request())


@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
@pytest.mark.parametrize("name", list(CLASSES))
async def test_each_provider_sends_the_model_calls_traceparent(name, stream, fake_servers, exporter):
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    server = fake_servers(name)[name]
    provider = make(name, server)
    caller = TraceContextTextMapPropagator().extract(
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "caller=abc"}
    )
    token = context.attach(caller)
    try:
        with telemetry.model_call(name, "m", temperature=0.7, max_tokens=123, remote=True):
            span_id = format(trace.get_current_span().get_span_context().span_id, "016x")
            await _call(provider, stream)
    finally:
        context.detach(token)
        await provider.aclose()
    sent = server.generation_requests()
    assert len(sent) == 1
    assert sent[0].headers["traceparent"] == f"00-0af7651916cd43dd8448eb211c80319c-{span_id}-01"
    assert sent[0].headers["tracestate"] == "caller=abc"
    assert exporter.get_finished_spans()[0].parent.span_id == 0xB7AD6B7169203331


@pytest.mark.parametrize("name", list(CLASSES))
async def test_no_trace_headers_while_tracing_is_off(name, fake_servers, monkeypatch):
    monkeypatch.setattr(telemetry, "_tracer", None)
    server = fake_servers(name)[name]
    provider = make(name, server)
    try:
        await provider.generate(request())
    finally:
        await provider.aclose()
    assert not {"traceparent", "tracestate"} & set(server.generation_requests()[0].headers)
