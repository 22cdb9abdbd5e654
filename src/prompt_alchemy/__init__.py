"""Prompt Alchemy: turn a raw idea into refined LLM prompts through three chained phases."""

__version__ = "0.1.0"

__all__ = ["__version__"]
