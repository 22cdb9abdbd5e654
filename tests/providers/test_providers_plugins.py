"""Providers describe themselves, and third-party ones load as plugins.

The plugin tests build a real (tiny) distribution in a temporary folder: a package plus a ``*.dist-info`` with
METADATA and entry_points.txt, put on PYTHONPATH for a real `prompt-alchemy` process, which finds it through
importlib.metadata exactly as it would find an installed one.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from testkit import parse_json, run_cli

PLUGIN_PROVIDER = '''
from prompt_alchemy.providers.base import BaseProvider, GenerationRequest, GenerationResponse


class EchoProvider(BaseProvider):
    """Answers every request with a fixed prompt built from the request's last message."""

    name = "echo"

    async def generate(self, request: GenerationRequest) -> GenerationResponse:
        last = request.non_system[-1].content if request.non_system else ""
        text = (f"You are a careful editor. Rewrite the text below so that it is clear and complete.\\n"
                f"Keep every requirement. Answer with the rewritten text only.\\n"
                f"echo-marker {self.config.model or self.default_model()} {len(last)}")
        return GenerationResponse(text=text, provider=self.name, model=request.model or self.default_model(),
                                  input_tokens=1000, output_tokens=500, finish_reason="stop")
'''

PLUGIN_INIT = """
from prompt_alchemy.providers.base import ProviderInfo

# The description only: the implementation module is imported when the provider is first used.
INFO = ProviderInfo(name="echo", implementation="pa_echo.provider:EchoProvider", kind="local",
                    default_model="echo-1", prices={"echo-1": (2.0, 4.0), "echo-large": (10.0, 20.0)})
"""


def make_distribution(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
    """Write `modules` (relative path -> source) and `<dist>-0.1.dist-info` registering `entry_points`
    (name -> "module:attr") under prompt_alchemy.providers; return the folder to put on PYTHONPATH."""
    for rel, source in modules.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[prompt_alchemy.providers]\n{lines}", encoding="utf-8")
    return root


def warnings_about_plugins(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "provider plugin" in line]


@pytest.fixture
def echo_plugin(tmp_path) -> dict[str, str]:
    root = make_distribution(
        tmp_path / "site",
        "pa_echo",
        {"pa_echo/__init__.py": PLUGIN_INIT, "pa_echo/provider.py": PLUGIN_PROVIDER},
        {"echo": "pa_echo:INFO"},
    )
    return {"PYTHONPATH": str(root)}


def test_a_plugin_provider_generates_and_is_stored(echo_plugin, write_config):
    # configured under providers.<name> like a built-in provider
    write_config("providers:\n  echo:\n    model: echo-large\n    max_retries: 0\n")
    proc = run_cli(
        "generate",
        "--provider",
        "echo",
        "--phases",
        "coagulatio",
        "--count",
        "1",
        "--output",
        "json",
        "a tool that renames photos by the date they were taken",
        env=echo_plugin,
    )
    result = parse_json(proc)
    assert warnings_about_plugins(proc.stderr) == []
    [prompt] = result["prompts"]
    assert prompt["provider"] == "echo" and prompt["model"] == "echo-large"
    assert "echo-marker echo-large" in prompt["content"]
    assert prompt["cost_usd"] == pytest.approx((1000 * 10.0 + 500 * 20.0) / 1e6)  # the plugin's declared price

    stored = parse_json(run_cli("show", prompt["id"], "--output", "json", env=echo_plugin))["prompt"]
    assert stored["id"] == prompt["id"] and stored["provider"] == "echo" and stored["model"] == "echo-large"

    # chosen per phase in config, and listed by `providers` beside the built-in ones
    write_config("phases:\n  coagulatio:\n    provider: echo\n    fallbacks: []\n")
    again = parse_json(
        run_cli(
            "generate",
            "--phases",
            "coagulatio",
            "-n",
            "1",
            "--no-save",
            "--output",
            "json",
            "a haiku about tides",
            env=echo_plugin,
        )
    )
    assert [p["provider"] for p in again["prompts"]] == ["echo"]
    assert again["prompts"][0]["model"] == "echo-1"
    rows = {r["name"]: r for r in parse_json(run_cli("providers", "--output", "json", env=echo_plugin))}
    assert {"openai", "anthropic", "google", "openrouter", "ollama", "local", "echo"} <= set(rows)
    assert rows["echo"]["available"] is True and rows["echo"]["default_model"] == "echo-1"
    assert rows["echo"]["phases"] == {"coagulatio": {"role": "primary", "model": "echo-1"}}
    assert rows["echo"]["price_per_million"] == {"input": 2.0, "output": 4.0}


def test_plugin_settings_are_validated_like_built_in_ones(echo_plugin, write_config):
    write_config("providers:\n  echo:\n    timeout: -1\n")
    proc = run_cli("config", "validate", env=echo_plugin)
    assert proc.returncode != 0
    assert "providers.echo.timeout" in proc.stdout + proc.stderr


def test_broken_plugins_warn_once_each_and_change_nothing_else(tmp_path):
    root = make_distribution(
        tmp_path / "site",
        "pa_broken",
        {
            "pa_broken/__init__.py": "",
            "pa_broken/explodes.py": "raise RuntimeError('the plugin failed to import')\n",
            "pa_broken/wrong.py": "INFO = {'name': 'wrong'}\n",
            "pa_broken/dup.py": (
                "from prompt_alchemy.providers.base import ProviderInfo\n"
                "INFO = ProviderInfo(name='openai', implementation='pa_broken.dup:X', "
                "default_model='m')\n"
            ),
        },
        {"explodes": "pa_broken.explodes:INFO", "wrong": "pa_broken.wrong:INFO", "dup": "pa_broken.dup:INFO"},
    )
    env = {"PYTHONPATH": str(root)}
    baseline = parse_json(run_cli("providers", "--output", "json"))

    proc = run_cli("providers", "--output", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == baseline  # the built-in providers, exactly as without the plugins
    lines = warnings_about_plugins(proc.stderr)
    assert len(lines) == 3, proc.stderr
    for name, why in (
        ("explodes", "the plugin failed to import"),
        ("wrong", "not a"),
        ("dup", "'openai' is already taken by a built-in provider"),
    ):
        [line] = [x for x in lines if f"'{name}'" in x]
        assert why in line and "pa_broken" in line
    assert len(proc.stderr.strip().splitlines()) == 3  # nothing else went to stderr

    gen = run_cli(
        "generate",
        "--provider",
        "scripted",
        "--phases",
        "coagulatio",
        "-n",
        "1",
        "--no-save",
        "--output",
        "json",
        "a tool that renames photos",
        env=env,
    )
    assert parse_json(gen)["prompts"][0]["provider"] == "scripted"
    assert len(warnings_about_plugins(gen.stderr)) == 3
    assert warnings_about_plugins(run_cli("--help", env=env).stderr) == []  # plugins load on first need only


def test_provider_tables_derive_from_the_descriptions():
    """One description per provider is the only place a provider is declared: config's tables, the settings
    sections and the registry's implementations all come from it."""
    from prompt_alchemy import config
    from prompt_alchemy.models import Phase
    from prompt_alchemy.providers import catalog, registry

    infos = catalog.all_providers()
    builtin = [info.name for info in catalog.builtin_providers()]
    assert builtin == ["openai", "anthropic", "google", "openrouter", "ollama", "local", "scripted"]
    assert config.PROVIDER_NAMES == tuple(infos) and config.PROVIDER_NAMES[: len(builtin)] == tuple(builtin)
    assert {n: config.KEY_ENV_VARS[n] for n in builtin if n in config.KEY_ENV_VARS} == {
        "openai": ("OPENAI_API_KEY",),
        "anthropic": ("ANTHROPIC_API_KEY",),
        "google": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        "openrouter": ("OPENROUTER_API_KEY",),
    }
    assert config.HOST_ENV_VARS["ollama"] == ("OLLAMA_HOST",)
    assert config.CLOUD_PROVIDERS[:4] == ("openai", "anthropic", "google", "openrouter")
    assert set(config.KEYED_PROVIDERS) >= {"openai", "anthropic", "google", "openrouter", "ollama"}
    assert not {"local", "scripted"} & set(config.KEYED_PROVIDERS)
    assert config.PREFERRED_PROVIDER == {
        Phase.PRIMA_MATERIA: "openai",
        Phase.SOLUTIO: "anthropic",
        Phase.COAGULATIO: "google",
    }
    assert config.DEFAULT_MODELS == {n: i.default_model for n, i in infos.items()}
    assert config.DEFAULT_EMBEDDING_MODELS["local"] == ("all-MiniLM-L6-v2", 384)
    assert registry.IMPLEMENTATIONS == {n: i.implementation for n, i in infos.items()}
    assert registry.EXPLICIT_ONLY == {"scripted"}

    settings = config.Settings()
    for name, info in infos.items():
        section = settings.providers.get(name)
        assert type(section) is info.config_model and getattr(settings.providers, name) is section
    assert type(settings.providers.local) is config.LocalProviderConfig
    # each description's key variables feed the environment layer
    for name, variables in config.KEY_ENV_VARS.items():
        for var in variables:
            data, origin = config.env_layer({var: "sk-from-" + var})
            assert data["providers"][name]["api_key"] == "sk-from-" + var
            assert origin[f"providers.{name}.api_key"] == f"env:{var}"


def test_descriptions_load_no_sdk():
    """The catalogue, the derived tables and a validated Settings import no provider module and no SDK."""
    code = (
        "import sys; from prompt_alchemy import config; config.PROVIDER_NAMES; config.Settings(); "
        "from prompt_alchemy.providers.registry import IMPLEMENTATIONS; "
        "mods = ('openai', 'anthropic', 'google.genai', 'ollama', 'llama_cpp', 'prompt_alchemy.providers.openai',"
        " 'prompt_alchemy.providers.local'); print([m for m in mods if m in sys.modules])"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_description_is_checked_when_declared():
    from prompt_alchemy.providers.base import ProviderInfo

    ok = ProviderInfo(name="mine", implementation="pkg.mod:Cls", default_model="m", preferred_phases=("idea",))
    assert ok.preferred_phases[0].value == "prima-materia" and ok.embedding is None and not ok.needs_key
    for bad, why in (
        (dict(name="My-Provider"), "lowercase"),
        (dict(name="get"), "reserved"),
        (dict(implementation="pkg.mod"), "package.module:Class"),
        (dict(kind="orbital"), "kind"),
        (dict(embedding_model="e"), "go together"),
        (dict(preferred_phases=("nope",)), "unknown phase"),
    ):
        with pytest.raises(ValueError, match=why):
            ProviderInfo(**{"name": "mine", "implementation": "pkg.mod:Cls", "default_model": "m", **bad})


def test_a_plugin_whose_implementation_is_missing_is_only_unavailable(tmp_path):
    root = make_distribution(
        tmp_path / "site",
        "pa_half",
        {
            "pa_half.py": (
                "from prompt_alchemy.providers.base import ProviderInfo\n"
                "INFO = ProviderInfo(name='half', implementation='pa_half_missing.impl:Half', default_model='h1')\n"
            )
        },
        {"half": "pa_half:INFO"},
    )
    env = {"PYTHONPATH": str(root)}
    proc = run_cli("providers", "--output", "json", env=env)
    rows = {r["name"]: r for r in parse_json(proc)}
    assert rows["half"]["available"] is False and "could not be loaded" in rows["half"]["reason"]
    assert rows["local"]["available"] is True
    assert len([x for x in proc.stderr.splitlines() if "'half'" in x]) == 1

    gen = run_cli("generate", "--provider", "half", "--phases", "coagulatio", "-n", "1", "a haiku", env=env)
    assert gen.returncode == 2 and "Traceback" not in gen.stderr
    assert "half" in gen.stderr and "could not be loaded" in gen.stderr
    ok = run_cli(
        "generate",
        "--provider",
        "scripted",
        "--phases",
        "coagulatio",
        "-n",
        "1",
        "--no-save",
        "--output",
        "json",
        "a haiku",
        env=env,
    )
    assert parse_json(ok)["prompts"][0]["provider"] == "scripted"
