"""Every provider's description in one place: the built-in ones, declared here, and third-party plugins from the
``prompt_alchemy.providers`` entry-point group. The configuration (names, key variables, default models, settings
sections) and the registry are derived from this catalogue; adding a provider means adding one description.

Nothing here imports a provider's module or its SDK: a description names its implementation as a string, imported
on first use. Plugins are looked up once per process, on first need (never for ``--help``); a broken plugin
(its import fails, it gives something other than a :class:`ProviderInfo`, or it reuses a taken name) is skipped
with one warning naming it, and changes nothing else.
"""

from __future__ import annotations

from functools import cache

from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import Phase
from prompt_alchemy.providers.base import LocalProviderConfig, ProviderInfo, ScriptedProviderConfig

#: The entry-point group third-party providers register under.
ENTRY_POINT_GROUP = "prompt_alchemy.providers"

log = get_logger("providers")

_BUILTIN: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        name="openai",
        implementation="prompt_alchemy.providers.openai:OpenAIProvider",
        kind="cloud",
        default_model="gpt-4o-mini",
        key_env_vars=("OPENAI_API_KEY",),
        embedding_model="text-embedding-3-small",
        embedding_dimensions=1536,
        preferred_phases=(Phase.PRIMA_MATERIA,),
    ),
    ProviderInfo(
        name="anthropic",
        implementation="prompt_alchemy.providers.anthropic:AnthropicProvider",
        kind="cloud",
        default_model="claude-haiku-4-5",
        key_env_vars=("ANTHROPIC_API_KEY",),
        preferred_phases=(Phase.SOLUTIO,),
    ),
    ProviderInfo(
        name="google",
        implementation="prompt_alchemy.providers.google:GoogleProvider",
        kind="cloud",
        default_model="gemini-2.5-flash-lite",
        key_env_vars=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        embedding_model="gemini-embedding-001",
        embedding_dimensions=768,
        preferred_phases=(Phase.COAGULATIO,),
    ),
    ProviderInfo(
        name="openrouter",
        implementation="prompt_alchemy.providers.openrouter:OpenRouterProvider",
        kind="cloud",
        default_model="openai/gpt-4o-mini",
        key_env_vars=("OPENROUTER_API_KEY",),
    ),
    ProviderInfo(
        name="ollama",
        implementation="prompt_alchemy.providers.ollama:OllamaProvider",
        kind="remote",
        default_model="llama3.2",
        host_env_vars=("OLLAMA_HOST",),
        embedding_model="nomic-embed-text",
        embedding_dimensions=768,
    ),
    ProviderInfo(
        name="local",
        implementation="prompt_alchemy.providers.local:LocalProvider",
        kind="local",
        default_model="smollm2-135m-instruct",
        config_model=LocalProviderConfig,
        embedding_model="all-MiniLM-L6-v2",
        embedding_dimensions=384,
    ),
    ProviderInfo(
        name="scripted",
        implementation="prompt_alchemy.providers.scripted:ScriptedProvider",
        kind="local",
        default_model="scripted-v1",
        config_model=ScriptedProviderConfig,
        explicit_only=True,
    ),
)


def builtin_providers() -> tuple[ProviderInfo, ...]:
    """The built-in providers' descriptions, in "first available" order."""
    return _BUILTIN


@cache
def load_plugins() -> tuple[ProviderInfo, ...]:
    """The descriptions installed plugins register under the ``prompt_alchemy.providers`` entry-point group, each
    a :class:`ProviderInfo` or a callable returning one. Looked up once per process; a plugin that cannot be
    loaded is skipped with one warning."""
    from importlib.metadata import entry_points

    taken = {info.name: "a built-in provider" for info in _BUILTIN}
    found: list[ProviderInfo] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry, "dist", None)
        origin = f"{dist.name} {dist.version}" if dist is not None else entry.value
        try:
            obj = entry.load()
            info = obj if isinstance(obj, ProviderInfo) or not callable(obj) else obj()
            if not isinstance(info, ProviderInfo):
                raise TypeError(
                    f"{entry.value} is a {type(info).__name__}, not a "
                    f"prompt_alchemy.providers.base.ProviderInfo (or a callable returning one)"
                )
            if info.name in taken:
                raise ValueError(f"the name '{info.name}' is already taken by {taken[info.name]}")
        except Exception as exc:  # noqa: BLE001 - any failure of third-party code skips that plugin only
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            log.warning("provider plugin '%s' (%s) was not loaded: %s", entry.name, origin, detail)
            continue
        taken[info.name] = f"the plugin '{entry.name}' ({origin})"
        found.append(info)
    return tuple(found)


@cache
def all_providers() -> dict[str, ProviderInfo]:
    """Every known provider by name: the built-in ones first, then the plugins."""
    return {info.name: info for info in (*_BUILTIN, *load_plugins())}


def provider_info(name: str) -> ProviderInfo:
    """The description of a known provider; KeyError for an unknown name."""
    for info in _BUILTIN:
        if info.name == name:
            return info
    return all_providers()[name]
