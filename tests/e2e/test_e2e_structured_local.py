"""End to end: the default command with the real embedded model on two ideas. It asserts the checks a usable
prompt passes (never the wording): every best prompt is addressed to a model, not the deliverable, not advice,
not repetitive, on the idea, without scaffolding, with role, task, rules or constraints and output format, and
with the idea's {variables}."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_alchemy.ranking.features import NON_PROMPT_CHECKS, variables

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "idea, model_asked",
    [
        ("write a cover letter for a junior data analyst job", False),  # the user's own words make the task
        ("summarize {transcript} into action items for {team}", False),
        ("a security review of our login endpoint", True),  # no verb of its own, none from its pattern
    ],
)
def test_default_generate_gives_a_usable_prompt(idea, model_asked, home):
    proc = subprocess.run(
        [str(SCRIPT), "generate", "--output", "json", idea],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["prompts"]) == 9
    specs = [p for p in data["prompts"] if p["phase"] == "prima-materia"]
    assert all("Field sources:" in p["content"] for p in specs)
    # the model restates the task only when the idea leads with no verb, once per idea; the variants share it
    assert sum(p["output_tokens"] > 0 for p in specs) == (1 if model_asked else 0)
    best = data["best"]
    score = data["scores"][best["id"]]
    components = {c["name"]: c for c in score["components"]}
    for name in NON_PROMPT_CHECKS:
        assert components[name]["value"] >= 0.5, (name, components[name]["reason"], best["content"])
    assert not score.get("rejected")
    text = best["content"]
    for section in ("ROLE:", "TASK:", "OUTPUT FORMAT:"):
        assert section in text
    assert re.search(r"^(RULES|CONSTRAINTS):$", text, re.M)  # the pattern's rules (or the idea's)
    assert re.search(r"^You are (a|an) ", text, re.M)
    assert variables(idea) <= variables(text)
    finals = [p["content"] for p in data["prompts"] if p["phase"] == "coagulatio"]
    assert len(set(finals)) == 3  # each variant's strategy changes the prompt
