"""The provider protocol and the request/response types every provider speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass
class GenerationRequest:
    messages: list[Message]
    model: str | None = None
    temperature: float = 0.7
    max_tokens: int = 1000
    seed: int | None = None
    stop: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return "\n\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def non_system(self) -> list[Message]:
        return [m for m in self.messages if m.role != "system"]


@dataclass
class GenerationResponse:
    text: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    cost_usd: float = 0.0
    cached: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@runtime_checkable
class Provider(Protocol):
    """What every provider implements. Construction is cheap and never touches the network."""

    name: str

    def default_model(self) -> str: ...

    def models(self) -> list[str]: ...

    def unavailable_reason(self) -> str | None:
        """Why the provider cannot be used here (missing key, package or file), or None when it can."""
        ...

    def is_available(self) -> bool: ...

    def supports_embeddings(self) -> bool: ...

    async def generate(self, request: GenerationRequest) -> GenerationResponse: ...

    async def embed(self, texts: list[str], model: str | None = None,
                    dimensions: int | None = None) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


class BaseProvider:
    """Shared defaults for providers; subclasses override what they support."""

    name = "base"

    def __init__(self, config: Any) -> None:
        self.config = config

    def default_model(self) -> str:
        from prompt_alchemy.config import DEFAULT_MODELS

        return getattr(self.config, "model", None) or DEFAULT_MODELS[self.name]

    def models(self) -> list[str]:
        return [self.default_model()]

    def unavailable_reason(self) -> str | None:
        return None

    def is_available(self) -> bool:
        return self.unavailable_reason() is None

    def supports_embeddings(self) -> bool:
        return False

    async def embed(self, texts: list[str], model: str | None = None,
                    dimensions: int | None = None) -> list[list[float]]:
        from prompt_alchemy.errors import ProviderError

        raise ProviderError(self.name, "this provider does not produce embeddings; choose another "
                                       "generation.embedding_provider")

    async def check(self) -> str:
        """Confirm the provider answers (host reachable, key accepted); raises ProviderError when it does not.
        Returns a short description of what was checked."""
        from prompt_alchemy.errors import ProviderUnavailableError

        reason = self.unavailable_reason()
        if reason:
            raise ProviderUnavailableError(self.name, reason)
        return "ready (runs in-process)"

    async def aclose(self) -> None:
        return None


class SDKProvider(BaseProvider):
    """A provider behind an official async SDK: one long-lived client (built on first use by `client()`), the key
    from config, SDK errors mapped by the gateway, and a health probe for `providers --check`."""

    endpoint: Any = None
    #: the client's coroutine method that releases its connections
    close_method = "close"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._client: Any = None

    def _key(self) -> str | None:
        key = getattr(self.config, "api_key", None)
        return (key.get_secret_value() or None) if key is not None else None

    def _error(self, exc: BaseException, model: str | None = None):
        from prompt_alchemy.providers.gateway import map_exception

        return map_exception(self.name, exc, model=model, timeout=self.config.timeout, endpoint=self.endpoint)

    async def _probe(self) -> str:
        """One cheap authenticated request; returns what it showed (subclasses define it)."""
        raise TypeError(f"{type(self).__name__} defines no health probe")

    async def check(self) -> str:
        from prompt_alchemy.errors import ProviderError

        reason = self.unavailable_reason()
        if reason:
            raise ProviderError(self.name, reason)
        try:
            return await self._probe()
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - any SDK failure becomes a ProviderError
            raise self._error(exc) from None

    def _expect(self, vectors: list[list[float]], count: int) -> list[list[float]]:
        from prompt_alchemy.errors import ProviderError

        if len(vectors) != count:
            raise ProviderError(self.name, f"returned {len(vectors)} embeddings for {count} texts", retryable=True)
        return vectors

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await getattr(client, self.close_method)()
            except RuntimeError:  # the event loop that owned the connections is gone
                pass
