"""OpenTelemetry spans for a generation and a search, seen with an in-memory exporter: live spans nested
generate -> phase -> model call, the model calls named and described by the GenAI semantic conventions."""

from __future__ import annotations

import sys

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


async def test_generate_phases_and_search_make_nested_live_spans(service, spans):
    result = await service.generate(service.build_request("a traced idea", count=1))
    await service.search("traced idea", mode="text")
    finished = spans.get_finished_spans()
    names = [s.name for s in finished]
    assert names.count("generate") == 1 and "search" in names
    root = next(s for s in finished if s.name == "generate")
    assert root.attributes["prompt_alchemy.session_id"] == result.session_id
    phases = [s for s in finished if s.name.startswith("phase ")]
    assert {s.name for s in phases} == {"phase prima-materia", "phase solutio", "phase coagulatio"}
    assert all(s.parent.span_id == root.context.span_id for s in phases)
    calls = [s for s in finished if "gen_ai.operation.name" in s.attributes]
    assert len(calls) == 3
    for call in calls:
        parent = next(s for s in phases if s.context.span_id == call.parent.span_id)
        assert parent.start_time <= call.start_time <= call.end_time <= parent.end_time  # live, nested in time
        attrs = call.attributes
        assert call.name == f"chat {attrs['gen_ai.request.model']}"
        assert attrs["gen_ai.provider.name"] == "scripted" and attrs["gen_ai.usage.output_tokens"] >= 0
        assert {"gen_ai.request.temperature", "gen_ai.request.max_tokens", "gen_ai.response.model"} <= set(attrs)
    assert not any(k in s.attributes for s in finished for k in ("provider", "tokens.input"))  # no custom names


def test_tracing_stays_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setattr(telemetry, "_tracer", None)
    assert telemetry.enable_tracing() is False
    with telemetry.model_call("openai", "m", temperature=0.1, max_tokens=1, remote=True) as call:
        call.answered("m", 1, 1)
    assert telemetry.outgoing_headers() == {}


def test_the_cli_imports_no_opentelemetry():
    import subprocess

    code = (
        "import sys; from prompt_alchemy.cli import app; import prompt_alchemy.providers.registry, "
        "prompt_alchemy.providers.openai; print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
