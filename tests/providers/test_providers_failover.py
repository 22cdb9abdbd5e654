"""The registry as a gateway, through the real service and SQLite: retries, failover, fail-fast auth errors, and
what each run leaves in the database."""

from __future__ import annotations

import pytest
from fake_llm_servers import Fault
from providers_testkit import fake_servers, gateway_yaml, sentinel_env  # noqa: F401  (fixtures)

from prompt_alchemy.errors import GenerationError
from prompt_alchemy.models import Phase
from prompt_alchemy.services import AlchemyService

ALL = ("prima-materia", "solutio", "coagulatio")


def phases(primary: str, fallbacks: list[str]) -> dict[str, tuple[str, list[str]]]:
    return {p: (primary, fallbacks) for p in ALL}


async def run(idea: str = "a tool that summarizes git logs", **options):
    service = AlchemyService.from_environment()
    try:
        request = service.build_request(idea, **{"count": 2, **options})
        result = await service.generate(request)
        rows = service.store.query("SELECT id, provider, model, phase, cost_usd FROM prompts")
        metrics = service.store.list_metrics(session_id=result.session_id)
        return result, rows, metrics
    finally:
        await service.aclose()


async def test_a_429_with_retry_after_is_retried_and_the_run_completes(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", "anthropic")
    write_config(gateway_yaml(servers, phases=phases("openai", ["anthropic"])))
    servers["openai"].fail(Fault.rate_limit(0.05), Fault.error(500))
    result, rows, metrics = await run()
    assert len(rows) == 6 and {r["provider"] for r in rows} == {"openai"}
    assert len(servers["openai"].generation_requests()) == 8  # 6 calls + 2 retries
    assert servers["anthropic"].generation_requests() == []
    retries = [m.detail for m in metrics if m.kind == "retry"]
    assert sum("HTTP 429" in d for d in retries) == 1 and sum("HTTP 500" in d for d in retries) == 1, retries
    assert not [m for m in metrics if m.kind == "failover"]
    assert result.events == []


@pytest.mark.parametrize(
    "fault",
    [Fault.error(503), Fault.error(500), Fault.rate_limit(0.01), Fault.timeout(1.5), Fault.reset(), Fault.malformed()],
    ids=["503", "500", "429", "timeout", "reset", "malformed"],
)
async def test_a_failing_primary_fails_over_and_nothing_is_lost_or_duplicated(
    fault, fake_servers, write_config, sentinel_env
):
    servers = fake_servers("openrouter", "google")
    servers["openrouter"].always = fault
    write_config(
        gateway_yaml(
            servers, phases=phases("openrouter", ["google"]), max_retries=1, timeouts={"openrouter": 0.4, "google": 5.0}
        )
    )
    result, rows, metrics = await run()
    # every call went to openrouter twice (1 try + 1 retry), then to google once
    assert len(servers["openrouter"].generation_requests()) == 6 * 2
    assert len(servers["google"].generation_requests()) == 6
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6
    assert {(r["provider"], r["model"]) for r in rows} == {("google", "gemini-2.5-flash-lite")}
    assert all(p.provider == "google" for p in result.prompts)
    failovers = [m for m in metrics if m.kind == "failover"]
    assert len(failovers) == 6 and all(m.detail.startswith("openrouter -> google") for m in failovers)
    assert {m.phase for m in failovers} == set(ALL)
    assert len(result.events) == 6 and all("failed over to google" in e for e in result.events)
    # lineage is intact across providers: each variant's chain links its own phases
    finals = result.final_prompts()
    by_id = {p.id: p for p in result.prompts}
    for final in finals:
        parent = by_id[final.parent_id]
        assert parent.phase is Phase.SOLUTIO and parent.variant == final.variant


async def test_a_retry_after_longer_than_the_backoff_cap_fails_over_at_once(fake_servers, write_config, sentinel_env):
    servers = fake_servers("anthropic", "ollama")
    servers["anthropic"].always = Fault.rate_limit(60)
    write_config(gateway_yaml(servers, phases=phases("anthropic", ["ollama"]), backoff_max=1.0))
    result, rows, _ = await run(count=1)
    assert len(servers["anthropic"].generation_requests()) == 3  # one attempt per phase, no waiting 60 s
    assert {r["provider"] for r in rows} == {"ollama"}
    assert "retry after 60s" in result.events[0]


async def test_a_401_fails_fast_names_the_provider_and_fix_and_saves_nothing(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", "anthropic")
    servers["openai"].always = Fault.unauthorized()
    write_config(gateway_yaml(servers, phases=phases("openai", ["anthropic"])))
    with pytest.raises(GenerationError) as info:
        await run()
    message = str(info.value)
    assert "openai" in message and "authentication failed" in message and "OPENAI_API_KEY" in message
    assert sentinel_env["openai"] not in message
    assert len(servers["openai"].generation_requests()) <= 2  # one per concurrently started variant: no retries
    assert servers["anthropic"].generation_requests() == []  # no failover past an auth error
    service = AlchemyService.from_environment()
    try:
        assert service.store.count_prompts() == 0
    finally:
        await service.aclose()


async def test_when_every_provider_fails_the_last_error_is_reported_and_nothing_saved(
    fake_servers, write_config, sentinel_env
):
    servers = fake_servers("openai", "anthropic")
    servers["openai"].always = Fault.error(503)
    servers["anthropic"].always = Fault.error(529)
    write_config(gateway_yaml(servers, phases=phases("openai", ["anthropic"]), max_retries=0))
    with pytest.raises(GenerationError) as info:
        await run(count=1)
    assert "anthropic" in str(info.value) and "529" in str(info.value)
    service = AlchemyService.from_environment()
    try:
        assert service.store.count_prompts() == 0
    finally:
        await service.aclose()


async def test_each_prompt_records_the_model_that_answered_and_its_cost(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", "anthropic", "google")
    write_config(
        gateway_yaml(
            servers,
            phases={"prima-materia": ("openai", []), "solutio": ("anthropic", []), "coagulatio": ("google", [])},
        )
    )
    result, rows, metrics = await run(count=1)
    got = {r["phase"]: (r["provider"], r["model"]) for r in rows}
    assert got == {
        "prima-materia": ("openai", "gpt-4o-mini"),
        "solutio": ("anthropic", "claude-haiku-4-5"),
        "coagulatio": ("google", "gemini-2.5-flash-lite"),
    }
    prices = {"openai": (0.15, 0.6), "anthropic": (1.0, 5.0), "google": (0.1, 0.4)}
    for prompt in result.prompts:
        p_in, p_out = prices[prompt.provider]
        assert prompt.cost_usd == pytest.approx((prompt.input_tokens * p_in + prompt.output_tokens * p_out) / 1e6)
        assert prompt.cost_usd > 0
    assert result.total_cost == pytest.approx(sum(r["cost_usd"] for r in rows))
    generation_metrics = [m for m in metrics if m.kind == "generation"]
    assert sum(m.cost_usd for m in generation_metrics) == pytest.approx(result.total_cost)


async def test_registry_call_is_one_provider_through_the_gateway(fake_servers, write_config, sentinel_env):
    from prompt_alchemy.providers.base import GenerationRequest, Message

    servers = fake_servers("openai")
    servers["openai"].fail(Fault.error(502))
    write_config(gateway_yaml(servers))
    service = AlchemyService.from_environment()
    request = GenerationRequest(messages=[Message("user", "judge this prompt")], temperature=0.0, max_tokens=50)
    try:
        first = await service.registry.call("openai", request, phase="judge")
        second = await service.registry.call("openai", request, phase="judge")
    finally:
        await service.aclose()
    assert first.response.model == "gpt-4o-mini" and first.response.cost_usd > 0
    assert [m.kind for m in first.metrics] == ["provider_error", "retry"]
    assert second.response.cached and second.response.text == first.response.text
    assert len(servers["openai"].generation_requests()) == 2  # the 502, its retry; the repeat was a cache hit


async def test_requests_per_minute_throttles_calls_beyond_the_burst(fake_servers, write_config, sentinel_env):
    import asyncio

    from prompt_alchemy.providers.base import GenerationRequest, Message

    servers = fake_servers("anthropic")
    write_config(gateway_yaml(servers, extra_providers={"anthropic": "requests_per_minute: 60"}, cache=False))
    service = AlchemyService.from_environment()
    requests = [GenerationRequest(messages=[Message("user", f"q{i}")], max_tokens=10) for i in range(12)]
    try:
        first = await service.registry.call("anthropic", requests[0])  # loads the SDK and the client
        outcomes = [first] + await asyncio.gather(*(service.registry.call("anthropic", r) for r in requests[1:]))
    finally:
        await service.aclose()
    throttled = [m for o in outcomes for m in o.metrics if m.kind == "throttle"]
    assert len(throttled) == 2  # 60/min allows bursts of 10; the 11th and 12th wait their turn
    assert all(m.latency_ms > 0 and m.provider == "anthropic" for m in throttled)
    assert len(servers["anthropic"].generation_requests()) == 12
