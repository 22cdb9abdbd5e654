"""`prompt-alchemy --help` stays fast: printing help imports none of the heavy libraries and builds no command.

Heavy libraries (the local model stack, numpy, the provider SDKs, the database drivers, the server stack,
pydantic, rich and asyncio) are imported inside the functions that use them; a module-level import of any of them in
the CLI's import graph would show up here. The root help lists the commands from their help text: a subcommand's
options are read from its function only when that subcommand is run or its own help is shown, and the help printed
is the same as that of the tree Typer builds all at once.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest
import typer.main

from prompt_alchemy.cli import app, labels, main

HEAVY = (
    "llama_cpp",
    "onnxruntime",
    "tokenizers",
    "numpy",
    "openai",
    "anthropic",
    "google.genai",
    "ollama",
    "httpx",
    "psycopg",
    "psycopg_pool",
    "starlette",
    "uvicorn",
    "mcp",
    "prometheus_client",
    "opentelemetry",
    "pydantic",
    "yaml",
    "rich",  # Typer's rich help is off (rich_markup_mode=None); the commands' tables and progress bars import it
    "asyncio",  # run_with_service imports it when a command runs
)

# Runs the real entry point in a fresh interpreter and reports which of HEAVY were imported.
PROBE = """
import json, sys
from prompt_alchemy.cli import main
heavy = json.loads(sys.argv[2])
sys.argv = ["prompt-alchemy", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def _typer_loads_pydantic_for_commands() -> bool:
    """typer 0.29 validates a command's parameters with pydantic adapters, so it imports pydantic itself as soon as a
    subcommand (even its --help) is parsed; the top-level --help and --version are unaffected."""
    version = tuple(int(part) for part in importlib.metadata.version("typer").split(".")[:2])
    return version >= (0, 29)


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"], ["--version"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    typer_pydantic = argv[0] == "generate" and _typer_loads_pydantic_for_commands()
    heavy = [m for m in HEAVY if not (m == "pydantic" and typer_pydantic)]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(heavy)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout or argv == ["--version"], done.stdout
    imported = json.loads(done.stderr.strip().splitlines()[-1])
    assert imported == [], f"`prompt-alchemy {' '.join(argv)}` imported {imported}"


# Counts the subcommands Typer builds from their functions while `prompt-alchemy ARGS` runs.
BUILDS = """
import json, sys
import typer.main
built = []
for name in ("get_command_from_info", "get_group_from_info"):
    original = getattr(typer.main, name)
    def counting(*args, _original=original, **kwargs):
        command = _original(*args, **kwargs)
        built.append(command.name)
        return command
    setattr(typer.main, name, counting)
from prompt_alchemy.cli import main
try:
    main(json.loads(sys.argv[1]))
except SystemExit:
    pass
print(json.dumps(built), file=sys.stderr)
"""


def _built(argv: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", BUILDS, json.dumps(argv)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.splitlines()[0], done.stderr
    return [name or "prompt-alchemy" for name in json.loads(done.stderr.strip().splitlines()[-1])]


def test_help_builds_only_the_command_asked_for() -> None:
    assert _built(["--help"]) == ["prompt-alchemy"]  # the root group alone: the commands are listed, not built
    label = _built(["label", "--help"])  # the root, then the label group with its own subcommands, and no other
    assert label[0] == "prompt-alchemy" and label[-1] == "label", label
    assert len(label) == 2 + len(labels.app.registered_commands) and "generate" not in label, label


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"], ["label", "--help"], ["label", "set", "--help"]])
def test_help_matches_the_fully_built_tree(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    lazy = capsys.readouterr().out
    typer.main.get_command(app).main(args=argv, prog_name="prompt-alchemy", standalone_mode=False)
    eager = capsys.readouterr().out
    assert lazy == eager and "Usage: prompt-alchemy" in lazy
    if argv == ["--help"]:
        assert "generate" in lazy and "label" in lazy and "Show this message and exit." in lazy
