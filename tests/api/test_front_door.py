"""The team server's front door over real sockets: query parameters are validated at the route (a JSON 400, never a
500 from deep in storage), every path (matched or not) answers in the one JSON error shape with its request id, and
/metrics behind a key when server.metrics_require_auth is set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "params, field",
    [
        ({"provider": "\x1f"}, "provider"),
        ({"provider": "a\x00b"}, "provider"),
        ({"phase": "alembic"}, "phase"),
        ({"since": "yesterday-ish"}, "since"),
    ],
)
def test_usage_report_filters_are_checked_at_the_route(open_server, params, field):
    """A control character in ?provider= reached storage and came back as a 500; now the route's typed filters
    refuse it with a JSON 400 that names the field."""
    with open_server.client() as c:
        r = c.get("/api/v1/metrics", params=params)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "bad_input" and field in error["message"]
        assert error["request_id"] == r.headers["x-request-id"]
        assert c.get("/api/v1/metrics", params={"provider": "scripted"}).status_code == 200


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/api/v1", 404, "not_found"),
        ("POST", "/livez", 405, "method_not_allowed"),
        ("DELETE", "/api/v1/search", 405, "method_not_allowed"),
        ("BREW", "/metrics", 405, "method_not_allowed"),
    ],
)
def test_every_path_answers_in_the_json_error_shape(open_server, method, path, status, code):
    with open_server.client() as c:
        r = c.request(method, path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {
        "error": {"code": code, "message": r.json()["error"]["message"], "request_id": r.headers["x-request-id"]}
    }


def test_metrics_behind_a_key_when_required(make_server):
    server = make_server("scrape", {"PROMPT_ALCHEMY_SERVER__METRICS_REQUIRE_AUTH": "true"})
    reader = server.create_key("scraper", "read")
    with server.client() as anon:
        refused = anon.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert anon.get("/api/v1/prompts").status_code == 200  # the rest stays open on loopback
    with server.client(reader) as c:
        assert c.get("/metrics").status_code == 200
    with server.client(reader[:-2] + "xx") as wrong:
        assert wrong.get("/metrics").status_code == 401
