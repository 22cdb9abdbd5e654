"""Traces through a real OTLP receiver: a real `serve --transport http` process exports its spans over OTLP/HTTP to
a small collector on 127.0.0.1 (protobuf ExportTraceServiceRequests decoded with opentelemetry-proto), and calls a
fake OpenAI server over a real socket.

A REST generate and an MCP tools/call that carry a W3C traceparent give one trace: the caller's span -> the HTTP
server span -> generate -> phase -> model call, live and nested in time, the model calls described by the GenAI
semantic conventions; the fake provider receives a traceparent of the same trace whose parent is the model call."""

from __future__ import annotations

import gzip
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from testkit import Server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))
from fake_llm_servers import FakeLLMServer, Fault  # noqa: E402

pytestmark = pytest.mark.e2e

PHASES = ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")
SERVER, CLIENT = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind
STATUS_ERROR = 2


class Collector:
    """An OTLP/HTTP trace receiver: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                    ExportTraceServiceResponse,
                )

                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    collector.spans += [
                        span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
                    ]
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def trace(self, trace_id: str, until: Any, deadline: float = 60.0) -> list[Any]:
        """The spans of `trace_id` received so far, once `until(spans)` holds (waiting for the batch exporter)."""
        stop = time.monotonic() + deadline
        while True:
            with self.lock:
                spans = [s for s in self.spans if s.trace_id.hex() == trace_id]
            if until(spans) or time.monotonic() > stop:
                return spans
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = (
            [v.string_value for v in value.array_value.values] if kind == "array_value" else getattr(value, kind)
        )
    return out


def caller_context() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    collector = Collector()
    fake = FakeLLMServer("openai").start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OPENAI_API_KEY": "sk-test-tracing-0123456789",
        "PROMPT_ALCHEMY_PROVIDERS__OPENAI__BASE_URL": fake.base_url,
        "PROMPT_ALCHEMY_PROVIDERS__OPENAI__MAX_RETRIES": "2",
        "PROMPT_ALCHEMY_GATEWAY__CACHE": "false",
        "PROMPT_ALCHEMY_GATEWAY__BACKOFF_BASE_SECONDS": "0.01",
        **{f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "openai" for p in PHASES},
    }
    server = Server(tmp_path_factory.mktemp("otel"), env)
    yield server, collector, fake
    server.stop()
    fake.stop()
    collector.close()


def generation_arrived(spans: list[Any]) -> bool:
    """Every span of one generation has arrived: its three model calls, generate, and generate's parent."""
    ids = {s.span_id for s in spans}
    return sum("gen_ai.operation.name" in attrs(s) for s in spans) >= 3 and any(
        s.name == "generate" and s.parent_span_id in ids for s in spans
    )


def by_id(spans: list[Any]) -> dict[bytes, Any]:
    return {s.span_id: s for s in spans}


def assert_nested(child: Any, parent: Any) -> None:
    assert child.parent_span_id == parent.span_id, (child.name, parent.name)
    assert (
        parent.start_time_unix_nano
        <= child.start_time_unix_nano
        <= child.end_time_unix_nano
        <= parent.end_time_unix_nano
    ), (child.name, parent.name)  # live spans: the child within its parent


def assert_generation_tree(spans: list[Any], root: Any) -> list[Any]:
    """generate under `root`, three phases under generate, a model call under each phase; the model calls."""
    generate = next(s for s in spans if s.name == "generate")
    assert_nested(generate, root)
    phases = [s for s in spans if s.name.startswith("phase ")]
    assert sorted(s.name for s in phases) == ["phase coagulatio", "phase prima-materia", "phase solutio"]
    calls = [s for s in spans if "gen_ai.operation.name" in attrs(s)]
    assert len(calls) == 3
    for phase in phases:
        assert_nested(phase, generate)
        assert_nested(next(c for c in calls if c.parent_span_id == phase.span_id), phase)
    return calls


def test_rest_generate_continues_the_callers_trace_to_the_provider(traced):
    server, collector, fake = traced
    trace_id, caller_span, traceparent = caller_context()
    fake.requests.clear()
    fake.fail(Fault.error(503))  # the first call is retried: still one model-call span, covering both attempts
    with server.client() as c:
        r = c.post(
            "/api/v1/generate",
            json={"idea": "a haiku about green tea", "count": 1},
            headers={"traceparent": traceparent, "tracestate": "caller=t61rcWkgMzE"},
        )
    assert r.status_code == 200, r.text

    spans = collector.trace(trace_id, generation_arrived)
    root = next(s for s in spans if s.name == "POST /api/v1/generate")
    assert root.kind == SERVER and root.parent_span_id.hex() == caller_span  # a child of the caller's span
    root_attrs = attrs(root)
    assert root_attrs["http.request.method"] == "POST" and root_attrs["http.response.status_code"] == 200
    calls = assert_generation_tree(spans, root)

    for call in calls:
        a = attrs(call)
        assert call.kind == CLIENT and call.name == f"chat {a['gen_ai.request.model']}"
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
        assert a["gen_ai.response.model"] == a["gen_ai.request.model"]
        assert isinstance(a["gen_ai.request.temperature"], float) and a["gen_ai.request.max_tokens"] > 0
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert a["server.address"] == "127.0.0.1" and "error.type" not in a
        assert not {"provider", "tokens.input", "model"} & set(a)  # no custom names

    # the provider saw the same trace, each request's parent being the model call that made it
    sent = fake.generation_requests()
    assert len(sent) == 4  # three phases, one retried
    call_ids = {c.span_id.hex() for c in calls}
    for request in sent:
        version, tid, parent, flags = request.headers["traceparent"].split("-")
        assert (version, tid, flags) == ("00", trace_id, "01") and parent in call_ids
        assert request.headers["tracestate"] == "caller=t61rcWkgMzE"


def test_a_failed_model_call_carries_error_type(traced):
    server, collector, fake = traced
    trace_id, caller_span, traceparent = caller_context()
    fake.fail(Fault.unauthorized())  # not retryable: the phase fails at once, with no failover
    with server.client() as c:
        r = c.post(
            "/api/v1/generate", json={"idea": "a failing idea", "count": 1}, headers={"traceparent": traceparent}
        )
    assert r.status_code >= 400
    spans = collector.trace(trace_id, lambda got: any(s.name == "POST /api/v1/generate" for s in got))
    failed = [s for s in spans if "gen_ai.operation.name" in attrs(s)]
    assert len(failed) == 1 and attrs(failed[0])["error.type"] == "401"
    assert failed[0].status.code == STATUS_ERROR
    phase = by_id(spans)[failed[0].parent_span_id]
    assert phase.name == "phase prima-materia" and phase.status.code == STATUS_ERROR


async def test_mcp_tool_call_continues_the_callers_trace(traced):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    server, collector, fake = traced
    trace_id, caller_span, traceparent = caller_context()
    fake.requests.clear()
    async with (
        httpx.AsyncClient(headers={"traceparent": traceparent}, timeout=60) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
    ):
        result = await client.call_tool("generate_prompts", {"idea": "a limerick about tea", "count": 1, "save": False})
    assert not result.is_error, result

    spans = collector.trace(trace_id, generation_arrived)
    generate = next(s for s in spans if s.name == "generate")
    root = by_id(spans)[generate.parent_span_id]  # the POST /mcp that carried tools/call
    assert root.kind == SERVER and root.name == "POST /mcp" and root.parent_span_id.hex() == caller_span
    assert_generation_tree(spans, root)
    assert all(r.headers["traceparent"].split("-")[1] == trace_id for r in fake.generation_requests())
