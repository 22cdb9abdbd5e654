"""The provider protocol, the request/response types every provider speaks, each provider's settings model, and
the self-description (:class:`ProviderInfo`) from which the registry and the configuration are built."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from prompt_alchemy.models import Phase


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


#: What a provider's `stream()` yields: the text deltas (`str`, never empty) in order as they arrive, then exactly
#: one :class:`GenerationResponse`, last, whose `text` is the deltas joined and which carries the same usage, model
#: and finish reason as the non-streaming `generate()` would have returned.
StreamItem = str | GenerationResponse
#: Receives each text delta of a streamed call, in order, on the event loop's thread.
DeltaCallback = Callable[[str], None]


async def collect(stream: AsyncIterator[StreamItem], on_delta: DeltaCallback | None = None) -> GenerationResponse:
    """Read a provider stream to its end: pass each delta to `on_delta` and return the final response."""
    response: GenerationResponse | None = None
    async for item in stream:
        if isinstance(item, GenerationResponse):
            response = item
        elif item and on_delta is not None:
            on_delta(item)
    if response is None:
        raise TypeError("a provider stream ended without its GenerationResponse")
    return response


# --------------------------------------------------------------------------------------------------- settings


class ProviderSettings(BaseModel):
    """Base of every provider's settings section (`providers.<name>` in config): unknown keys are errors. Every
    section has `timeout`: the seconds one call may take before it fails as timed out (and may be retried); none
    means no limit, the default for the embedded and scripted providers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    timeout: float | None = Field(None, gt=0)


class ProviderConfig(ProviderSettings):
    """Settings of one provider. Cloud providers need `api_key`; `base_url` points at compatible servers."""

    api_key: SecretStr | None = None
    model: str | None = None
    embedding_model: str | None = None
    base_url: str | None = None
    host: str | None = None
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    requests_per_minute: int | None = Field(None, ge=1)
    fallback_models: list[str] = Field(
        default_factory=list, description="OpenRouter only: models tried in order when `model` is unavailable"
    )


class LocalProviderConfig(ProviderSettings):
    """The embedded llama.cpp model. `model_path` defaults to the bundled SmolLM2-135M-Instruct GGUF."""

    model_path: str | None = None
    model: str | None = None
    n_ctx: int = Field(8192, ge=512)
    n_threads: int | None = Field(None, ge=1, description="llama.cpp threads (default: all cores but one)")
    seed: int = 0
    repeat_penalty: float = Field(1.15, ge=1.0, le=2.0)
    small: bool | None = Field(
        None,
        description="run this model on the structured small-model path under generation.mode auto "
        "(default: true for the bundled SmolLM2-135M, false for any other GGUF)",
    )
    max_tokens_cap: int = Field(
        384, ge=16, description="upper bound on tokens per call for the small local model, which rambles at high limits"
    )

    @field_validator("model_path")
    @classmethod
    def _expand(cls, v: str | None) -> str | None:
        return os.path.expanduser(v) if v else v


class ScriptedProviderConfig(ProviderSettings):
    """The deterministic provider for tests and benchmarks. Never chosen unless named."""

    model: str | None = None
    latency: float = Field(0.0, ge=0)
    responses: list[str] = Field(default_factory=list)
    fail_phases: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------------- description

#: Where a provider runs: in this process (`local`), behind a paid API key (`cloud`), or on a server the user runs
#: (`remote`, e.g. Ollama). Cloud and remote providers fall back to the embedded model when a phase's fallbacks
#: are not set.
ProviderKind = Literal["local", "cloud", "remote"]
_KINDS = ("local", "cloud", "remote")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider is, declared without importing it: the registry, the configuration (`providers.<name>`,
    the key variables, default models) and `prompt-alchemy providers` are all built from these.

    Built-in providers declare theirs in :mod:`prompt_alchemy.providers.catalog`; a plugin exposes one (or a
    callable returning one) under the ``prompt_alchemy.providers`` entry-point group.
    """

    #: The name used in config (`providers.<name>`), `--provider` and phases: lowercase letters, digits, `_`.
    name: str
    #: "package.module:Class"; imported on first use, so unused SDKs never load. The class is built with the
    #: provider's settings section (an instance of `config_model`).
    implementation: str
    #: The model used when neither `providers.<name>.model` nor a phase's `model` is set.
    default_model: str
    kind: ProviderKind = "remote"
    #: Environment variables that hold the API key (`providers.<name>.api_key`), first match wins.
    key_env_vars: tuple[str, ...] = ()
    #: Environment variables that hold the server address (`providers.<name>.host`).
    host_env_vars: tuple[str, ...] = ()
    #: The default embedding model and its native dimensions, when the provider embeds.
    embedding_model: str | None = None
    embedding_dimensions: int | None = None
    #: Phases this provider serves when no provider is configured for them and it is available.
    preferred_phases: tuple[Phase, ...] = ()
    #: Never chosen automatically, only when named (the scripted test provider).
    explicit_only: bool = False
    #: The settings model of `providers.<name>`.
    config_model: type[ProviderSettings] = ProviderConfig
    #: USD per million (input, output) tokens by model ("*" matches any model). Built-in providers list theirs in
    #: the shipped prices.json under their name, which wins over these.
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            problems.append(f"name {self.name!r} must be lowercase letters, digits and '_', starting with a letter")
        elif self.name.startswith("model_") or self.name == "get" or hasattr(BaseModel, self.name):
            problems.append(f"name {self.name!r} is reserved (it would shadow a settings attribute)")
        module, _, attr = str(self.implementation).partition(":")
        if not module or not attr:
            problems.append(f"implementation {self.implementation!r} must be 'package.module:Class'")
        if not self.default_model:
            problems.append("default_model is empty")
        if self.kind not in _KINDS:
            problems.append(f"kind {self.kind!r} must be one of {', '.join(_KINDS)}")
        if (self.embedding_model is None) != (self.embedding_dimensions is None):
            problems.append("embedding_model and embedding_dimensions go together")
        if not (isinstance(self.config_model, type) and issubclass(self.config_model, ProviderSettings)):
            problems.append("config_model must be a subclass of prompt_alchemy.providers.base.ProviderSettings")
        object.__setattr__(self, "key_env_vars", tuple(self.key_env_vars))
        object.__setattr__(self, "host_env_vars", tuple(self.host_env_vars))
        try:
            object.__setattr__(self, "preferred_phases", tuple(Phase.parse(p) for p in self.preferred_phases))
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ValueError(f"provider description {getattr(self, 'name', '?')!r}: " + "; ".join(problems))

    @property
    def embedding(self) -> tuple[str, int] | None:
        """(model, native dimensions) of the default embedding model, or None when the provider does not embed."""
        if self.embedding_model is None or self.embedding_dimensions is None:
            return None
        return self.embedding_model, self.embedding_dimensions

    @property
    def needs_key(self) -> bool:
        """Whether the provider cannot work without an API key (every cloud provider)."""
        return self.kind == "cloud"

    def load(self) -> type:
        """Import and return the implementation class."""
        module, _, attr = self.implementation.partition(":")
        return getattr(importlib.import_module(module), attr)


# --------------------------------------------------------------------------------------------------- protocol


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

    def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        """The same call through the provider's streaming API: text deltas as they arrive, then the response
        (see :data:`StreamItem`). :class:`BaseProvider` supplies a one-delta fallback built on `generate`."""
        ...

    async def check(self) -> str:
        """Confirm the provider answers; raises ProviderError when it does not (:class:`BaseProvider` has one)."""
        ...

    async def embed(
        self, texts: list[str], model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


class BaseProvider:
    """Shared defaults for providers; subclasses override what they support."""

    name = "base"

    def __init__(self, config: Any) -> None:
        self.config = config

    def default_model(self) -> str:
        from prompt_alchemy.providers.catalog import provider_info

        return getattr(self.config, "model", None) or provider_info(self.name).default_model

    def default_embedding_model(self) -> str:
        """`providers.<name>.embedding_model`, else the description's default (empty when it does not embed)."""
        from prompt_alchemy.providers.catalog import provider_info

        return getattr(self.config, "embedding_model", None) or provider_info(self.name).embedding_model or ""

    def models(self) -> list[str]:
        return [self.default_model()]

    def unavailable_reason(self) -> str | None:
        return None

    def is_available(self) -> bool:
        return self.unavailable_reason() is None

    def supports_embeddings(self) -> bool:
        return False

    if TYPE_CHECKING:  # every subclass defines it; declared here for `stream`

        async def generate(self, request: GenerationRequest) -> GenerationResponse: ...

    def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
        """For providers without a streaming API (plugins): the whole answer as one delta, when it is ready."""
        return stream_from_generate(self, request)

    async def embed(
        self, texts: list[str], model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        from prompt_alchemy.errors import ProviderError

        raise ProviderError(
            self.name, "this provider does not produce embeddings; choose another " "generation.embedding_provider"
        )

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
        from prompt_alchemy.providers.resilience import map_exception

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


class _Generates(Protocol):
    async def generate(self, request: GenerationRequest) -> GenerationResponse: ...


async def stream_from_generate(provider: _Generates, request: GenerationRequest) -> AsyncGenerator[StreamItem, None]:
    """The stream of a provider without a streaming API: its whole answer as one delta, when it is ready."""
    response = await provider.generate(request)
    if response.text:
        yield response.text
    yield response
