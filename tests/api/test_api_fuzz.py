"""Property-based fuzzing of the read routes from the API's own OpenAPI schema (schemathesis): whatever the
parameters, never a 5xx, and every error is the documented JSON shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_schema(open_server):
    with open_server.client() as c:  # something to find: a generated session and a rating
        gen = c.post("/api/v1/generate", json={"idea": "fuzzing seed idea", "count": 1}).json()
        c.post(f"/api/v1/prompts/{gen['prompts'][-1]['id']}/ratings", json={"score": 4})
    schema = schemathesis.openapi.from_url(f"{open_server.url}/api/v1/openapi.json")
    schema.config.base_url = open_server.url
    return schema


def test_read_routes_never_answer_5xx(api_schema, open_server):
    """Each GET operation, a dozen generated requests each (schemathesis' pytest plugin predates this pytest, so
    the strategies are driven by hypothesis directly)."""
    operations = [
        r.ok() for r in api_schema.include(method="GET").exclude(path="/api/v1/providers").get_all_operations()
    ]
    assert len(operations) >= 9
    seen: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        def never_5xx(case):
            response = case.call(base_url=open_server.url, timeout=30)
            seen.append(response.status_code)
            assert (
                response.status_code < 500
            ), f"{case.method} {case.formatted_path} {case.query}: {response.text[:300]}"
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"} and body["error"]["code"] and "Traceback" not in response.text

        never_5xx()
    assert len(seen) >= 5 * len(operations) and any(s == 200 for s in seen) and any(s == 400 for s in seen)
