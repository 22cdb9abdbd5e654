"""Users' regexes (examples with "match": "regex") are bounded: the `regex` package with a time limit, caps on the
pattern and the text, and never on the server's event loop. A catastrophic pattern ends in a non-match or one clear
error, and a real server keeps answering /health while an optimize with such a pattern runs."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from prompt_alchemy.errors import InputError
from prompt_alchemy.ranking.evaluation import matches, parse_examples
from prompt_alchemy.security import MAX_REGEX_LENGTH, search_user_regex

#: The audit's case: exponential in Python's `re` on any answer of more than a few dozen word characters.
AUDIT_PATTERN = "(?:.|\\w)*QQQZ"
#: One that backtracks catastrophically in the `regex` package too (no required literal lets it give up early).
EXPLOSIVE = "(?:(?:.|\\w)+)+\\d{9}"
ANSWER = (
    "Here is the answer about the weather: hot weather today, with a light breeze from the west and a clear "
    "sky until the evening, when clouds gather over the hills and the temperature falls a little."
)


def test_classic_and_audit_patterns_end_as_non_matches():
    assert matches("a" * 40 + "b", "(a+)+$", "regex") is False
    assert matches(ANSWER * 3, AUDIT_PATTERN, "regex") is False
    assert matches(ANSWER, "hot\\s+weather", "regex") is True  # ordinary patterns still work, case-insensitive
    assert matches(ANSWER, "HOT WEATHER", "regex") is True


def test_a_pattern_that_runs_out_of_time_is_one_clear_error():
    with pytest.raises(InputError, match="took longer than .* to match"):
        search_user_regex(EXPLOSIVE, ANSWER, timeout=0.2)


def test_caps_on_the_pattern_and_its_validity_name_the_line():
    with pytest.raises(InputError, match='line 1: "expected" is 1,001 characters long; the limit for a regex'):
        parse_examples(
            json.dumps({"input": "x", "expected": "a" * (MAX_REGEX_LENGTH + 1), "match": "regex"}), "examples"
        )
    with pytest.raises(InputError, match='line 1: "expected" is not a valid regex'):
        parse_examples(json.dumps({"input": "x", "expected": "(unclosed", "match": "regex"}), "examples")
    # a huge answer is searched only up to the cap: a match far past it is not seen
    assert search_user_regex("needle", "x" * 50_000 + "needle") is False


@pytest.mark.e2e
async def test_server_answers_health_while_an_optimize_with_a_catastrophic_regex_runs(home):
    """A real `serve --transport http` process and the SDK's MCP client: the optimize call ends (an error naming
    the regex, or a non-match), and /health answers while it runs. With `re` on the event loop, /health hung."""
    from mcp import Client
    from testkit import Server

    server = Server(home, {"PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__RESPONSES": json.dumps([ANSWER])})
    try:
        examples = [
            {"input": "hot weather today", "expected": EXPLOSIVE, "match": "regex", "split": "heldout"},
            {"input": "cold weather", "expected": "cold", "match": "contains", "split": "propose"},
        ]
        async with Client(f"{server.url}/mcp") as client:
            call = asyncio.ensure_future(
                client.call_tool(
                    "optimize_prompt",
                    {
                        "task": "describe the weather",
                        "prompt": "Describe the weather: {input}",
                        "examples": examples,
                        "metric": "accuracy",
                        "max_iterations": 1,
                        "provider": "scripted",
                        "save": False,
                    },
                )
            )
            answered_during_call = 0
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                while not call.done():
                    response = await http.get("/health")
                    assert response.status_code == 200
                    answered_during_call += not call.done()
                    await asyncio.sleep(0.05)
            result = await asyncio.wait_for(call, 60)
            assert result.is_error
            text = result.content[0].text
            assert "took longer than" in text and "regex" in text and "Traceback" not in text
            assert answered_during_call >= 1
            # the audit's exact case is a plain non-match: the run finishes with accuracy 0 on that example
            examples[0]["expected"] = AUDIT_PATTERN
            done = await asyncio.wait_for(
                client.call_tool(
                    "optimize_prompt",
                    {
                        "task": "describe the weather",
                        "prompt": "Describe the weather: {input}",
                        "examples": examples,
                        "metric": "accuracy",
                        "max_iterations": 1,
                        "provider": "scripted",
                        "save": False,
                    },
                ),
                60,
            )
            assert not done.is_error, done.content[0].text
            assert done.structured_content["seed"]["evaluation"]["examples"][0]["correct"] is False
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/health").status_code == 200
    finally:
        server.stop()
