"""Token streaming over the real SDKs: every provider's streaming API against a fake server speaking that provider's
documented streaming wire format on 127.0.0.1 (SSE for OpenAI/OpenRouter, Anthropic and Gemini, NDJSON for
Ollama). What arrives (deltas in order, as they are sent, joining to the final text, with the same usage as the
plain call), how broken streams are classified, and the gateway's rules: retry and fail over only before the first
delta, end the call with the mapped error after it, a cached answer as one delta. Then the engine on top."""

from __future__ import annotations

import time

import pytest
from fake_llm_servers import Fault
from providers_testkit import WIRE, fake_servers, gateway_yaml, sentinel_env  # noqa: F401  (fixtures)

from prompt_alchemy.config import ProviderConfig, load_settings
from prompt_alchemy.errors import GenerationError, ProviderError
from prompt_alchemy.models import Phase
from prompt_alchemy.providers.anthropic import AnthropicProvider
from prompt_alchemy.providers.base import BaseProvider, GenerationRequest, GenerationResponse, Message, collect
from prompt_alchemy.providers.google import GoogleProvider
from prompt_alchemy.providers.ollama import OllamaProvider
from prompt_alchemy.providers.openai import OpenAIProvider
from prompt_alchemy.providers.openrouter import OpenRouterProvider
from prompt_alchemy.providers.registry import ProviderRegistry

CLASSES = {
    "openai": OpenAIProvider,
    "openrouter": OpenRouterProvider,
    "anthropic": AnthropicProvider,
    "google": GoogleProvider,
    "ollama": OllamaProvider,
}
KEY = "sk-SENTINEL-stream-0123456789abcdef"
REPLY = (
    "Role: You are a release engineer.\nTask: Summarize the git log of the last week for the team.\n"
    "Output format: five bullet points, newest first."
)
WORDS = REPLY.split()
#: How each provider's stream reports a server error inside the stream, as an HTTP status.
STREAM_ERROR_STATUS = {"openai": 500, "openrouter": 500, "anthropic": 529, "google": 503, "ollama": 500}


def make(name: str, server, **extra):
    where = {"host": server.url} if name == "ollama" else {"base_url": server.base_url}
    return CLASSES[name](ProviderConfig(api_key=KEY, **{"timeout": 2.0, **where, **extra}))


def request(max_tokens: int = 200) -> GenerationRequest:
    return GenerationRequest(
        messages=[
            Message("system", "You turn ideas into precise prompts for language models. Keep every requirement."),
            Message("user", "<idea>a tool that summarizes git logs for the weekly team meeting</idea>"),
        ],
        temperature=0.5,
        max_tokens=max_tokens,
    )


async def read(provider, req: GenerationRequest, server=None) -> tuple[list[str], list[int], GenerationResponse]:
    """The deltas, how many words `server` had sent when each arrived, and the final response."""
    deltas, sent, final = [], [], None
    async for item in provider.stream(req):
        if isinstance(item, GenerationResponse):
            final = item
        else:
            deltas.append(item)
            sent.append(server.words_sent if server is not None else 0)
    assert final is not None
    return deltas, sent, final


def streamed_flags(name: str, recorded) -> bool:
    """Whether the request asked for the provider's documented streaming form."""
    body = recorded.body
    if name in ("openai", "openrouter"):
        return body["stream"] is True and body["stream_options"] == {"include_usage": True}
    if name == "google":
        return ":streamGenerateContent" in recorded.path and "alt=sse" in recorded.path
    return body["stream"] is True


# ------------------------------------------------------------------------------------------------ providers


@pytest.mark.parametrize("name", list(CLASSES))
async def test_deltas_arrive_in_order_as_sent_and_end_with_the_plain_calls_response(name, fake_servers):
    server = fake_servers(name, reply=REPLY, stream_delay=0.03)[name]
    provider = make(name, server)
    try:
        deltas, sent, final = await read(provider, request(), server)
        plain = await provider.generate(request())
    finally:
        await provider.aclose()
    # one delta per word the server sent, in order, joining to the final text
    assert [d.strip() for d in deltas] == WORDS
    assert "".join(deltas) == final.text == REPLY
    # each arrived while the server was still sending (25 words, 30 ms apart), not all at the end
    assert sent[0] < len(WORDS) // 2 and sent[len(WORDS) // 2] < len(WORDS), sent
    # the same response as the non-streaming call: text, usage, the model that answered, finish reason
    assert final.input_tokens > 0 and final.output_tokens > 0
    assert (final.text, final.input_tokens, final.output_tokens, final.model, final.finish_reason) == (
        plain.text,
        plain.input_tokens,
        plain.output_tokens,
        plain.model,
        plain.finish_reason,
    )
    assert final.provider == name
    streamed, plain_request = server.generation_requests()
    assert streamed_flags(name, streamed)
    assert not (plain_request.body or {}).get("stream")  # the plain call stays a plain request


async def test_a_compatible_server_without_stream_usage_gets_estimated_counts(fake_servers):
    """llama.cpp's Python server, for one, ignores stream_options: the counts are estimated, never zero."""
    server = fake_servers("openai", reply=REPLY, stream_usage=False)["openai"]
    provider = make("openai", server)
    try:
        _deltas, _sent, final = await read(provider, request())
    finally:
        await provider.aclose()
    assert final.text == REPLY
    assert final.output_tokens == len(REPLY) // 4
    assert final.input_tokens == sum(len(m.content) for m in request().messages) // 4


async def test_a_stream_adapts_a_reasoning_models_parameters_like_a_plain_call(fake_servers):
    server = fake_servers("openai", reply=REPLY, reasoning_models={"o3-mini"})["openai"]
    provider = make("openai", server, model="o3-mini")
    try:
        deltas, _sent, final = await read(provider, request())
    finally:
        await provider.aclose()
    assert "".join(deltas) == final.text == REPLY
    bodies = [r.body for r in server.generation_requests()]
    assert len(bodies) == 3  # max_tokens rejected, temperature rejected, then the stream
    assert bodies[2]["stream"] is True and bodies[2]["max_completion_tokens"] == 200 and "temperature" not in bodies[2]


FAULTS_BEFORE = {  # fault -> (retryable, status), exactly as a plain call classifies it
    "503": (Fault.error(503), True, 503),
    "429": (Fault.rate_limit(0.5), True, 429),
    "401": (Fault.unauthorized(), False, 401),
    "reset": (Fault.reset(), True, None),
    "malformed": (Fault.malformed(), True, None),
    "cut-at-open": (Fault.cut(0), True, None),
}


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("fault", list(FAULTS_BEFORE))
async def test_a_stream_failing_before_its_first_delta_maps_like_a_plain_call(name, fault, fake_servers):
    spec, retryable, status = FAULTS_BEFORE[fault]
    server = fake_servers(name, reply=REPLY)[name]
    provider = make(name, server)
    server.fail(spec)
    deltas: list[str] = []
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider.stream(request()), deltas.append)
        again = await collect(provider.stream(request()))  # the same client streams again afterwards
    finally:
        await provider.aclose()
    assert deltas == []
    assert (info.value.retryable, info.value.status) == (retryable, status), str(info.value)
    assert KEY not in str(info.value)
    assert again.text == REPLY


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("fault", ["cut", "stream_error"])
async def test_a_stream_breaking_mid_answer_is_a_mapped_provider_error(name, fault, fake_servers):
    server = fake_servers(name, reply=REPLY)[name]
    provider = make(name, server)
    server.fail(Fault.cut(3) if fault == "cut" else Fault.stream_error(3))
    deltas: list[str] = []
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider.stream(request()), deltas.append)
    finally:
        await provider.aclose()
    assert "".join(deltas) == " ".join(WORDS[:3])  # the three words sent before the break
    assert info.value.provider == name and info.value.retryable
    if fault == "stream_error":  # the error event's type, as the status it stands for
        assert info.value.status == STREAM_ERROR_STATUS[name], str(info.value)
    else:
        assert "connection failed" in str(info.value)


async def test_a_provider_without_a_streaming_api_streams_its_answer_as_one_delta():
    class Plain(BaseProvider):
        name = "plain"

        async def generate(self, request):
            return GenerationResponse(text="the whole answer", provider="plain", model="m", output_tokens=3)

    items = [item async for item in Plain(None).stream(request())]
    assert items[0] == "the whole answer" and items[1].output_tokens == 3 and len(items) == 2


# ------------------------------------------------------------------------------------------------ the gateway


def gateway() -> ProviderRegistry:
    """The registry as configured (the test's config file and sentinel keys)."""
    return ProviderRegistry(load_settings().settings)


async def stream_through(registry: ProviderRegistry, chain: list[str]):
    deltas: list[str] = []
    try:
        outcome = await registry.generate(Phase.SOLUTIO, chain, request(), on_delta=deltas.append)
    finally:
        await registry.aclose()
    return outcome, deltas


@pytest.mark.parametrize(
    "fault",
    [Fault.error(503), Fault.cut(0), Fault.stream_error(0), Fault.malformed(), Fault.timeout(2.0)],
    ids=["503", "cut-at-open", "error-event-at-open", "malformed", "timeout"],
)
async def test_a_stream_failing_before_its_first_delta_is_retried_then_failed_over(
    fault, fake_servers, write_config, sentinel_env
):
    servers = fake_servers("openai", "anthropic", reply=REPLY)
    servers["openai"].always = fault
    write_config(gateway_yaml(servers, max_retries=1, timeouts={"openai": 0.5, "anthropic": 5.0}))
    outcome, deltas = await stream_through(gateway(), ["openai", "anthropic"])
    assert "".join(deltas) == outcome.response.text == REPLY  # every delta came from the provider that answered
    assert outcome.response.provider == "anthropic"
    assert len(servers["openai"].generation_requests()) == 2  # one try and one retry
    assert streamed_flags("anthropic", servers["anthropic"].generation_requests()[0])
    kinds = [m.kind for m in outcome.metrics]
    assert kinds.count("retry") == 1 and kinds.count("failover") == 1
    assert len(outcome.events) == 1 and "failed over to anthropic" in outcome.events[0]


async def test_a_retried_stream_delivers_each_delta_once(fake_servers, write_config, sentinel_env):
    servers = fake_servers("google", reply=REPLY)
    servers["google"].fail(Fault.cut(0), Fault.rate_limit(0.05))
    write_config(gateway_yaml(servers, max_retries=2))
    outcome, deltas = await stream_through(gateway(), ["google"])
    assert "".join(deltas) == REPLY and len(deltas) == len(WORDS)
    assert len(servers["google"].generation_requests()) == 3
    assert [m.kind for m in outcome.metrics].count("retry") == 2


@pytest.mark.parametrize("primary", list(CLASSES))
async def test_a_stream_broken_after_its_first_delta_ends_the_call_with_the_mapped_error(
    primary, fake_servers, write_config, sentinel_env
):
    backup = "ollama" if primary != "ollama" else "openai"
    servers = fake_servers(primary, backup, reply=REPLY)
    servers[primary].fail(Fault.stream_error(2))
    write_config(gateway_yaml(servers, max_retries=2))
    registry = gateway()
    deltas: list[str] = []
    with pytest.raises(ProviderError) as info:
        try:
            await registry.generate(Phase.SOLUTIO, [primary, backup], request(), on_delta=deltas.append)
        finally:
            await registry.aclose()
    error = info.value
    delivered = "".join(deltas)
    assert delivered == f"{WORDS[0]} {WORDS[1]}"  # what came before the break, and nothing from anyone else
    assert error.provider == primary and not error.retryable
    assert error.status == STREAM_ERROR_STATUS[primary]
    assert f"the stream broke after {len(delivered)} characters had been delivered" in str(error)
    assert len(servers[primary].generation_requests()) == 1  # not retried
    assert servers[backup].generation_requests() == []  # not failed over
    assert KEY not in str(error)


async def test_a_stream_that_stalls_after_its_first_delta_times_out_without_a_retry(
    fake_servers, write_config, sentinel_env
):
    servers = fake_servers("anthropic", "openai", reply=REPLY)
    servers["anthropic"].fail(Fault.stall(after=2, delay=3.0))
    write_config(gateway_yaml(servers, timeouts={"anthropic": 0.5, "openai": 5.0}))
    registry = gateway()
    deltas: list[str] = []
    started = time.perf_counter()
    with pytest.raises(ProviderError) as info:
        try:
            await registry.generate(Phase.SOLUTIO, ["anthropic", "openai"], request(), on_delta=deltas.append)
        finally:
            await registry.aclose()
    assert time.perf_counter() - started < 2.5  # the idle timeout ended it, not the server
    assert len(deltas) == 2 and "timed out" in str(info.value) and not info.value.retryable
    assert servers["openai"].generation_requests() == []


async def test_a_long_stream_that_keeps_arriving_outlives_the_timeout(fake_servers, write_config, sentinel_env):
    """The timeout bounds each wait for the next delta, not the whole answer."""
    servers = fake_servers("openai", reply=REPLY, stream_delay=0.06)  # 25 words: about 1.5 s in all
    write_config(gateway_yaml(servers, timeouts={"openai": 0.5}, max_retries=0))
    outcome, deltas = await stream_through(gateway(), ["openai"])
    assert "".join(deltas) == REPLY and outcome.response.latency_ms > 1000


async def test_a_streamed_answer_is_priced_cached_and_then_delivered_as_one_delta(
    fake_servers, write_config, sentinel_env
):
    from prompt_alchemy.services import AlchemyService

    servers = fake_servers("openai", reply=REPLY, prompt_tokens=20_000)
    write_config(gateway_yaml(servers))
    service = AlchemyService.from_environment()
    try:
        registry = service.registry
        with registry.run_options() as options:
            first: list[str] = []
            streamed = await registry.generate(Phase.SOLUTIO, ["openai"], request(), on_delta=first.append)
            again: list[str] = []
            cached = await registry.generate(Phase.SOLUTIO, ["openai"], request(), on_delta=again.append)
            plain = await registry.call("openai", GenerationRequest(messages=[Message("user", "other")]))
    finally:
        await service.aclose()
    assert len(first) == len(WORDS) and "".join(first) == REPLY
    assert streamed.response.input_tokens == 20_000
    assert streamed.response.cost_usd == pytest.approx(plain.response.cost_usd) and streamed.response.cost_usd > 0
    assert again == [REPLY]  # the cached answer, whole, as one delta
    assert cached.response.cached and [m.kind for m in cached.metrics] == ["cache_hit"]
    assert len(servers["openai"].generation_requests()) == 2  # the streamed call and the plain one
    assert options.cache_hits == 1


# ------------------------------------------------------------------------------------------------ the engine


async def _engine_run(phases: str, on_token, count: int = 2):
    from prompt_alchemy.engine.personas import resolve_persona
    from prompt_alchemy.services import AlchemyService

    service = AlchemyService.from_environment()
    try:
        request_ = service.build_request("a tool that summarizes git logs", count=count, phases=phases, save=False)
        persona = resolve_persona(request_.persona, service.settings)
        with service.registry.run_options(write_cache=False):
            return await service.engine.run(request_, persona, on_token=on_token)
    finally:
        await service.aclose()


async def test_the_engine_streams_the_final_phase_through_a_failover(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", "google", reply=REPLY)
    servers["openai"].always = Fault.stream_error(0)
    write_config(gateway_yaml(servers, phases={"coagulatio": ("openai", ["google"])}, max_retries=0))
    events = []
    result = await _engine_run("precision", events.append)
    assert {e.phase for e in events} == {Phase.COAGULATIO} and {e.variant for e in events} == {0, 1}
    for variant in (0, 1):
        assert "".join(e.delta for e in events if e.variant == variant) == REPLY
    assert {p.provider for p in result.final_prompts()} == {"google"}
    assert len(result.events) == 2 and all("failed over to google" in e for e in result.events)


async def test_the_engine_ends_a_run_whose_final_stream_breaks_mid_answer(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", "google", reply=REPLY)
    servers["openai"].always = Fault.cut(4)
    write_config(gateway_yaml(servers, phases={"coagulatio": ("openai", ["google"])}, max_retries=2))
    events = []
    with pytest.raises(GenerationError) as info:
        await _engine_run("precision", events.append, count=1)
    assert "coagulatio" in str(info.value) and "the stream broke after" in str(info.value)
    assert servers["google"].generation_requests() == []
    assert {(e.phase, e.variant) for e in events} == {(Phase.COAGULATIO, 0)}
    assert "".join(e.delta for e in events) == " ".join(WORDS[:4])  # the partial text before the break
