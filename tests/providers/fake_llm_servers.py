"""Small HTTP servers on 127.0.0.1 that speak the documented wire formats of OpenAI (and OpenRouter), Anthropic,
Google Gemini and Ollama, so the official SDKs run over real sockets. Faults are injected per request: error
statuses (with Retry-After), timeouts, connection resets and malformed JSON.

Streamed requests are answered in each provider's streaming format, a word per event, with chunked transfer
encoding: OpenAI chat completion chunks as SSE ending in `data: [DONE]` (the usage chunk when
`stream_options.include_usage` asks for it), Anthropic's message_start / content_block_delta / message_delta /
message_stop events, Gemini's `:streamGenerateContent?alt=sse` partial responses, and Ollama's NDJSON lines.
Stream faults strike after `after` words: the connection cut (`cut`), an error event in the provider's format
(`stream_error`), or a pause (`stall`).

Used by tests/providers, tests/e2e and the benchmarks (which put this directory on sys.path).
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("openai", "anthropic", "google", "ollama")


@dataclass
class Fault:
    kind: str  # "status" | "timeout" | "reset" | "malformed" | streams only: "cut" | "stream_error" | "stall"
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    #: stream faults: how many words of the answer are sent first
    after: int = 0

    @classmethod
    def error(cls, status: int, retry_after: float | None = None) -> Fault:
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def rate_limit(cls, retry_after: float | None = 0.05) -> Fault:
        return cls("status", status=429, retry_after=retry_after)

    @classmethod
    def timeout(cls, delay: float = 3.0) -> Fault:
        return cls("timeout", delay=delay)

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed")

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls("status", status=401)

    @classmethod
    def cut(cls, after: int = 2) -> Fault:
        """A streamed answer whose connection is reset after `after` words (0: after the stream's opening)."""
        return cls("cut", after=after)

    @classmethod
    def stream_error(cls, after: int = 2) -> Fault:
        """A streamed answer that reports a server error in the provider's own stream format after `after` words."""
        return cls("stream_error", after=after)

    @classmethod
    def stall(cls, after: int = 1, delay: float = 3.0) -> Fault:
        """A streamed answer that pauses for `delay` seconds after `after` words, then goes on."""
        return cls("stall", after=after, delay=delay)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client: tuple[str, int]
    fault: str | None = None


@dataclass
class FakeLLMServer:
    kind: str
    embed_dims: int = 8
    #: OpenRouter behaviour: these models are "down", so the request's `models` list moves to the next one.
    unavailable_models: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    faults: collections.deque = field(default_factory=collections.deque)
    always: Fault | None = None
    reply: str | None = None
    #: OpenAI behaviour of reasoning models: `max_tokens` and a non-default `temperature` are rejected with 400.
    reasoning_models: set[str] = field(default_factory=set)
    #: Report this many prompt tokens per call instead of an estimate (to make calls expensive).
    prompt_tokens: int | None = None
    #: Seconds between the events of a streamed answer.
    stream_delay: float = 0.0
    #: OpenAI wire: end a stream with the usage chunk when `stream_options.include_usage` asks for it (llama.cpp's
    #: Python server, for one, never sends it).
    stream_usage: bool = True

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.calls = 0
        #: words of streamed answers sent so far (all requests)
        self.words_sent = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeLLMServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """What to put in providers.<name>.base_url (or host) for this server."""
        return self.url + "/v1" if self.kind == "openai" else self.url

    def fail(self, *faults: Fault) -> FakeLLMServer:
        self.faults.extend(faults)
        return self

    def generation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and not _is_embedding(self.kind, r.path)]

    def next_fault(self) -> Fault | None:
        with self._lock:
            if self.faults:
                return self.faults.popleft()
            return self.always

    def count(self) -> int:
        with self._lock:
            self.calls += 1
            return self.calls


def _is_embedding(kind: str, path: str) -> bool:
    return path.endswith("/embeddings") or path.endswith("/api/embed") or "EmbedContents" in path


def fake_vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [((digest[i % len(digest)] / 255.0) - 0.5) + (i % 3) * 0.01 for i in range(dims)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stall)
    fake: FakeLLMServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
        return None

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):  # a client that dropped a (broken) stream's connection
            pass

    # ------------------------------------------------------------------ plumbing

    def _read_body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _reset(self) -> None:
        """Abort the connection with a TCP RST."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _key(self) -> str:
        auth = self.headers.get("authorization", "")
        return (
            auth.removeprefix("Bearer ").strip()
            or self.headers.get("x-api-key")
            or self.headers.get("x-goog-api-key")
            or ""
        )

    def _handle(self, method: str) -> None:
        fake = self.fake
        body = self._read_body() if method == "POST" else None
        record = Recorded(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.client_address)
        fault = fake.next_fault()
        record.fault = fault.kind + (f":{fault.status}" if fault.kind == "status" else "") if fault else None
        with fake._lock:
            fake.requests.append(record)
        streamed = _is_stream(fake.kind, self.path, body)
        if fault is not None:
            if fault.kind == "reset" or (fault.kind in STREAM_FAULTS and not streamed):
                self._reset()
                return
            if fault.kind == "timeout":
                time.sleep(fault.delay)
                self.close_connection = True
            elif fault.kind == "malformed":
                if streamed:
                    self._send_stream([_MALFORMED_STREAM[fake.kind]], None)
                else:
                    self._send(200, None, raw=b'{"id": "broken", "choices": [ {"message": ')
                return
            elif fault.kind == "status":
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                self._send(fault.status, self._error_body(fault.status), headers)
                return
        try:
            status, payload = self._route(method, self.path, body)
        except _NotFound as exc:
            status, payload = 404, self._error_body(404, str(exc))
        try:
            if streamed and status == 200:
                self._send_stream(_stream_events(fake.kind, payload, body, usage=fake.stream_usage), fault)
            else:
                self._send(status, payload)
        except OSError:
            pass

    def _send_stream(self, events: list[bytes | str], fault: Fault | None) -> None:
        """Send a streamed answer with chunked transfer encoding, one event per chunk, applying a stream fault
        when its word count is reached (`str` items are the answer's words, already encoded as events)."""
        kind = self.fake.kind
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson" if kind == "ollama" else "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()
        words = 0
        for event in events:
            is_word = isinstance(event, str)
            if is_word and fault is not None and fault.kind in STREAM_FAULTS and words == fault.after:
                if fault.kind == "cut":
                    self._reset()
                    return
                if fault.kind == "stream_error":
                    self._chunk(_STREAM_ERROR[kind])
                    self._chunk(b"")
                    return
                time.sleep(fault.delay)  # stall, then go on
            if is_word:
                words += 1
                if self.fake.stream_delay:
                    time.sleep(self.fake.stream_delay)
            self._chunk(event.encode() if isinstance(event, str) else event)
            if is_word:
                with self.fake._lock:
                    self.fake.words_sent += 1
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # ------------------------------------------------------------------ wire formats

    def _error_body(self, status: int, message: str | None = None) -> Any:
        kind = self.fake.kind
        if status == 401:
            # Real servers echo (parts of) the key; the client must never repeat this text.
            message = f"Incorrect API key provided: {self._key()}"
        message = message or {429: "Rate limit reached", 503: "Service unavailable"}.get(status, f"error {status}")
        if kind == "openai":
            return {
                "error": {
                    "message": message,
                    "type": "invalid_request_error" if status < 500 else "server_error",
                    "code": status,
                }
            }
        if kind == "anthropic":
            types = {
                401: "authentication_error",
                429: "rate_limit_error",
                529: "overloaded_error",
                404: "not_found_error",
                400: "invalid_request_error",
            }
            return {"type": "error", "error": {"type": types.get(status, "api_error"), "message": message}}
        if kind == "google":
            statuses = {
                400: "INVALID_ARGUMENT",
                401: "UNAUTHENTICATED",
                403: "PERMISSION_DENIED",
                404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL",
                503: "UNAVAILABLE",
            }
            return {"error": {"code": status, "message": message, "status": statuses.get(status, "UNKNOWN")}}
        return {"error": message}

    def _text(self, prompt: str) -> str:
        fake = self.fake
        n = fake.count()
        if fake.reply is not None:
            return fake.reply
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
        return (
            f"Role: You are a careful expert assistant.\nTask: turn the idea into a precise plan.\n"
            f"Output format: numbered steps, then a summary.\n(answered by fake {fake.kind} call {n}, {digest})"
        )

    def _prompt_tokens(self, prompt: str) -> int:
        return self.fake.prompt_tokens if self.fake.prompt_tokens is not None else len(prompt) // 4

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        kind = self.fake.kind
        handler = getattr(self, f"_{kind}", None)
        assert handler is not None
        return handler(method, path.split("?")[0], body)

    def _openai(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/v1/models":
            return 200, {
                "object": "list",
                "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"}],
            }
        if path == "/v1/chat/completions":
            prompt = "\n".join(m.get("content", "") for m in body["messages"])
            model = body["model"]
            if model in self.fake.reasoning_models:
                if "max_tokens" in body:
                    return 400, {
                        "error": {
                            "message": "Unsupported parameter: 'max_tokens' is not supported with "
                            "this model. Use 'max_completion_tokens' instead.",
                            "type": "invalid_request_error",
                            "param": "max_tokens",
                            "code": "unsupported_parameter",
                        }
                    }
                if body.get("temperature", 1) != 1:
                    return 400, {
                        "error": {
                            "message": f"Unsupported value: 'temperature' does not support "
                            f"{body['temperature']} with this model. Only the default (1) "
                            f"value is supported.",
                            "type": "invalid_request_error",
                            "param": "temperature",
                            "code": "unsupported_value",
                        }
                    }
            for candidate in body.get("models") or [model]:
                if candidate not in self.fake.unavailable_models:
                    model = candidate
                    break
            text = self._text(prompt)
            return 200, {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": self._prompt_tokens(prompt),
                    "completion_tokens": len(text) // 4,
                    "total_tokens": self._prompt_tokens(prompt) + len(text) // 4,
                },
            }
        if path == "/v1/embeddings":
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dims = body.get("dimensions") or self.fake.embed_dims
            return 200, {
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": fake_vector(t, dims)} for i, t in enumerate(texts)
                ],
                "usage": {
                    "prompt_tokens": sum(len(t) // 4 for t in texts),
                    "total_tokens": sum(len(t) // 4 for t in texts),
                },
            }
        raise _NotFound(path)

    def _anthropic(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/v1/models":
            return 200, {
                "data": [
                    {
                        "type": "model",
                        "id": "claude-haiku-4-5",
                        "display_name": "Haiku",
                        "created_at": "2024-10-22T00:00:00Z",
                    }
                ],
                "has_more": False,
                "first_id": "claude-haiku-4-5",
                "last_id": "claude-haiku-4-5",
            }
        if path == "/v1/messages":
            prompt = (body.get("system") or "") + "\n" + "\n".join(m["content"] for m in body["messages"])
            text = self._text(prompt)
            return 200, {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": len(prompt) // 4, "output_tokens": len(text) // 4},
            }
        raise _NotFound(path)

    def _google(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path in ("/v1/models", "/v1beta/models"):
            return 200, {
                "models": [
                    {
                        "name": "models/gemini-2.5-flash-lite",
                        "displayName": "Gemini 2.5 Flash-Lite",
                        "supportedGenerationMethods": ["generateContent"],
                    }
                ]
            }
        match = re.fullmatch(
            r"/v1(?:beta)?/models/([^:]+):(generateContent|streamGenerateContent|" r"batchEmbedContents)", path
        )
        if not match:
            raise _NotFound(path)
        model, action = match.groups()
        if action in ("generateContent", "streamGenerateContent"):
            system = " ".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
            prompt = system + "\n" + "\n".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
            text = self._text(prompt)
            return 200, {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {
                    "promptTokenCount": len(prompt) // 4,
                    "candidatesTokenCount": len(text) // 4,
                    "totalTokenCount": len(prompt) // 4 + len(text) // 4,
                },
                "modelVersion": model,
            }
        vectors = []
        for request in body["requests"]:
            text = " ".join(p.get("text", "") for p in request["content"]["parts"])
            vectors.append({"values": fake_vector(text, request.get("outputDimensionality") or self.fake.embed_dims)})
        return 200, {"embeddings": vectors}

    def _ollama(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/api/tags":
            return 200, {
                "models": [
                    {
                        "name": "llama3.2:latest",
                        "model": "llama3.2:latest",
                        "size": 1,
                        "digest": "0" * 12,
                        "modified_at": "2025-01-01T00:00:00Z",
                        "details": {},
                    }
                ]
            }
        if path == "/api/chat":
            prompt = "\n".join(m["content"] for m in body["messages"])
            text = self._text(prompt)
            return 200, {
                "model": body["model"],
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done": True,
                "done_reason": "stop",
                "total_duration": 1,
                "load_duration": 1,
                "prompt_eval_count": len(prompt) // 4,
                "prompt_eval_duration": 1,
                "eval_count": len(text) // 4,
                "eval_duration": 1,
            }
        if path == "/api/embed":
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dims = body.get("dimensions") or self.fake.embed_dims
            return 200, {"model": body["model"], "embeddings": [fake_vector(t, dims) for t in texts]}
        raise _NotFound(path)


class _NotFound(Exception):
    pass


# ------------------------------------------------------------------------------------------------ streaming

STREAM_FAULTS = ("cut", "stream_error", "stall")


def _is_stream(kind: str, path: str, body: Any) -> bool:
    if kind == "google":
        return ":streamGenerateContent" in path
    return isinstance(body, dict) and body.get("stream") is True


def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+$", text)


def _sse(data: Any, event: str | None = None, sep: str = "\n\n") -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}{sep}"


def _stream_events(kind: str, payload: Any, body: Any, usage: bool = True) -> list[bytes | str]:
    """The streamed form of a complete answer `payload`: `str` items carry one word each, `bytes` items are the
    events around them (opening, usage, end)."""
    if kind == "openai":
        base = {
            "id": payload["id"],
            "object": "chat.completion.chunk",
            "created": payload["created"],
            "model": payload["model"],
        }
        choice = payload["choices"][0]

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        events: list[bytes | str] = [_sse(chunk({"role": "assistant", "content": ""})).encode()]
        events += [_sse(chunk({"content": w})) for w in _words(choice["message"]["content"])]
        events.append(_sse(chunk({}, choice["finish_reason"])).encode())
        if usage and (body.get("stream_options") or {}).get("include_usage"):
            events.append(_sse({**base, "choices": [], "usage": payload["usage"]}).encode())
        return [*events, b"data: [DONE]\n\n"]
    if kind == "anthropic":
        text = "".join(b["text"] for b in payload["content"])
        message = {
            **payload,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": payload["usage"]["input_tokens"], "output_tokens": 1},
        }
        events = [
            _sse({"type": "message_start", "message": message}, "message_start").encode(),
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ).encode(),
            _sse({"type": "ping"}, "ping").encode(),
        ]
        events += [
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
                "content_block_delta",
            )
            for w in _words(text)
        ]
        return [
            *events,
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop").encode(),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": payload["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": payload["usage"]["output_tokens"]},
                },
                "message_delta",
            ).encode(),
            _sse({"type": "message_stop"}, "message_stop").encode(),
        ]
    if kind == "google":
        candidate = payload["candidates"][0]
        words = _words("".join(p["text"] for p in candidate["content"]["parts"]))
        usage = payload["usageMetadata"]
        events = []
        for i, word in enumerate(words):
            last = i == len(words) - 1
            part = {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": word}]},
                        "index": 0,
                        **({"finishReason": candidate["finishReason"]} if last else {}),
                    }
                ],
                "usageMetadata": usage
                if last
                else {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]},
                "modelVersion": payload["modelVersion"],
            }
            events.append(_sse(part, sep="\r\n\r\n"))
        return events
    done = {k: v for k, v in payload.items() if k != "message"}
    events = [
        json.dumps(
            {
                "model": payload["model"],
                "created_at": payload["created_at"],
                "message": {"role": "assistant", "content": w},
                "done": False,
            }
        )
        + "\n"
        for w in _words(payload["message"]["content"])
    ]
    return [*events, (json.dumps({**done, "message": {"role": "assistant", "content": ""}}) + "\n").encode()]


#: An error reported inside each provider's stream, in its documented form.
_STREAM_ERROR = {
    "openai": _sse(
        {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    ).encode(),
    "anthropic": _sse(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error"
    ).encode(),
    "google": _sse(
        {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        },
        sep="\r\n\r\n",
    ).encode(),
    "ollama": (json.dumps({"error": "an error was encountered while running the model"}) + "\n").encode(),
}

#: A garbled first event in each provider's stream format.
_MALFORMED_STREAM = {
    "openai": b'data: {"id": "broken", "choices": [ {\n\n',
    "anthropic": b'event: message_start\ndata: {"type": "message_start", "message": {\n\n',
    "google": b'data: {"candidates": [ {\r\n\r\n',
    "ollama": b'{"model": "x", "message": {\n',
}
