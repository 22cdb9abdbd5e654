"""Each provider's official SDK against a server speaking that provider's wire format over a real socket: what is
sent (system prompt, temperature, token limit, headers), what is read back (text, usage, model), embeddings,
health checks, and how every injected fault is classified."""

from __future__ import annotations

import logging

import pytest
from fake_llm_servers import Fault
from providers_testkit import fake_servers  # noqa: F401  (fixture)

from prompt_alchemy.config import ProviderConfig
from prompt_alchemy.errors import ProviderError
from prompt_alchemy.providers.anthropic import AnthropicProvider
from prompt_alchemy.providers.base import GenerationRequest, Message
from prompt_alchemy.providers.google import GoogleProvider
from prompt_alchemy.providers.ollama import OllamaProvider
from prompt_alchemy.providers.openai import OpenAIProvider
from prompt_alchemy.providers.openrouter import OpenRouterProvider

CLASSES = {
    "openai": OpenAIProvider,
    "openrouter": OpenRouterProvider,
    "anthropic": AnthropicProvider,
    "google": GoogleProvider,
    "ollama": OllamaProvider,
}
KEY = "sk-SENTINEL-wire-0123456789abcdef"


def make(name: str, server, **extra):
    where = {"host": server.url} if name == "ollama" else {"base_url": server.base_url}
    return CLASSES[name](ProviderConfig(api_key=KEY, **{"timeout": 1.0, **where, **extra}))


def request(temperature: float = 0.7, max_tokens: int = 123) -> GenerationRequest:
    return GenerationRequest(
        messages=[Message("system", "SYSTEM-RULES"), Message("user", "USER-IDEA")],
        temperature=temperature,
        max_tokens=max_tokens,
    )


def sent_system_and_limits(name: str, body: dict) -> tuple[str, float | None, int | None]:
    """Where each wire format puts the system prompt, temperature and token limit."""
    if name in ("openai", "openrouter"):
        system = next(m["content"] for m in body["messages"] if m["role"] == "system")
        return system, body.get("temperature"), body.get("max_tokens") or body.get("max_completion_tokens")
    if name == "anthropic":
        assert all(m["role"] != "system" for m in body["messages"])
        return body["system"], body.get("temperature"), body["max_tokens"]
    if name == "google":
        system = body["systemInstruction"]["parts"][0]["text"]
        config = body["generationConfig"]
        return system, config.get("temperature"), config.get("maxOutputTokens")
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    return system, body["options"].get("temperature"), body["options"].get("num_predict")


@pytest.mark.parametrize("name", list(CLASSES))
async def test_generation_over_the_wire(name, fake_servers):
    server = fake_servers(name)[name]
    provider = make(name, server)
    try:
        response = await provider.generate(request())
    finally:
        await provider.aclose()
    assert response.text.startswith("Role: You are a careful expert assistant")
    assert response.provider == name
    assert response.model == provider.default_model()
    assert response.input_tokens > 0 and response.output_tokens > 0
    recorded = server.generation_requests()
    assert len(recorded) == 1
    system, temperature, limit = sent_system_and_limits(name, recorded[0].body)
    assert system == "SYSTEM-RULES"  # the system prompt is sent (Ollama included)
    assert temperature == pytest.approx(0.7)
    assert limit == 123
    headers = recorded[0].headers
    assert KEY in (headers.get("authorization", "") + headers.get("x-api-key", "") + headers.get("x-goog-api-key", ""))


@pytest.mark.parametrize("name", ["openai", "google", "ollama"])
async def test_embeddings_with_dimensions(name, fake_servers):
    server = fake_servers(name)[name]
    provider = make(name, server)
    try:
        vectors = await provider.embed(["alpha", "beta", "gamma"], dimensions=16)
    finally:
        await provider.aclose()
    assert len(vectors) == 3 and all(len(v) == 16 for v in vectors)
    assert vectors[0] != vectors[1]
    body = server.requests[-1].body
    sent_dims = body.get("dimensions") or body.get("requests", [{}])[0].get("outputDimensionality")
    assert sent_dims == 16


async def test_anthropic_temperature_above_one_is_clamped_with_a_warning(fake_servers, caplog):
    server = fake_servers("anthropic")["anthropic"]
    provider = make("anthropic", server)
    caplog.set_level(logging.WARNING, logger="prompt_alchemy")
    logging.getLogger("prompt_alchemy").propagate = True
    try:
        response = await provider.generate(request(temperature=1.6))
    finally:
        await provider.aclose()
    assert response.text
    assert server.generation_requests()[0].body["temperature"] == 1.0
    assert any("0 to 1" in r.getMessage() for r in caplog.records)


async def test_openai_reasoning_model_parameters_are_adapted_and_remembered(fake_servers):
    server = fake_servers("openai", reasoning_models={"o3-mini"})["openai"]
    provider = make("openai", server, model="o3-mini")
    try:
        first = await provider.generate(request())
        second = await provider.generate(request())
    finally:
        await provider.aclose()
    assert first.text and second.text
    bodies = [r.body for r in server.generation_requests()]
    assert len(bodies) == 4  # two rejections (max_tokens, temperature), then success; the 2nd call goes straight
    assert "max_tokens" in bodies[0]
    assert bodies[2]["max_completion_tokens"] == 123 and "temperature" not in bodies[2]
    assert bodies[3] == bodies[2]


async def test_openrouter_sends_attribution_headers_and_its_model_fallback_list(fake_servers):
    server = fake_servers("openrouter", unavailable_models={"anthropic/claude-haiku-4-5"})["openrouter"]
    provider = make("openrouter", server, model="anthropic/claude-haiku-4-5", fallback_models=["openai/gpt-4o-mini"])
    try:
        response = await provider.generate(request())
    finally:
        await provider.aclose()
    recorded = server.generation_requests()[0]
    assert recorded.headers["x-title"] == "Prompt Alchemy"
    assert recorded.headers["http-referer"].startswith("https://")
    assert recorded.body["models"] == ["anthropic/claude-haiku-4-5", "openai/gpt-4o-mini"]
    assert response.model == "openai/gpt-4o-mini"  # the model that actually answered


async def test_one_long_lived_client_reuses_its_connection(fake_servers):
    server = fake_servers("anthropic")["anthropic"]
    provider = make("anthropic", server)
    try:
        for _ in range(4):
            await provider.generate(request())
    finally:
        await provider.aclose()
    assert len(server.generation_requests()) == 4
    assert len({r.client for r in server.requests}) == 1


@pytest.mark.parametrize("name", list(CLASSES))
async def test_check_reports_reachability(name, fake_servers):
    server = fake_servers(name)[name]
    provider = make(name, server)
    try:
        detail = await provider.check()
        server.fail(Fault.unauthorized())
        with pytest.raises(ProviderError) as info:
            await provider.check()
    finally:
        await provider.aclose()
    assert "reachable" in detail
    assert info.value.status == 401 and KEY not in str(info.value)


FAULTS = {
    "429": (Fault.rate_limit(0.5), True, 429),
    "500": (Fault.error(500), True, 500),
    "503": (Fault.error(503), True, 503),
    "timeout": (Fault.timeout(2.5), True, None),
    "reset": (Fault.reset(), True, None),
    "malformed": (Fault.malformed(), True, None),
    "401": (Fault.unauthorized(), False, 401),
    "400": (Fault.error(400), False, 400),
}


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_faults_map_to_provider_errors(name, fault, fake_servers):
    spec, retryable, status = FAULTS[fault]
    server = fake_servers(name)[name]
    provider = make(name, server, timeout=0.5 if fault == "timeout" else 5.0)
    server.fail(spec)
    try:
        with pytest.raises(ProviderError) as info:
            await provider.generate(request())
        recovered = await provider.generate(request())  # the same client works again afterwards
    finally:
        await provider.aclose()
    exc = info.value
    assert exc.provider == name
    assert exc.retryable is retryable, str(exc)
    assert exc.status == status
    assert KEY not in str(exc)
    if fault == "429":
        assert exc.retry_after == 0.5
    if fault == "401":
        assert "API_KEY" in str(exc) or "api_key" in str(exc)
    assert recovered.text
