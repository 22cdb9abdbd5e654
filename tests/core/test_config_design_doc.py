"""The original design document's config.yaml (tests/data/design_config.yaml) loads: its key names are read as
today's keys, each with one note on stderr naming the current key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import run_cli

from prompt_alchemy.config import LEGACY_KEYS, load_settings, validate_config
from prompt_alchemy.errors import ConfigError

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "design_config.yaml"
KEYS = {
    "OPENAI_API_KEY": "sk-design-openai",
    "ANTHROPIC_API_KEY": "sk-ant-design",
    "GOOGLE_API_KEY": "AIza-design",
    "OPENROUTER_API_KEY": "sk-or-design",
}


def test_the_design_document_config_loads_with_its_key_names(home):
    s = load_settings(config_file=FIXTURE, env={"PROMPT_ALCHEMY_HOME": str(home), **KEYS}).settings
    assert s.generation.embedding_model == "text-embedding-3-small"
    assert s.generation.embedding_dimensions == 1536
    assert s.generation.default_count == 3 and s.generation.default_target_model == "claude-4-sonnet"
    # default_temperature and default_max_tokens reach every phase that does not set its own
    assert (s.phases.prima_materia.temperature, s.phases.solutio.temperature, s.phases.coagulatio.temperature) == (
        0.7,
        0.7,
        0.3,
    )
    assert [s.phases.prima_materia.max_tokens, s.phases.solutio.max_tokens, s.phases.coagulatio.max_tokens] == [
        2000,
        2000,
        2000,
    ]
    assert [s.phases.prima_materia.provider, s.phases.solutio.provider, s.phases.coagulatio.provider] == [
        "openai",
        "anthropic",
        "google",
    ]
    assert s.storage.backup_interval == "1d" and s.storage.max_backups == 7
    assert s.storage.database_path == str(Path("~/.prompt-alchemy/prompts.db").expanduser())
    assert s.providers.openai.api_key.get_secret_value() == "sk-design-openai"
    assert s.providers.openrouter.fallback_models == ["anthropic/claude-sonnet-4", "openai/gpt-4o-mini"]


def test_each_former_key_gives_one_note_naming_the_current_key(home):
    proc = run_cli("--config", str(FIXTURE), "config", "show", "--output", "json", env=KEYS)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    used = [
        "generation.default_embedding_model",
        "generation.default_embedding_dimensions",
        "generation.default_temperature",
        "generation.default_max_tokens",
        "storage.backup_enabled",
    ]
    assert len(notes) == len(used), proc.stderr
    for old in used:
        [note] = [n for n in notes if n.startswith(f"note: {old} ")]
        assert LEGACY_KEYS[old] in note and str(FIXTURE) in note
    data = json.loads(proc.stdout)
    assert data["config"]["generation"]["embedding_model"] == "text-embedding-3-small"
    assert data["sources"]["generation.embedding_model"] == f"file:{FIXTURE}"
    assert "default_embedding_model" not in data["config"]["generation"]
    for secret in KEYS.values():
        assert secret not in proc.stdout


def test_validation_accepts_the_former_names_and_explains_the_embedding_choice(home):
    problems = validate_config(FIXTURE, env={"PROMPT_ALCHEMY_HOME": str(home), **KEYS})
    # The design document embedded with OpenAI's model; today the embedder is chosen by embedding_provider.
    assert len(problems) == 1 and problems[0].startswith("generation.embedding_model:"), problems
    assert "generation.embedding_provider" in problems[0] and "unknown setting" not in problems[0]
    fixed = validate_config(
        FIXTURE,
        env={"PROMPT_ALCHEMY_HOME": str(home), **KEYS, "PROMPT_ALCHEMY_GENERATION__EMBEDDING_PROVIDER": "openai"},
    )
    assert fixed == []


def test_the_current_key_wins_over_its_former_name(home, write_config):
    path = write_config(
        "generation:\n  embedding_model: all-MiniLM-L6-v2\n"
        "  default_embedding_model: text-embedding-3-small\n"
        "phases:\n  solutio:\n    max_tokens: 500\n"
        "storage:\n  backup_enabled: true\n  backup_interval: 12h\n"
    )
    s = load_settings(env={"PROMPT_ALCHEMY_HOME": str(home), "PROMPT_ALCHEMY_GENERATION__DEFAULT_MAX_TOKENS": "900"})
    assert s.settings.generation.embedding_model == "all-MiniLM-L6-v2"
    assert s.settings.phases.solutio.max_tokens == 500 and s.settings.phases.coagulatio.max_tokens == 900
    assert s.settings.storage.backup_interval == "12h"
    assert path.exists()


@pytest.mark.parametrize("value, expected", [("false", None), ("true", "1d")])
def test_backup_enabled_from_the_environment(home, value, expected):
    s = load_settings(env={"PROMPT_ALCHEMY_HOME": str(home), "PROMPT_ALCHEMY_STORAGE__BACKUP_ENABLED": value})
    assert s.settings.storage.backup_interval == expected


def test_backup_enabled_must_be_a_boolean(home, write_config):
    write_config("storage:\n  backup_enabled: weekly\n")
    with pytest.raises(ConfigError, match="storage.backup_enabled .* must be true or false"):
        load_settings(env={"PROMPT_ALCHEMY_HOME": str(home)})
    proc = run_cli("config", "validate")
    assert proc.returncode == 2 and "must be true or false" in proc.stdout
