"""`prompt-alchemy --help` stays fast: printing help imports none of the heavy libraries.

Heavy libraries (the local model stack, numpy, the provider SDKs, the database drivers, the server stack and
pydantic) are imported inside the functions that use them; a module-level import of any of them in the CLI's import
graph would show up here.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

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
