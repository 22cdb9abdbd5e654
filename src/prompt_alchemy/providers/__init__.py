"""LLM providers behind one protocol, resolved per phase by the registry."""

from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, Message, Provider

__all__ = ["GenerationRequest", "GenerationResponse", "Message", "Provider"]
