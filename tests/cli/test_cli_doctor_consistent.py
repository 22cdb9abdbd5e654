"""`doctor` never contradicts itself: with the local model failing and no other provider, the providers line says
that nothing can generate (never "every phase runs on the embedded local model")."""

from __future__ import annotations

import json

from prompt_alchemy.selfcheck import Check, consistent


def test_a_failing_local_model_and_no_provider_is_said_once_and_consistently(cli, home, write_config):
    model = home / "model.gguf"
    model.write_bytes(b"not a gguf file")
    write_config(f"providers:\n  local:\n    model_path: {model}\n")
    proc = cli("doctor", "-o", "json")
    assert proc.returncode == 1
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["local model"]["status"] == "fail"
    assert checks["providers"]["status"] == "warn" and "nothing can generate" in checks["providers"]["detail"]
    text = cli("doctor")
    assert "every phase runs on the embedded local model" not in text.stdout
    assert "keys set openai" in text.stdout


def test_a_working_local_model_keeps_the_reassuring_line():
    alone = [
        Check(
            "providers", "ok", "no cloud provider or Ollama configured: every phase runs on the embedded " "local model"
        )
    ]
    assert consistent(alone, Check("local model", "ok", "loads and generates")) == alone
    remote = [Check("provider openai", "ok", "key accepted")]
    assert consistent(remote, Check("local model", "fail", "broken")) == remote
