"""The team server against hostile requests, on a real `serve --transport http` process over real sockets: request
bodies are refused before they are buffered (Content-Length, and counted while a chunked body streams), /metrics
labels come from closed sets, Host/Origin are parsed (never compared by prefix) and refused with the JSON error
shape, and no server path reaches a remote client (REST usage report, MCP optimize errors)."""

from __future__ import annotations

import json
import re
import socket
import uuid

import pytest

from prompt_alchemy.server.hosts import HostPolicy, parse_pattern

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
REST_CAP = 24 * MiB  # api.app.MAX_BODY
MCP_CAP = 4 * MiB  # api.app.MAX_MCP_BODY


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _rss_kib(server) -> int:
    status = open(f"/proc/{server.proc.pid}/status", encoding="ascii").read()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response read from `sock` (status, headers, body by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _send_until_answered(sock: socket.socket, head: bytes, chunks, limit: int) -> int:
    """Send `head`, then the chunks, stopping after `limit` bytes of body have gone; returns the bytes sent. A
    server that answers early may stop reading: a send that fails then ends the upload."""
    sock.sendall(head)
    sent = 0
    for chunk in chunks:
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
        if sent > limit:
            break
    return sent


def _chunked(piece: bytes):
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    while True:
        yield frame


@pytest.mark.parametrize("path,cap", [("/api/v1/import", REST_CAP), ("/mcp", MCP_CAP)])
def test_a_body_announced_larger_than_the_cap_is_refused_before_it_is_sent(open_server, path, cap):
    """Content-Length of 600 MB, and only headers sent: the 413 arrives at once, in the JSON error shape."""
    with socket.create_connection(("127.0.0.1", _port(open_server)), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{_port(open_server)}\r\nContent-Type: "
            f"application/json\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Length: {600 * MiB}\r\n\r\n".encode()
        )
        status, headers, body = _read_response(sock)  # the old server waited for 600 MB here (socket timeout)
    assert status == 413
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large" and f"{cap // MiB} MiB" in error["message"]
    assert headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path,cap", [("/api/v1/import", REST_CAP), ("/mcp", MCP_CAP)])
def test_a_chunked_body_is_counted_while_it_streams_and_refused_past_the_cap(open_server, path, cap):
    """A chunked body with no Content-Length, meant to be 600 MB: the sender stops just past the cap without
    ending the body, and the 413 must already be on its way (the old server read to the end before refusing);
    the server's memory grows by no more than about the cap."""
    port = _port(open_server)
    before = _rss_kib(open_server)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        sent = _send_until_answered(sock, head, _chunked(b"x" * (256 * 1024)), cap + MiB)
        assert sent <= cap + 2 * MiB  # far from the announced 600 MB: the answer cannot wait for the end
        status, headers, body = _read_response(sock)
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert headers.get("connection") == "close"
    grown_mib = (_rss_kib(open_server) - before) / 1024
    assert grown_mib < 3 * cap / MiB, f"server memory grew by {grown_mib:.0f} MiB"
    with open_server.client() as c:  # and it still serves
        assert c.get("/livez").status_code == 200


def test_a_body_within_the_cap_still_works_chunked(open_server):
    line = json.dumps({"id": "chunked-0001", "content": "Summarize a chunked upload for a reviewer."})

    def parts():
        payload = json.dumps({"format": "jsonl", "content": line}).encode()
        for i in range(0, len(payload), 7):
            yield payload[i : i + 7]

    with open_server.client() as c:
        r = c.post("/api/v1/import", content=parts(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1


def _series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("prompt_alchemy_http_")]


def test_made_up_methods_and_paths_do_not_grow_metrics(make_server):
    """3,000 requests with invented methods and paths: the HTTP series stay a closed set (route and method from
    known values, the rest `other`), so /metrics does not grow with them."""
    server = make_server("metrics")
    with server.client() as c:
        for path in ("/livez", "/readyz", "/health", "/api/v1/prompts", "/nowhere", "/api/v1/nowhere"):
            c.get(path)
        c.request("BREW", "/nowhere")
        c.request("BREW", "/api/v1/nowhere")
        c.get("/metrics")
        before = c.get("/metrics").text
        for i in range(3000):
            method = f"X{uuid.uuid4().hex[:10].upper()}"
            r = c.request(method, f"/{uuid.uuid4().hex}/{i}" if i % 2 else f"/api/v1/{uuid.uuid4().hex}")
            assert r.status_code < 500
        after = c.get("/metrics").text
    methods = set(re.findall(r'method="([^"]*)"', after))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    routes = set(re.findall(r'route="([^"]*)"', after))
    assert all(not re.search(r"[0-9a-f]{32}", route) for route in routes), routes
    assert len(_series(after)) == len(_series(before))  # only counts changed, no new series
    assert len(after) < len(before) + 2000


# ------------------------------------------------------------------------------------------------ Host / Origin


def test_host_patterns_parse_and_match_by_parts():
    policy = HostPolicy(["alchemy.example.com", "svc:*", "10.0.0.0/8", "api.example.com:8443"])
    assert policy.allows_host("127.0.0.1:8080") and policy.allows_host("LOCALHOST:1") and policy.allows_host("[::1]:9")
    assert policy.allows_host("alchemy.example.com") and policy.allows_host("alchemy.example.com:443")
    assert policy.allows_host("svc:8080") and policy.allows_host("10.244.1.17:8080")
    assert policy.allows_host("api.example.com:8443") and not policy.allows_host("api.example.com:8444")
    for bad in (
        "127.0.0.1:8080@evil.example",
        "127.0.0.1.evil.example:8080",
        "evil.example",
        "svc.evil:1",
        "11.0.0.1:8080",
        "alchemy.example.com:8080",
        "",
        None,
        "127.0.0.1:80800",
        "::1",
        "user@svc:1",
        "10.244.1.17:8080/x",
        "127.0.0.1 :8080",
    ):
        assert not policy.allows_host(bad), bad
    assert policy.allows_origin(None) and policy.allows_origin("https://alchemy.example.com")
    assert policy.allows_origin("http://127.0.0.1:5173")
    for bad in (
        "null",
        "https://evil.example",
        "http://127.0.0.1:8080@evil.example",
        "file://",
        "http://svc.evil",
        "https://alchemy.example.com.evil.example",
    ):
        assert not policy.allows_origin(bad), bad
    assert parse_pattern("10.0.0.0/33") is None and parse_pattern("a b") is None and parse_pattern("x:*:*") is None


@pytest.mark.parametrize("path", ["/health", "/metrics", "/api/v1/prompts", "/mcp", "/anything"])
def test_a_host_with_user_info_is_refused_with_the_json_error(open_server, path):
    port = _port(open_server)
    with open_server.client() as c:
        for host in (
            f"127.0.0.1:{port}@evil.example",
            f"localhost:{port}@evil.example",
            "127.0.0.1.evil.example",
            f"evil.example:{port}",
        ):
            r = c.get(path, headers={"Host": host})
            assert r.status_code == 421, (host, r.status_code, r.text)
            error = r.json()["error"]
            assert error["code"] == "misdirected_request" and error["request_id"]
        r = c.get(path, headers={"Origin": f"http://127.0.0.1:{port}@evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        ok = c.get("/health", headers={"Host": f"LOCALHOST:{port}", "Origin": f"http://127.0.0.1:{port}"})
        assert ok.status_code == 200


def test_probes_answer_any_host_and_report_readiness(open_server):
    with open_server.client() as c:
        for host in ("evil.example", "10.244.1.17:8080", f"127.0.0.1:{_port(open_server)}@x"):
            live = c.get("/livez", headers={"Host": host})
            assert live.status_code == 200 and live.json() == {"status": "ok"}
            ready = c.get("/readyz", headers={"Host": host})
            assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "model": "ok"}
        assert c.post("/livez").status_code == 405


def test_readyz_says_unavailable_without_naming_why_and_livez_stays_up(make_server):
    """No usable model for a phase (a provider with no key): not ready, 503; alive all the same."""
    server = make_server(
        "unready",
        {
            "PROMPT_ALCHEMY_PHASES__SOLUTIO__PROVIDER": "openai",
            "PROMPT_ALCHEMY_PHASES__SOLUTIO__FALLBACKS": "[]",
            "OPENAI_API_KEY": "",
        },
    )
    with server.client() as c:
        ready = c.get("/readyz", headers={"Host": "10.244.1.17:8080"})
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "checks": {"database": "ok", "model": "unavailable"}}
        assert c.get("/livez").status_code == 200


# ------------------------------------------------------------------------------------------------ paths


def test_the_rest_usage_report_names_no_path(open_server):
    home = str(open_server.home)
    with open_server.client() as c:
        r = c.get("/api/v1/metrics")
    assert r.status_code == 200
    assert "path" not in r.json()["database"] and r.json()["database"]  # the sizes stay
    assert home not in r.text and "prompts.db" not in r.text


async def test_mcp_errors_and_usage_report_name_no_server_folder(open_server):
    from mcp import Client

    home = str(open_server.home)
    async with Client(f"{open_server.url}/mcp") as client:
        for name in ("missing.jsonl", "../etc/passwd", "sub/x.jsonl"):
            result = await client.call_tool(
                "optimize_prompt", {"task": "explain", "prompt": "Explain it.", "examples_file": name}
            )
            text = result.content[0].text
            assert result.is_error and "examples" in text, text
            assert home not in text and "/examples" not in text, text
        report = await client.call_tool("get_metrics", {})
        assert not report.is_error
        dumped = json.dumps(report.structured_content) + report.content[0].text
        assert home not in dumped and "path" not in report.structured_content["database"]
