"""Built-in personas and custom personas from config. A persona changes the system prompts, adds guidance and
sets per-phase temperatures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompt_alchemy.errors import InputError
from prompt_alchemy.models import Persona

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings

BUILTIN_PERSONAS: dict[str, Persona] = {
    "generic": Persona(
        name="generic", description="General-purpose prompts for any task."),
    "code": Persona(
        name="code", description="Software engineering: code generation, review, debugging, tooling.",
        system_prompt="You specialize in prompts for software engineering tasks.",
        guidance="Make the prompt name the language and environment, the inputs and outputs, error handling, "
                 "edge cases and tests, and ask for code in fenced blocks.",
        temperatures={"prima-materia": 0.7, "solutio": 0.5, "coagulatio": 0.2}),
    "writing": Persona(
        name="writing", description="Writing and content: articles, newsletters, stories, copy.",
        system_prompt="You specialize in prompts for writing and content creation.",
        guidance="Make the prompt state the audience, tone and voice, length, structure of the piece and what "
                 "makes it engaging.",
        temperatures={"prima-materia": 0.9, "solutio": 0.8, "coagulatio": 0.5}),
    "analysis": Persona(
        name="analysis", description="Analysis and research: data, evidence, reasoning, reports.",
        system_prompt="You specialize in prompts for analysis and research tasks.",
        guidance="Make the prompt state the question, the data or sources, the method, the assumptions to "
                 "check, and a structured findings format with confidence levels.",
        temperatures={"prima-materia": 0.6, "solutio": 0.5, "coagulatio": 0.3}),
}


def persona_names(settings: Settings) -> list[str]:
    return sorted(set(BUILTIN_PERSONAS) | set(settings.personas))


def resolve_persona(name: str, settings: Settings) -> Persona:
    """A custom persona from config (which may shadow a built-in one) or a built-in persona."""
    if name in settings.personas:
        return Persona(name=name, **settings.personas[name].model_dump())
    if name in BUILTIN_PERSONAS:
        return BUILTIN_PERSONAS[name]
    raise InputError(f"unknown persona '{name}'; known personas: {', '.join(persona_names(settings))}")
