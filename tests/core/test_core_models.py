from __future__ import annotations

import pytest
from pydantic import ValidationError

from prompt_alchemy.models import Phase, Prompt, PromptRequest, content_hash


@pytest.mark.parametrize(
    "name,phase",
    [
        ("idea", Phase.PRIMA_MATERIA),
        ("prima_materia", Phase.PRIMA_MATERIA),
        ("human", Phase.SOLUTIO),
        ("PRECISION", Phase.COAGULATIO),
    ],
)
def test_phase_aliases(name, phase):
    assert Phase.parse(name) is phase


def test_phase_list_order_and_errors():
    assert Phase.parse_list("idea,precision") == [Phase.PRIMA_MATERIA, Phase.COAGULATIO]
    with pytest.raises(ValueError, match="in order"):
        Phase.parse_list("coagulatio,solutio")
    with pytest.raises(ValueError, match="unknown phase 'fermentatio'"):
        Phase.parse_list("fermentatio")
    with pytest.raises(ValueError, match="twice"):
        Phase.parse_list("solutio,human")


def test_request_validation():
    assert PromptRequest(idea="  x  ").idea == "x"
    for bad in (
        {"idea": "   "},
        {"idea": "x", "count": 0},
        {"idea": "x", "count": 11},
        {"idea": "x", "temperature": 2.5},
        {"idea": "x", "phases": "nope"},
    ):
        with pytest.raises(ValidationError):
            PromptRequest(**bad)
    assert PromptRequest(idea="x", tags=["a", " a", "", "b"]).tags == ["a", "b"]


def test_prompt_defaults():
    p = Prompt(content="hello", input_tokens=3, output_tokens=4)
    assert p.content_hash == content_hash("hello") and p.actual_tokens == 7 and len(p.id) == 36
