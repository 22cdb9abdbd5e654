"""The CLI over fake provider servers: tokens, cost and failover notes in `generate` output, --max-cost, --no-cache,
and `prompt-alchemy providers [--check]`."""

from __future__ import annotations

import json
import sqlite3

from fake_llm_servers import Fault
from providers_testkit import fake_servers, gateway_yaml, sentinel_env  # noqa: F401  (fixtures)

ALL = ("prima-materia", "solutio", "coagulatio")


def parse_json(proc):
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def prompt_count(home) -> int:
    db = home / "prompts.db"
    if not db.exists():
        return 0
    return sqlite3.connect(db).execute("SELECT COUNT(*) FROM prompts").fetchone()[0]


def test_text_output_shows_tokens_cost_and_failover(cli, home, fake_servers, write_config, sentinel_env):
    servers = fake_servers("openrouter", "openai")
    servers["openrouter"].always = Fault.error(503)
    write_config(gateway_yaml(servers, phases={p: ("openrouter", ["openai"]) for p in ALL}, max_retries=0))
    proc = cli("generate", "-n", "1", "an onboarding checklist for new engineers")
    assert proc.returncode == 0, proc.stderr
    out, err = proc.stdout, proc.stderr
    assert "openai/gpt-4o-mini" not in out and "note:" not in out and " tokens (" not in out  # the prompt alone
    assert err.count("note: ") == 3 and "openrouter failed (provider 'openrouter': server error (HTTP 503)" in err
    assert "failed over to openai" in err and "failover in" not in err  # each note once, not also as a log line
    summary = [line for line in err.splitlines() if " tokens (" in line]
    assert len(summary) == 1 and " in, " in summary[0] and "$0.00" in summary[0]
    assert prompt_count(home) == 3
    every = cli("generate", "-n", "1", "--all", "--no-save", "an onboarding checklist for new engineers")
    assert every.returncode == 0 and "openai/gpt-4o-mini" in every.stdout


def test_json_output_carries_cost_and_events(cli, fake_servers, write_config, sentinel_env):
    servers = fake_servers("anthropic", "google")
    servers["anthropic"].fail(Fault.error(500), Fault.error(500), Fault.error(500))
    write_config(gateway_yaml(servers, phases={p: ("anthropic", ["google"]) for p in ALL}, max_retries=2))
    data = parse_json(cli("generate", "-n", "1", "--output", "json", "a travel planner"))
    assert data["total_cost_usd"] > 0
    assert data["total_tokens"] == sum(p["input_tokens"] + p["output_tokens"] for p in data["prompts"])
    assert len(data["events"]) == 1 and "failed over to google" in data["events"][0]
    assert [p["provider"] for p in data["prompts"]] == ["google", "anthropic", "anthropic"]


def test_max_cost_refuses_a_run_whose_estimate_exceeds_it(cli, home, fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai")
    write_config(gateway_yaml(servers, phases={p: ("openai", []) for p in ALL}))
    proc = cli("generate", "-n", "3", "--max-cost", "0.0001", "a travel planner")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: the estimated cost $") and "--max-cost" in proc.stderr
    assert proc.stdout == ""
    assert servers["openai"].requests == [] and prompt_count(home) == 0


def test_max_cost_stops_a_run_that_reaches_it(cli, home, fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", prompt_tokens=2_000_000)  # every call bills $0.30 of input at gpt-4o-mini
    write_config(gateway_yaml(servers, phases={p: ("openai", []) for p in ALL}))
    proc = cli("generate", "-n", "1", "--max-cost", "0.5", "a travel planner")
    assert proc.returncode == 1
    assert "reached --max-cost $0.5" in proc.stderr and "before coagulatio" in proc.stderr
    assert len(servers["openai"].generation_requests()) == 2
    assert prompt_count(home) == 0
    # the answers already paid for are cached: a rerun with a higher limit does not pay for them again
    proc = cli("generate", "-n", "1", "--max-cost", "1", "--output", "json", "a travel planner")
    data = parse_json(proc)
    assert len(servers["openai"].generation_requests()) == 3
    assert [p["cost_usd"] for p in data["prompts"]][:2] == [0.0, 0.0]


def test_invalid_max_cost_is_bad_input(cli, home):
    proc = cli("generate", "--provider", "scripted", "--max-cost", "-1", "an idea")
    assert proc.returncode == 2 and "max_cost" in proc.stderr
    assert prompt_count(home) == 0


def test_no_cache_flag(cli, fake_servers, write_config, sentinel_env):
    servers = fake_servers("ollama")
    write_config(gateway_yaml(servers, phases={p: ("ollama", []) for p in ALL}))
    for args in ([], [], ["--no-cache"]):
        assert cli("generate", "-n", "1", "--phases", "idea", *args, "an idea").returncode == 0
    assert len(servers["ollama"].generation_requests()) == 2


def test_providers_command_lists_status_models_and_embeddings(cli, fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai", "ollama")
    write_config(gateway_yaml(servers, phases={"prima-materia": ("openai", ["ollama"])}))
    data = parse_json(cli("providers", "--output", "json"))
    rows = {r["name"]: r for r in data}
    assert set(rows) == {"openai", "anthropic", "google", "openrouter", "ollama", "local"}
    assert rows["openai"]["configured"] and rows["openai"]["available"]
    assert rows["openai"]["phases"]["prima-materia"] == {"role": "primary", "model": "gpt-4o-mini"}
    assert rows["ollama"]["phases"]["prima-materia"]["role"] == "fallback"
    assert rows["ollama"]["endpoint"] == servers["ollama"].url
    assert rows["openai"]["embedding_model"] == "text-embedding-3-small"
    assert rows["anthropic"]["embeddings"] is False
    assert rows["local"]["embedder"] is True
    assert rows["openai"]["price_per_million"] == {"input": 0.15, "output": 0.6}
    assert "check" not in rows["openai"]
    text = cli("providers")
    assert text.returncode == 0 and "gpt-4o-mini" in text.stdout and "available" in text.stdout


def test_providers_check_contacts_configured_providers(cli, fake_servers, write_config, sentinel_env, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY")  # no fake for it here; an unconfigured provider is not contacted
    servers = fake_servers("openai", "anthropic", "google", "ollama")
    write_config(gateway_yaml(servers))
    data = parse_json(cli("providers", "--check", "--output", "json"))
    rows = {r["name"]: r for r in data}
    for name in ("openai", "anthropic", "google", "ollama", "local"):
        assert rows[name]["check"]["ok"] is True, rows[name]
    assert rows["openrouter"]["configured"] is False and rows["openrouter"]["check"] is None
    assert any(r.method == "GET" for r in servers["anthropic"].requests)

    servers["anthropic"].always = Fault.unauthorized()
    proc = cli("providers", "--check", "--output", "json")
    assert proc.returncode == 1
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["anthropic"]["check"]["ok"] is False
    assert "authentication failed" in rows["anthropic"]["check"]["detail"]
    assert "anthropic" in proc.stderr
    for value in sentinel_env.values():
        assert value not in proc.stdout + proc.stderr
