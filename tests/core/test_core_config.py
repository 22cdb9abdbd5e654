"""Configuration: precedence, provenance, interpolation, validation, init/show/validate."""

from __future__ import annotations

import json
import os
import stat

import pytest

from prompt_alchemy.config import load_settings, validate_config
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.models import Phase


def test_defaults_without_file(home):
    loaded = load_settings()
    s = loaded.settings
    assert s.phases.get(Phase.PRIMA_MATERIA).temperature == 0.8
    assert s.phases.get(Phase.SOLUTIO).max_tokens == 2000
    assert s.phases.get(Phase.COAGULATIO).temperature == 0.4
    assert s.generation.default_count == 3
    assert loaded.database_path == home / "prompts.db"
    assert loaded.paths.config_file == home / "config.yaml"
    assert loaded.sources == {}


def test_precedence_file_env_flag(write_config, monkeypatch):
    write_config("generation:\n  default_count: 2\n  use_parallel: false\nphases:\n  solutio:\n    temperature: 0.5\n")
    monkeypatch.setenv("PROMPT_ALCHEMY_GENERATION__DEFAULT_COUNT", "4")
    loaded = load_settings(overrides={"phases.solutio.temperature": 1.1})
    s = loaded.settings
    assert s.generation.default_count == 4  # env beats file
    assert s.generation.use_parallel is False  # file beats default
    assert s.phases.solutio.temperature == 1.1  # flag beats file
    assert loaded.sources["generation.default_count"] == "env:PROMPT_ALCHEMY_GENERATION__DEFAULT_COUNT"
    assert loaded.sources["generation.use_parallel"].startswith("file:")
    assert loaded.sources["phases.solutio.temperature"] == "flag"


def test_env_hyphenated_phase_and_json_list(monkeypatch):
    monkeypatch.setenv("PROMPT_ALCHEMY_PHASES__PRIMA_MATERIA__FALLBACKS", '["local", "scripted"]')
    monkeypatch.setenv("PROMPT_ALCHEMY_PHASES__SOLUTIO__PROVIDER", "ollama")
    s = load_settings().settings
    assert s.phases.prima_materia.fallbacks == ["local", "scripted"]
    assert s.phases.solutio.provider == "ollama"


def test_interpolation_tilde_and_phase_aliases(write_config, monkeypatch, home):
    monkeypatch.setenv("MY_DB_DIR", str(home / "dbs"))
    monkeypatch.setenv("OPENAI_SENTINEL", "sk-sentinel-interp-0123456789abcdef")
    write_config(
        "storage:\n  database_path: ${MY_DB_DIR}/lib.db\nproviders:\n  openai:\n    api_key: ${OPENAI_SENTINEL}\n"
        "  local:\n    model_path: ~/models/x.gguf\n  ollama:\n    host: ${NOPE_UNSET:-http://127.0.0.1:11434}\n"
        "phases:\n  idea:\n    max_tokens: 77\n  precision:\n    model: m1\n"
    )
    loaded = load_settings()
    s = loaded.settings
    assert loaded.database_path == home / "dbs" / "lib.db"
    assert s.providers.openai.api_key.get_secret_value() == "sk-sentinel-interp-0123456789abcdef"
    assert s.providers.local.model_path == os.path.expanduser("~/models/x.gguf")
    assert s.providers.ollama.host == "http://127.0.0.1:11434"
    assert s.phases.prima_materia.max_tokens == 77
    assert s.phases.coagulatio.model == "m1"


def test_standard_key_variables(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key-123456")
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    loaded = load_settings()
    assert loaded.settings.providers.google.api_key.get_secret_value() == "gem-key-123456"
    assert loaded.sources["providers.google.api_key"] == "env:GEMINI_API_KEY"
    assert loaded.settings.providers.ollama.host == "http://127.0.0.1:9"


def test_malformed_yaml_is_config_error(write_config):
    write_config("phases: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings()


def test_invalid_values_raise_with_every_problem(write_config):
    write_config("providers:\n  openia: {}\nphases:\n  solutio:\n    temperature: 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "providers.openia" in text and "unknown provider" in text
    assert "phases.solutio.temperature" in text


def test_validate_reports_every_problem(write_config):
    write_config(
        "phases:\n  prima-materia:\n    provider: openai\n    fallbacks: [nosuch]\n"
        "  coagulatio:\n    temperature: 2.5\n"
    )
    problems = validate_config()
    joined = "\n".join(problems)
    assert "phases.coagulatio.temperature" in joined  # a schema error ...
    assert "unknown provider 'nosuch'" in joined  # ... does not hide the other problems
    assert "provider 'openai' has no API key" in joined
    assert len(problems) == 3
    write_config(
        "phases:\n  prima-materia:\n    provider: openai\n    fallbacks: [nosuch]\n"
        "generation:\n  default_persona: pirate\n"
    )
    problems = validate_config()
    joined = "\n".join(problems)
    assert "provider 'openai' has no API key" in joined and "OPENAI_API_KEY" in joined
    assert "unknown provider 'nosuch'" in joined
    assert "unknown persona 'pirate'" in joined
    assert len(problems) == 3


def test_cli_config_init_show_validate(cli, home, monkeypatch):
    sentinel = "sk-SENTINEL-show-0123456789abcdefXYZ"
    proc = cli("config", "init")
    assert proc.returncode == 0, proc.stderr
    path = home / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "${OPENAI_API_KEY}" in path.read_text()
    again = cli("config", "init")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert cli("config", "validate").returncode == 0

    shown = cli("config", "show", "--output", "json", env={"OPENAI_API_KEY": sentinel})
    assert shown.returncode == 0, shown.stderr
    assert sentinel not in shown.stdout and sentinel not in shown.stderr
    data = json.loads(shown.stdout)
    assert data["config"]["providers"]["openai"]["api_key"] == "****"
    assert data["sources"]["providers.openai.api_key"] == "env:OPENAI_API_KEY"
    assert data["sources"]["generation.default_count"].startswith("file:")
    text = cli("config", "show", env={"OPENAI_API_KEY": sentinel})
    assert text.returncode == 0 and sentinel not in text.stdout and "default_count" in text.stdout


def test_cli_validate_exit_2_on_problems(cli, write_config):
    write_config("phases:\n  solutio:\n    provider: anthropic\n")
    proc = cli("config", "validate", "--output", "json")
    assert proc.returncode == 2
    data = json.loads(proc.stdout)
    assert data["valid"] is False and any("ANTHROPIC_API_KEY" in p for p in data["problems"])


def test_malformed_config_blocks_generate(cli, write_config, home):
    write_config("generation: [1, 2\n")
    proc = cli("generate", "--provider", "scripted", "an idea")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error:")
    assert not (home / "prompts.db").exists()


def test_partial_phase_config_keeps_phase_defaults(write_config):
    write_config("phases:\n  prima-materia:\n    provider: local\n  coagulatio:\n    max_tokens: 50\n")
    s = load_settings().settings
    assert (s.phases.prima_materia.temperature, s.phases.prima_materia.max_tokens) == (0.8, 1500)
    assert (s.phases.coagulatio.temperature, s.phases.coagulatio.max_tokens) == (0.4, 50)
