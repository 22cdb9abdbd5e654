"""The generate request's fields: what each one means and its limits, declared once.

`models.PromptRequest` builds its fields from `REQUEST_FIELDS` (types and defaults there, descriptions and limits
here), and every interface derives from that model: the REST body, the MCP tool's arguments, the CLI options' help.
This module imports nothing but the standard library, so the CLI reads the help texts without loading pydantic
(`prompt-alchemy --help` stays fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The longest idea any interface takes; `generation.max_idea_length` (20,000 by default) is usually lower.
MAX_IDEA_CHARS = 1_000_000
#: The longest single context item (all of them together are bounded by `generation.max_context_chars`).
MAX_CONTEXT_ITEM_CHARS = 8 << 20

_LIMIT_NAMES = ("ge", "le", "gt", "min_length", "max_length")


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class FieldSpec:
    """A request field's description and limits, as pydantic `Field` keywords."""

    description: str
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    min_length: int | None = None
    max_length: int | None = None

    def limits(self) -> dict[str, Any]:
        """The limits that are set, by their `Field` keyword."""
        return {name: value for name in _LIMIT_NAMES if (value := getattr(self, name)) is not None}

    def limits_text(self) -> str:
        """The limits in words ('1 to 10', 'more than 0', 'at most 200 characters'); '' without limits."""
        parts = []
        if self.ge is not None and self.le is not None:
            parts.append(f"{_num(self.ge)} to {_num(self.le)}")
        elif self.ge is not None:
            parts.append(f"at least {_num(self.ge)}")
        elif self.le is not None:
            parts.append(f"at most {_num(self.le)}")
        if self.gt is not None:
            parts.append(f"more than {_num(self.gt)}")
        if self.max_length is not None:
            parts.append(f"at most {self.max_length:,} characters")
        return ", ".join(parts)

    def help(self) -> str:
        """The description followed by the limits, as the CLI shows it."""
        limits = self.limits_text()
        return f"{self.description} Allowed: {limits}." if limits else self.description


REQUEST_FIELDS: dict[str, FieldSpec] = {
    "idea": FieldSpec(
        "The raw idea to turn into prompts (at most generation.max_idea_length characters).",
        min_length=1,
        max_length=MAX_IDEA_CHARS,
    ),
    "phases": FieldSpec(
        "Phases to run, in order: prima-materia (idea), solutio (human), coagulatio (precision); " "default: all three."
    ),
    "count": FieldSpec("Variants per phase (default: generation.default_count).", ge=1, le=10),
    "persona": FieldSpec(
        "code, writing, analysis, generic, or a custom persona from config " "(default: generation.default_persona).",
        max_length=100,
    ),
    "target_model": FieldSpec(
        "The model the final prompt is for, e.g. claude-sonnet-4 or gpt-4o "
        "(default: generation.default_target_model).",
        max_length=200,
    ),
    "provider": FieldSpec(
        "Use this provider for every phase (default: each phase's configured provider).", max_length=100
    ),
    "temperature": FieldSpec("Temperature for every phase.", ge=0.0, le=2.0),
    "max_tokens": FieldSpec("Max tokens per call for every phase.", ge=1, le=200_000),
    "tags": FieldSpec("Tags to store with the prompts."),
    "context": FieldSpec(
        "Extra material given to the phases, as text items (source, content); all of it at most "
        "generation.max_context_chars characters."
    ),
    "context_files": FieldSpec(
        "Files whose text is given to the phases. Read by the process that runs the "
        "request, so only local interfaces (the CLI, the Python API) offer it."
    ),
    "save": FieldSpec("Store the prompts in the library."),
    "judge": FieldSpec(
        "Add the AI judge's rubric scores to the ranking of the final prompts (uses a provider "
        "other than the generator's when one is available)."
    ),
    "use_cache": FieldSpec(
        "Answer from the response cache when the same call was made before (off: always call " "the providers)."
    ),
    "max_cost": FieldSpec(
        "Refuse a run whose estimated cost exceeds this many USD, and stop one that reaches it.", gt=0
    ),
}


def field_help(name: str) -> str:
    """The CLI help text of the request field `name`: its description and limits."""
    return REQUEST_FIELDS[name].help()
