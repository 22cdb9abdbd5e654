"""Deterministic prompt features, each a 0–1 score with a reason. Computed the same way everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROLE = re.compile(r"\b(you are|act as|as an? [a-z]+|your role|role:|<role>)", re.I)
_TASK = re.compile(r"\b(task|goal|objective|your job|write|create|build|generate|produce|explain|analy[sz]e|"
                   r"summari[sz]e|design|draft|review|list|describe)\b", re.I)
_CONSTRAINTS = re.compile(r"\b(must|should|never|always|do not|don't|avoid|at most|at least|no more than|limit|"
                          r"constraint|only|require)", re.I)
_FORMAT = re.compile(r"\b(output format|format|respond (?:with|in)|reply (?:with|in)|return|json|markdown|table|"
                     r"bullet|numbered|list|sections?|headings?|words|sentences|paragraphs?)\b", re.I)
_EXAMPLES = re.compile(r"\b(for example|e\.g\.|example|such as|input:|output:|<example>)", re.I)
_VAGUE = re.compile(r"\b(some|stuff|things?|etc|various|nice|good|maybe|somehow|kind of|sort of|whatever|"
                    r"appropriate|relevant|certain)\b", re.I)
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Feature:
    name: str
    value: float
    reason: str


def structure_features(text: str) -> list[Feature]:
    """The lint rubric checks that need nothing but the text."""
    words = re.findall(r"\w+", text)
    n_words = len(words)
    feats = [
        _check("has_role", bool(_ROLE.search(text)), "states a role or context for the model",
               "gives the model no role or context"),
        _check("states_task", bool(_TASK.search(text)), "states the task with an action verb",
               "no clear task verb"),
        _check("has_constraints", bool(_CONSTRAINTS.search(text)), "states constraints",
               "states no constraints"),
        _check("output_format", bool(_FORMAT.search(text)), "specifies the output format",
               "does not say what the answer should look like"),
    ]
    vague = len(_VAGUE.findall(text))
    density = vague / max(n_words, 1)
    feats.append(Feature("vague_words", max(0.0, 1.0 - density * 20),
                         f"{vague} vague word(s) in {n_words} words ({density:.1%})"))
    lines = [ln.strip().lower() for ln in text.splitlines() if len(ln.strip()) > 8]
    dupes = len(lines) - len(set(lines))
    feats.append(Feature("no_duplicate_lines", 1.0 if dupes == 0 else max(0.0, 1 - dupes / max(len(lines), 1) * 2),
                         "no repeated lines" if dupes == 0 else f"{dupes} repeated line(s)"))
    feats.append(length_feature(n_words))
    return feats


def length_feature(n_words: int) -> Feature:
    """Elaboration is not punished: anything from 40 to 1,200 words scores fully."""
    if n_words < 8:
        return Feature("length", 0.0, f"{n_words} words: too short to instruct a model")
    if n_words < 40:
        return Feature("length", n_words / 40, f"{n_words} words: terse; most prompts need 40+")
    if n_words <= 1200:
        return Feature("length", 1.0, f"{n_words} words: a workable length")
    return Feature("length", max(0.3, 1200 / n_words), f"{n_words} words: very long")


def intent_feature(similarity: float | None) -> Feature | None:
    if similarity is None:
        return None
    value = max(0.0, min(1.0, (similarity - 0.1) / 0.6))
    return Feature("intent", value, f"cosine similarity {similarity:.2f} to the original idea")


def _check(name: str, ok: bool, yes: str, no: str) -> Feature:
    return Feature(name, 1.0 if ok else 0.0, yes if ok else no)


def variables(text: str) -> set[str]:
    return set(_VARIABLE.findall(text))
