"""Setup knobs are not settings: PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS and PROMPT_ALCHEMY_WHEEL_CACHE (read by setup and
`local install`) and the retired PROMPT_ALCHEMY_ADMIN_KEY never fail a command; a mistyped real setting still fails,
with a hint naming the nearest real one."""

from __future__ import annotations

import pytest

from prompt_alchemy.config import load_settings
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.localstack import SETUP_ENV

KNOBS = {
    "PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS": "-DGGML_NATIVE=OFF -DGGML_AVX2=OFF",
    "PROMPT_ALCHEMY_WHEEL_CACHE": "/tmp/wheels",
    "PROMPT_ALCHEMY_ADMIN_KEY": "s3cret-admin",
}


def test_the_knobs_the_installer_reads_are_the_ones_the_configuration_ignores():
    assert set(SETUP_ENV) <= set(KNOBS)


@pytest.mark.parametrize("var", sorted(KNOBS))
def test_a_setup_knob_loads(var, home):
    loaded = load_settings(env={"PROMPT_ALCHEMY_HOME": str(home), var: KNOBS[var]})
    assert loaded.settings.generation is not None


def test_commands_run_with_every_knob_set(cli):
    proc = cli("config", "validate", env=KNOBS)
    assert proc.returncode == 0, proc.stderr
    assert "unknown setting" not in proc.stdout + proc.stderr
    assert "s3cret-admin" not in proc.stdout + proc.stderr
    assert "PROMPT_ALCHEMY_ADMIN_KEY is not a setting" in proc.stderr  # says what to do instead, once
    assert proc.stderr.count("PROMPT_ALCHEMY_ADMIN_KEY") == 1


@pytest.mark.parametrize(
    "var,hint",
    [
        ("PROMPT_ALCHEMY_GENERATION__EMBEDING_PROVIDER", "generation.embedding_provider"),
        ("PROMPT_ALCHEMY_GENERATON__EMBEDDING_PROVIDER", "generation"),
        ("PROMPT_ALCHEMY_PROVIDERS__OPENAI__API_KYE", "providers.openai.api_key"),
        ("PROMPT_ALCHEMY_LLAMA_CMAKE_ARG", None),  # no real setting is near: unknown, no hint
    ],
)
def test_a_mistyped_setting_fails_with_the_nearest_real_one(var, hint, home):
    with pytest.raises(ConfigError) as err:
        load_settings(env={"PROMPT_ALCHEMY_HOME": str(home), var: "local"})
    message = str(err.value)
    assert "unknown setting" in message
    if hint:
        assert f"did you mean '{hint}'?" in message
    else:
        assert "did you mean" not in message


def test_a_mistyped_setting_in_the_file_gets_the_hint(cli, write_config):
    write_config("generation:\n  embeding_provider: local\n")
    proc = cli("config", "validate")
    assert proc.returncode == 2
    assert (
        "generation.embeding_provider: unknown setting; did you mean 'generation.embedding_provider'?"
        in proc.stdout + proc.stderr
    )
