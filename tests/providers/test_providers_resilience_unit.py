"""Retry policy, Retry-After parsing, the token bucket, error mapping and the price table: pure functions."""

from __future__ import annotations

import email.utils
import random

import pytest

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.providers.pricing import PriceTable
from prompt_alchemy.providers.resilience import RetryPolicy, TokenBucket, map_exception, parse_retry_after, status_error


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ retry policy


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    policy = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=3.0)
    rng = random.Random(7)
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 3.0, 3.0]):
        delays = {policy.delay(attempt, rng=rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, delays)
        assert len(delays) > 1  # jittered, not a fixed value


def test_retry_after_is_honoured_exactly_and_too_long_a_wait_means_fail_over():
    policy = RetryPolicy(max_retries=2, base_delay=0.5, max_delay=10.0)
    assert policy.delay(0, retry_after=4.0) == 4.0
    assert policy.delay(1, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=30.0) is None


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None


# ------------------------------------------------------------------ token bucket


def test_token_bucket_allows_a_burst_then_spaces_requests_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock)  # 1 request per second, bursts of 10
    waits = [bucket.reserve() for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(1.0)
    assert waits[11] == pytest.approx(2.0)
    clock.now += 5.0  # time passes: the queue drains and tokens refill
    assert bucket.reserve() == 0.0


def test_token_bucket_defer_holds_every_caller_back_even_without_a_rate():
    clock = FakeClock()
    bucket = TokenBucket(None, clock=clock)
    assert bucket.reserve() == 0.0
    bucket.defer(3.0)
    assert bucket.reserve() == pytest.approx(3.0)
    clock.now += 3.5
    assert bucket.reserve() == 0.0


# ------------------------------------------------------------------ error mapping


def test_auth_errors_fail_fast_name_the_fix_and_never_repeat_the_server_text():
    exc = status_error("openai", 401, "Incorrect API key provided: sk-SENTINEL-secret-value-1234")
    assert not exc.retryable and exc.status == 401
    assert "OPENAI_API_KEY" in str(exc) and "openai" in str(exc)
    assert "SENTINEL" not in str(exc)


@pytest.mark.parametrize(
    "status,retryable",
    [
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (529, True),
        (408, True),
        (400, False),
        (404, False),
        (422, False),
        (403, False),
    ],
)
def test_status_classification(status, retryable):
    exc = status_error("anthropic", status, "detail", model="m", retry_after=1.0 if retryable else None)
    assert exc.retryable is retryable
    assert exc.status == status


def test_map_exception_reads_status_headers_and_google_retry_info():
    class Response:
        headers = {"retry-after": "2"}

    class SdkStatusError(Exception):
        status_code = 429
        response = Response()
        body = {"error": {"message": "slow down"}}

    mapped = map_exception("openrouter", SdkStatusError("x"))
    assert mapped.retryable and mapped.retry_after == 2.0 and "slow down" in str(mapped)

    class GoogleError(Exception):
        code = 429
        response = None
        details = {
            "error": {
                "code": 429,
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}],
            }
        }

    assert map_exception("google", GoogleError("quota")).retry_after == 13.0


def test_map_exception_transport_failures_are_retryable_and_bugs_are_not():
    assert map_exception("ollama", TimeoutError()).retryable
    assert map_exception("ollama", ConnectionResetError("reset")).retryable
    try:
        raise ConnectionError("refused") from OSError("x")
    except ConnectionError as exc:
        assert map_exception("ollama", exc).retryable
    bug = map_exception("ollama", KeyError("missing"))
    assert isinstance(bug, ProviderError) and not bug.retryable


# ------------------------------------------------------------------ prices


def test_price_lookup_exact_dated_snapshot_vendor_and_override():
    table = PriceTable({"openai/gpt-4o-mini": {"input": 1.0, "output": 2.0}, "my-model": {"input": 3.0}})
    assert table.lookup("openai", "gpt-4o").input == 2.5
    assert table.lookup("openai", "gpt-4o-2024-08-06").output == 10.0  # dated snapshot -> its prefix
    assert table.lookup("openai", "gpt-4o-mini-2024-07-18").input == 0.15  # longest prefix, not gpt-4o
    assert table.lookup("openai", "gpt-4o-mini").source == "config"  # override by provider/model
    assert table.lookup("ollama", "my-model").input == 3.0  # override by model for any provider
    assert table.lookup("anthropic", "claude-haiku-4-5-20251001").output == 5.0
    assert table.lookup("openrouter", "anthropic/claude-sonnet-4").input == 3.0  # vendor table
    assert table.lookup("local", "anything").input == 0.0
    assert table.lookup("openai", "gpt-4oops") is None  # a prefix must end at a separator
    assert table.lookup("openai", "unknown-model") is None
    assert table.cost("openai", "unknown-model", 1000, 1000) == 0.0


def test_cost_is_per_million_tokens():
    table = PriceTable()
    assert table.cost("openai", "gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("openai", "gpt-4o-mini", 2000, 1000) == pytest.approx((2000 * 0.15 + 1000 * 0.6) / 1e6)
