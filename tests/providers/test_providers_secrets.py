"""Sentinel keys: set every provider key to a distinctive value, exercise successes, retries, failovers, auth
failures and health checks through the real CLI (with --debug logs), and find the keys nowhere: not in stdout,
stderr, exception text, any database row (prompts, metrics, caches) or the config the tool shows."""

from __future__ import annotations

import sqlite3

import pytest
from fake_llm_servers import Fault
from providers_testkit import fake_servers, gateway_yaml, sentinel_env  # noqa: F401  (fixtures)

from prompt_alchemy.errors import GenerationError
from prompt_alchemy.services import AlchemyService

ALL = ("prima-materia", "solutio", "coagulatio")


def assert_no_sentinel(text: str, sentinels: dict[str, str], where: str) -> None:
    for name, value in sentinels.items():
        assert value not in text, f"{name} key leaked into {where}"
        assert value[-12:] not in text, f"part of the {name} key leaked into {where}"


def database_dump(home) -> str:
    db = sqlite3.connect(home / "prompts.db")
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


def test_sentinel_keys_appear_in_no_output_log_row_or_cache_entry(cli, home, fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", "anthropic", "google", "openrouter", "ollama")
    servers["openrouter"].fail(Fault.rate_limit(0.01), Fault.error(503), Fault.reset(), Fault.malformed())
    servers["anthropic"].always = Fault.error(529)
    config = gateway_yaml(
        servers,
        max_retries=1,
        phases={
            "prima-materia": ("openrouter", ["google"]),
            "solutio": ("anthropic", ["ollama"]),
            "coagulatio": ("openai", []),
        },
    )
    write_config(config.replace("  embedding_provider: local", "  embedding_provider: google"))
    outputs = []

    ok = cli("--debug", "generate", "-n", "2", "--output", "json", "a privacy-first note taking app")
    assert ok.returncode == 0, ok.stderr
    outputs.append(("generate", ok))
    assert "failover" in ok.stderr  # the debug log did record what happened

    servers["openai"].always = Fault.unauthorized()  # the server echoes the key it received in its 401 body
    failed = cli("--debug", "generate", "-n", "1", "--no-cache", "another idea")
    assert failed.returncode == 1 and "authentication failed" in failed.stderr
    outputs.append(("failed generate", failed))

    outputs.append(("providers --check", cli("--debug", "providers", "--check", "--output", "json")))
    outputs.append(("config show", cli("config", "show", "--output", "json")))

    for label, proc in outputs:
        assert_no_sentinel(proc.stdout, sentinel_env, f"{label} stdout")
        assert_no_sentinel(proc.stderr, sentinel_env, f"{label} stderr")
    dump = database_dump(home)
    assert 'INSERT INTO "response_cache"' in dump and 'INSERT INTO "embedding_cache"' in dump
    assert "failover" in dump and "provider_error" in dump
    assert_no_sentinel(dump, sentinel_env, "the database")
    assert_no_sentinel((home / "config.yaml").read_text(), sentinel_env, "the config file")
    # not vacuous: every provider really received its key over the wire
    for name, server in servers.items():
        if name == "ollama":
            continue
        sent = {
            r.headers.get("authorization", "") + r.headers.get("x-api-key", "") + r.headers.get("x-goog-api-key", "")
            for r in server.requests
        }
        assert any(sentinel_env[name] in s for s in sent), name


async def test_exception_text_never_carries_the_key(fake_servers, write_config, sentinel_env):
    servers = fake_servers("google")
    servers["google"].always = Fault.unauthorized()
    write_config(gateway_yaml(servers, phases={p: ("google", []) for p in ALL}))
    service = AlchemyService.from_environment()
    try:
        with pytest.raises(GenerationError) as info:
            await service.generate(service.build_request("an idea", count=1))
    finally:
        await service.aclose()
    error = info.value
    texts = [str(error), repr(error), str(error.cause), repr(error.cause)]
    assert "GOOGLE_API_KEY" in str(error)
    for text in texts:
        assert_no_sentinel(text, sentinel_env, "the exception")
    received = servers["google"].requests[0].headers["x-goog-api-key"]
    assert received == sentinel_env["google"]
