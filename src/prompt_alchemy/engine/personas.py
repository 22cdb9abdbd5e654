"""Built-in personas and custom personas from config. A persona changes the system prompts, adds guidance and
sets per-phase temperatures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompt_alchemy.errors import InputError
from prompt_alchemy.models import BUILTIN_PERSONAS, Persona

__all__ = ["BUILTIN_PERSONAS", "persona_names", "resolve_persona"]

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings


def persona_names(settings: Settings) -> list[str]:
    return sorted(set(BUILTIN_PERSONAS) | set(settings.personas))


def resolve_persona(name: str, settings: Settings) -> Persona:
    """A custom persona from config (which may shadow a built-in one) or a built-in persona."""
    if name in settings.personas:
        return Persona(name=name, **settings.personas[name].model_dump())
    if name in BUILTIN_PERSONAS:
        return BUILTIN_PERSONAS[name]
    raise InputError(f"unknown persona '{name}'; known personas: {', '.join(persona_names(settings))}")
