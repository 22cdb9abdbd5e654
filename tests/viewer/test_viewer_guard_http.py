"""The viewer's request checks over real HTTP against a real `prompt-alchemy view` process: Host parsed (never by
prefix), Origin/Referer and the CSRF header on every write, JSON content type only, bounded and typed bodies, ids
in the library's format, and one JSON error shape for every refusal. Each refused write leaves the library as it
was."""

from __future__ import annotations

import json

import httpx
import pytest
from viewer_kit import OTHER, SCRATCH, TARGET, error_of

RATE = f"/api/prompts/{TARGET}/rate"
GOOD = {"rating": 4, "comment": "fine"}


def _raw(viewer, method: str, path: str, **kwargs) -> httpx.Response:
    """A request with exactly the headers given (no Origin or CSRF header unless passed)."""
    with httpx.Client(base_url=viewer.origin, timeout=60) as client:
        return client.request(method, path, **kwargs)


# ------------------------------------------------------------------------------------------------ Host


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "127.0.0.1:{port}@evil.example",
        "127.0.0.1:{port}.evil.example",
        "127.0.0.1.evil.example:{port}",
        "127.0.0.1:{port}0",
        "127.0.0.1:1{port}",
        "127.0.0.1",
        "localhost:1",
        "127.0.0.1:{port}/x",
        "user@127.0.0.1:{port}",
        "127.0.0.2:{port}",
        "[::2]:{port}",
        "127.0.0.1:{port}:{port}",
    ],
)
def test_a_foreign_host_gets_a_json_421_and_no_library(viewer, host):
    response = _raw(viewer, "GET", "/api/search?limit=100", headers={"Host": host.format(port=viewer.port)})
    err = error_of(response, 421)
    assert err["code"] == "misdirected_request"
    assert TARGET not in response.text and "Release notes" not in response.text


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_the_loopback_names_on_the_bound_port_are_answered(viewer, host):
    response = _raw(viewer, "GET", "/api/search?limit=100", headers={"Host": host.format(port=viewer.port)})
    assert response.status_code == 200
    assert TARGET in {r["id"] for r in response.json()["results"]}


def test_the_page_itself_is_refused_to_a_foreign_host(viewer):
    response = _raw(viewer, "GET", "/", headers={"Host": f"evil.example:{viewer.port}"})
    error_of(response, 421)
    assert "<script" not in response.text


# ------------------------------------------------------------------------------------------------ Origin + CSRF


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither Origin nor Referer
        {"Origin": "http://127.0.0.1:1"},  # another port is another site
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://127.0.0.1:{port}"},
        {"Origin": "http://127.0.0.1:{port}@evil.example"},
        {"Origin": "http://127.0.0.1:{port}.evil.example"},
        {"Referer": "http://evil.example/page?u=http://127.0.0.1:{port}/"},
        {"Referer": "http://127.0.0.1:{port}@evil.example/"},
        {"Origin": "http://evil.example", "Referer": "http://127.0.0.1:{port}/"},  # Origin decides when present
    ],
    ids=lambda h: "+".join(f"{k}={v}" for k, v in h.items()) or "no-origin",
)
def test_a_write_from_another_origin_is_refused_and_writes_nothing(viewer, headers):
    sent = {k: v.format(port=viewer.port) for k, v in headers.items()}
    response = _raw(viewer, "POST", RATE, json=GOOD, headers={**sent, "X-Prompt-Alchemy": "1"})
    assert error_of(response, 403)["code"] == "forbidden"
    moved = _raw(
        viewer,
        "POST",
        f"/api/prompts/{OTHER}/labels",
        json={"name": "production"},
        headers={**sent, "X-Prompt-Alchemy": "1"},
    )
    error_of(moved, 403)
    deleted = _raw(viewer, "DELETE", "/api/labels/production", headers={**sent, "X-Prompt-Alchemy": "1"})
    error_of(deleted, 403)
    assert viewer.ratings(TARGET) == []
    assert [(label["name"], label["prompt_id"]) for label in viewer.get("/api/labels")["labels"]] == [
        ("production", TARGET)
    ]


def test_a_write_without_the_csrf_header_is_refused(viewer):
    response = _raw(viewer, "POST", RATE, json=GOOD, headers={"Origin": viewer.origin})
    err = error_of(response, 403)
    assert "x-prompt-alchemy" in err["message"]
    assert viewer.ratings(TARGET) == []


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_the_pages_own_writes_pass(viewer, origin):
    before = len(viewer.ratings(SCRATCH))
    headers = {"Origin": origin.format(port=viewer.port), "X-Prompt-Alchemy": "1"}
    response = _raw(viewer, "POST", f"/api/prompts/{SCRATCH}/rate", json=GOOD, headers=headers)
    assert response.status_code == 200, response.text
    referer_only = _raw(
        viewer,
        "POST",
        f"/api/prompts/{SCRATCH}/rate",
        json=GOOD,
        headers={"Referer": f"{viewer.origin}/#/prompt/{SCRATCH}", "X-Prompt-Alchemy": "1"},
    )
    assert referer_only.status_code == 200, referer_only.text
    assert len(viewer.ratings(SCRATCH)) == before + 2


# ------------------------------------------------------------------------------------------------ content type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/jsonx", "text/json", None],
)
def test_a_body_that_is_not_declared_json_is_415(viewer, content_type):
    headers = {"content-type": content_type} if content_type else {}
    with viewer.client() as client:
        response = client.post(RATE, content=json.dumps(GOOD).encode(), headers=headers)
    assert error_of(response, 415)["code"] == "unsupported_media_type"
    assert viewer.ratings(TARGET) == []


def test_json_with_a_charset_is_accepted(viewer):
    with viewer.client() as client:
        response = client.post(
            f"/api/prompts/{SCRATCH}/rate",
            content=json.dumps(GOOD).encode(),
            headers={"content-type": "application/json; charset=utf-8"},
        )
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------------------------------------ bodies


def test_a_body_over_the_limit_is_refused_by_its_length(viewer):
    with viewer.client() as client:
        response = client.post(
            RATE,
            content=b'{"rating": 4, "comment": "' + b"x" * (300 * 1024) + b'"}',
            headers={"content-type": "application/json"},
        )
    assert error_of(response, 413)["code"] == "payload_too_large"
    assert viewer.ratings(TARGET) == []


def test_a_body_over_the_limit_without_a_length_is_refused_while_counting(viewer):
    def chunks():
        yield b'{"rating": 4, "comment": "'
        for _ in range(40):
            yield b"x" * 8192
        yield b'"}'

    with viewer.client() as client:
        response = client.post(RATE, content=chunks(), headers={"content-type": "application/json"})
    assert error_of(response, 413)["code"] == "payload_too_large"
    assert viewer.ratings(TARGET) == []


@pytest.mark.parametrize("depth", [20, 5000, 100_000])
def test_a_deeply_nested_body_is_a_json_400(viewer, depth):
    body = '{"rating": 4, "comment": "x", "deep": ' + "[" * depth + "]" * depth + "}"
    with viewer.client() as client:
        response = client.post(RATE, content=body.encode(), headers={"content-type": "application/json"})
    err = error_of(response, 400)
    assert err["code"] == "bad_input" and "nested" in err["message"]
    assert viewer.ratings(TARGET) == []


@pytest.mark.parametrize(
    "comment,kind", [({"a": 1}, "an object"), (["x"], "a list"), (5, "a number"), (True, "a boolean")]
)
def test_a_comment_that_is_not_text_is_one_clear_422(viewer, comment, kind):
    with viewer.client() as client:
        response = client.post(RATE, json={"rating": 4, "comment": comment})
    err = error_of(response, 422)
    assert err == {
        "code": "invalid_field",
        "message": f"'comment' must be text, not {kind}",
        "request_id": err["request_id"],
    }
    assert viewer.ratings(TARGET) == []


@pytest.mark.parametrize(
    "path,body",
    [
        (f"/api/prompts/{OTHER}/labels", {"name": ["production"]}),
        ("/api/generate", {"idea": {"text": "x"}}),
        ("/api/generate", {"idea": "a haiku", "count": "3; drop"}),
        (f"/api/prompts/{TARGET}/render", {"values": {"product": 5}}),
    ],
)
def test_other_fields_of_the_wrong_type_are_422(viewer, path, body):
    with viewer.client() as client:
        response = client.post(path, json=body)
    assert error_of(response, 422)["code"] == "invalid_field"
    assert [label["prompt_id"] for label in viewer.get("/api/labels")["labels"]] == [TARGET]


# ------------------------------------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    "query",
    [
        "a=cccc0001/..&b=" + OTHER,
        "a=cccc0001/../bbbb&b=" + OTHER,
        "a=" + TARGET + "&b=../../api/labels/production",
        "a=%20" + TARGET + "&b=" + OTHER,
    ],
)
def test_a_reference_outside_the_id_format_is_refused(viewer, query):
    response = _raw(viewer, "GET", "/api/diff?" + query)
    err = error_of(response, 400)
    assert err["code"] == "bad_input" and "not a prompt id" in err["message"]


def test_an_encoded_crafted_id_reaches_no_other_route(viewer):
    """The page encodes ids; the crafted id, encoded, is refused and rates nothing."""
    from urllib.parse import quote

    with viewer.client() as client:
        response = client.post(f"/api/prompts/{quote('cccc0001/../bbbb0001-other/rate?', safe='')}/rate", json=GOOD)
    assert response.status_code in (400, 404)
    error_of(response, response.status_code)
    assert viewer.ratings(OTHER) == []


# ------------------------------------------------------------------------------------------------ error shape


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/api/nothing-here", 404, "not_found"),
        ("GET", "/static/missing.js", 404, "not_found"),
        ("PUT", RATE, 405, "method_not_allowed"),
        ("GET", "/api/prompts/zzzz9999", 404, "not_found"),
        ("GET", "/api/search?limit=abc", 400, "bad_input"),
        ("GET", "/api/generate/not-a-job", 404, "not_found"),
    ],
)
def test_every_error_has_the_json_shape(viewer, method, path, status, code):
    with viewer.client() as client:
        response = client.request(method, path)
    assert error_of(response, status)["code"] == code
