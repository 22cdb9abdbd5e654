"""OpenTelemetry spans for a generation (one per phase call) and a search, seen with an in-memory exporter."""

from __future__ import annotations

import pytest

from prompt_alchemy import telemetry


@pytest.fixture
def spans(monkeypatch):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    monkeypatch.setattr(telemetry, "_tracer", None)
    assert telemetry.enable_tracing(exporter)
    yield exporter
    monkeypatch.setattr(telemetry, "_tracer", None)


async def test_generate_phases_and_search_make_spans(service, spans):
    result = await service.generate(service.build_request("a traced idea", count=1))
    await service.search("traced idea", mode="text")
    names = [s.name for s in spans.get_finished_spans()]
    assert names.count("generate") == 1 and "search" in names
    phases = [s for s in spans.get_finished_spans() if s.name.startswith("phase.")]
    assert {s.name for s in phases} == {"phase.prima-materia", "phase.solutio", "phase.coagulatio"}
    root = next(s for s in spans.get_finished_spans() if s.name == "generate")
    assert all(s.parent.span_id == root.context.span_id for s in phases)
    assert root.attributes["session.id"] == result.session_id


def test_tracing_stays_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setattr(telemetry, "_tracer", None)
    assert telemetry.enable_tracing() is False
