"""Settings: defaults → YAML file → environment → CLI flags, with the source of every value recorded.

The file lives at ``~/.config/prompt-alchemy/config.yaml`` (platformdirs) unless ``PROMPT_ALCHEMY_HOME=DIR`` puts
config and data under DIR, or ``--config FILE`` names another file. Environment variables use the
``PROMPT_ALCHEMY_`` prefix with ``__`` between nested keys (a hyphen in a key becomes ``_``; list and object values
are JSON), plus the standard key variables (``OPENAI_API_KEY`` ...). ``${VAR}`` and ``${VAR:-default}`` in the file
are interpolated. The layers are merged here (so that ``config show`` can say where each value came from) and the
result is validated by the pydantic-settings model :class:`Settings`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.models import BUILTIN_PERSONAS, Phase, PhaseConfig
from prompt_alchemy.providers.base import (  # noqa: F401  (the provider settings are part of the config API)
    LocalProviderConfig,
    ProviderConfig,
    ProviderInfo,
    ScriptedProviderConfig,
)
from prompt_alchemy.providers.catalog import all_providers

ENV_PREFIX = "PROMPT_ALCHEMY_"
#: Variables with the prefix that are not settings: paths read before any configuration is loaded, and the setup
#: knobs that scripts/setup.sh and `prompt-alchemy local install` read (localstack.SETUP_ENV).
_RESERVED_ENV = {
    "PROMPT_ALCHEMY_HOME",
    "PROMPT_ALCHEMY_CONFIG",
    "PROMPT_ALCHEMY_CACHE_DIR",
    "PROMPT_ALCHEMY_DATABASE_URL",
    "PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS",
    "PROMPT_ALCHEMY_WHEEL_CACHE",
}
#: Variables that older docs named but nothing reads: ignored with a warning that says what to do instead.
_RETIRED_ENV = {
    "PROMPT_ALCHEMY_ADMIN_KEY": "nothing reads it; create an admin API key inside the server's environment "
    "with 'prompt-alchemy api-keys create --name admin --scope admin'"
}

# ---- the provider tables, derived from the provider descriptions (providers/catalog.py) on first use, so that
# plugins count and importing this module loads none of them. `from prompt_alchemy.config import PROVIDER_NAMES`
# works as for any constant.

#: Every provider name the configuration knows, in "first available" order (built-in, then plugins).
PROVIDER_NAMES: tuple[str, ...]
#: Providers behind a paid API that needs a key.
CLOUD_PROVIDERS: tuple[str, ...]
#: Providers across a network (cloud, and servers such as Ollama), which the embedded model backs up.
REMOTE_PROVIDERS: tuple[str, ...]
#: Providers whose settings hold an `api_key` (secrets to register for redaction).
KEYED_PROVIDERS: tuple[str, ...]
#: Standard key variables, lowest precedence within the environment layer.
KEY_ENV_VARS: dict[str, tuple[str, ...]]
#: Standard server address variables (`providers.<name>.host`).
HOST_ENV_VARS: dict[str, tuple[str, ...]]
#: The phase's preferred provider when none is configured ("else the first available").
PREFERRED_PROVIDER: dict[Phase, str]
#: Default model per provider, overridable per provider (`providers.X.model`) and per phase.
DEFAULT_MODELS: dict[str, str]
#: Default embedding model and its native dimensions per provider that can embed.
DEFAULT_EMBEDDING_MODELS: dict[str, tuple[str, int]]


def _preferred(infos: Mapping[str, ProviderInfo]) -> dict[Phase, str]:
    out: dict[Phase, str] = {}
    for info in infos.values():
        for phase in info.preferred_phases:
            out.setdefault(phase, info.name)
    return out


_DERIVED: dict[str, Any] = {
    "PROVIDER_NAMES": lambda infos: tuple(infos),
    "CLOUD_PROVIDERS": lambda infos: tuple(n for n, i in infos.items() if i.kind == "cloud"),
    "REMOTE_PROVIDERS": lambda infos: tuple(n for n, i in infos.items() if i.kind in ("cloud", "remote")),
    "KEYED_PROVIDERS": lambda infos: tuple(n for n, i in infos.items() if "api_key" in i.config_model.model_fields),
    "KEY_ENV_VARS": lambda infos: {n: i.key_env_vars for n, i in infos.items() if i.key_env_vars},
    "HOST_ENV_VARS": lambda infos: {n: i.host_env_vars for n, i in infos.items() if i.host_env_vars},
    "PREFERRED_PROVIDER": _preferred,
    "DEFAULT_MODELS": lambda infos: {n: i.default_model for n, i in infos.items()},
    "DEFAULT_EMBEDDING_MODELS": lambda infos: {n: i.embedding for n, i in infos.items() if i.embedding},
}


def __getattr__(name: str) -> Any:
    """The derived provider tables above, computed once on first access."""
    derive = _DERIVED.get(name)
    if derive is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = derive(all_providers())
    return value


PHASE_DEFAULTS: dict[Phase, tuple[float, int]] = {
    Phase.PRIMA_MATERIA: (0.8, 1500),
    Phase.SOLUTIO: (0.7, 2000),
    Phase.COAGULATIO: (0.4, 1000),
}


# --------------------------------------------------------------------------------------------------- the model


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@cache
def _sections_model() -> type[BaseModel]:
    """One field per known provider (built-in or plugin), typed by the settings model its description names."""
    fields: dict[str, Any] = {
        name: (info.config_model, Field(default_factory=info.config_model)) for name, info in all_providers().items()
    }
    return create_model("ProviderSections", __config__=ConfigDict(extra="forbid", populate_by_name=True), **fields)


class ProvidersConfig(_Section):
    """`providers.<name>`: one section per known provider, built-in or plugin, each validated by the settings
    model of the provider's description (see providers/catalog.py). Read a section as an attribute
    (`providers.openai`) or with `get(name)`; an unknown name is a validation error."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="wrap")
    @classmethod
    def _sections(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, Mapping):
            model = _sections_model()
            validated = model.model_validate(dict(data))
            data = {name: getattr(validated, name) for name in model.model_fields}
        return handler(data)

    def get(self, name: str) -> Any:
        return getattr(self, name)


def _phase_default(phase: Phase) -> PhaseConfig:
    temperature, max_tokens = PHASE_DEFAULTS[phase]
    return PhaseConfig(temperature=temperature, max_tokens=max_tokens)


class PhasesConfig(_Section):
    prima_materia: PhaseConfig = Field(
        default_factory=lambda: _phase_default(Phase.PRIMA_MATERIA),
        validation_alias=AliasChoices("prima-materia", "prima_materia", "idea"),
        serialization_alias="prima-materia",
    )
    solutio: PhaseConfig = Field(
        default_factory=lambda: _phase_default(Phase.SOLUTIO), validation_alias=AliasChoices("solutio", "human")
    )
    coagulatio: PhaseConfig = Field(
        default_factory=lambda: _phase_default(Phase.COAGULATIO),
        validation_alias=AliasChoices("coagulatio", "precision"),
    )

    @model_validator(mode="before")
    @classmethod
    def _phase_defaults(cls, data: Any) -> Any:
        """A partially configured phase keeps its own defaults for the keys it does not set."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key, value in data.items():
            try:
                phase = Phase.parse(str(key))
            except ValueError:
                continue
            if isinstance(value, dict):
                temperature, max_tokens = PHASE_DEFAULTS[phase]
                out[key] = {"temperature": temperature, "max_tokens": max_tokens, **value}
        return out

    def get(self, phase: Phase) -> PhaseConfig:
        return getattr(self, phase.key)


class GenerationConfig(_Section):
    mode: Literal["auto", "structured", "freeform"] = Field(
        "auto",
        description="structured: small-model path (spec by constrained decoding, assembled final prompt); "
        "freeform: the phase templates; auto: structured for small local models only",
    )
    default_count: int = Field(3, ge=1, le=10)
    use_parallel: bool = True
    include_context: bool = False
    # with include_context, the most similar library prompts rated at least this are examples
    context_min_rating: float = Field(4.0, ge=1, le=5)
    context_examples: int = Field(3, ge=1, le=10)
    default_persona: str = "generic"
    default_target_model: str | None = None
    embedding_provider: str = "local"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_dimensions: int = Field(384, ge=8, le=8192)
    max_idea_length: int = Field(20_000, ge=1)
    max_context_chars: int = Field(50_000, ge=0)


class StorageConfig(_Section):
    database_path: str | None = None
    #: A PostgreSQL URL (postgresql://user:password@host:5432/db) selects the PostgreSQL store; unset, SQLite at
    #: database_path. Env: PROMPT_ALCHEMY_DATABASE_URL. The password is masked wherever the URL is shown.
    url: str | None = None
    backup_interval: str | None = None
    vacuum_interval: str | None = None
    max_backups: int = Field(5, ge=1)

    @field_validator("database_path")
    @classmethod
    def _expand(cls, v: str | None) -> str | None:
        return os.path.expanduser(v) if v else v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if not v:
            return None
        from prompt_alchemy.storage.url import check_database_url

        return check_database_url(v)

    @field_validator("backup_interval", "vacuum_interval")
    @classmethod
    def _interval(cls, v: str | None) -> str | None:  # e.g. 12h, 1d, 1w
        from prompt_alchemy.models import parse_duration

        if v is not None and parse_duration(v) <= 0:
            raise ValueError("the interval must be longer than zero")
        return v


class LearningConfig(_Section):
    enabled: bool = True
    learning_rate: float = Field(0.1, gt=0, le=10)
    batch_size: int = Field(32, ge=1)
    validation_split: float = Field(0.2, gt=0, lt=1)
    min_feedback: int = Field(20, ge=2)
    schedule: str | None = "02:00"
    seed: int = 0
    # passes over the training pairs; `schedule` is a local time HH:MM (or null for none)
    epochs: int = Field(30, ge=1, le=1000)
    #: Feedback this many days old counts half (and a quarter at twice that); null: no decay.
    half_life_days: float | None = Field(None, gt=0)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, v: Any) -> str | None:
        if isinstance(v, bool) and not v:  # YAML reads an unquoted `off` or `no` as false
            return None
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1440:  # YAML 1.1 reads 2:30 as 150
            return f"{v // 60:02d}:{v % 60:02d}"
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "off", "none", "null", "never")):
            return None
        if not isinstance(v, str):
            raise ValueError(f"'{v}' is not a time of day; use HH:MM (24-hour, local time), e.g. 02:00")
        match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", v)
        if not match:
            raise ValueError(f"'{v}' is not a time of day; use HH:MM (24-hour, local time), e.g. 02:00")
        return f"{int(match.group(1)):02d}:{match.group(2)}"


# ---- ranking: feature weights, the judge and the learned scorer's weight


class RankingWeights(_Section):
    """Weight of each rubric check in the ranker's weighted mean (0 turns a check off)."""

    intent: float = Field(3.0, ge=0)
    has_role: float = Field(1.0, ge=0)
    states_task: float = Field(1.0, ge=0)
    has_constraints: float = Field(1.0, ge=0)
    output_format: float = Field(1.0, ge=0)
    examples: float = Field(0.5, ge=0)
    variables: float = Field(1.0, ge=0)
    vague_words: float = Field(0.5, ge=0)
    no_duplicate_lines: float = Field(0.5, ge=0)
    length: float = Field(1.0, ge=0)
    distinctness: float = Field(0.5, ge=0)
    specificity: float = Field(1.5, ge=0, description="share of sentences about the idea (by embedding)")
    addressed_to_model: float = Field(1.0, ge=0)
    not_deliverable: float = Field(1.0, ge=0)
    not_degenerate: float = Field(1.0, ge=0)
    on_topic: float = Field(1.0, ge=0)
    no_scaffolding: float = Field(1.0, ge=0)


class RankingConfig(_Section):
    """The ranker: rubric weights, plus the AI judge's and the learned model's weight when they are present."""

    weights: RankingWeights = Field(default_factory=RankingWeights)
    judge_weight: float = Field(4.0, ge=0, description="weight of the judge's score (1-10 mapped to 0.1-1)")
    learned_weight: float = Field(3.0, ge=0, description="weight of the learned model's score when one exists")
    judge_provider: str | None = Field(
        None, description="the judge's provider (default: one that differs from " "the generator's when available)"
    )
    judge_model: str | None = None
    judge_max_tokens: int = Field(700, ge=64, le=8000)

    @field_validator("judge_provider")
    @classmethod
    def _known_provider(cls, v: str | None) -> str | None:
        if v is not None and v not in all_providers():
            raise ValueError(f"unknown provider '{v}'; known providers: {', '.join(all_providers())}")
        return v


class PriceConfig(_Section):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(0.0, ge=0)


class ServerConfig(_Section):
    """The MCP server: which Host/Origin names it answers when bound beyond loopback, and where MCP clients may
    take optimization examples from."""

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="the address `serve --transport http` listens on " "(--host overrides it)",
    )
    port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="the port `serve --transport http` listens on; 0 picks a free " "one (--port overrides it)",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names (optionally host:port, or host:* for any port) that requests "
        "to a server bound beyond loopback may use; Origin is checked against them",
    )
    examples_dir: str | None = Field(
        None,
        description="the only folder optimize_prompt may read examples files "
        "from (default: examples/ beside the database)",
    )
    require_auth: bool = Field(
        False,
        description="require an API key (prompt-alchemy api-keys create) on the REST API "
        "and MCP over HTTP even on loopback; always required beyond it",
    )
    rate_limit_per_minute: int = Field(
        600,
        ge=1,
        description="requests per minute per API key (a key's own " "--rate-limit overrides it); more answer 429",
    )
    metrics_require_auth: bool = Field(False, description="require a read key on /metrics too")
    worker_stalled_after: float = Field(
        10.0,
        ge=1,
        le=3600,
        description="seconds without a heartbeat after which a job worker is taken for dead and its running items "
        "go back on the queue (workers send one every fifth of this)",
    )

    @field_validator("examples_dir")
    @classmethod
    def _expand(cls, v: str | None) -> str | None:
        return os.path.expanduser(v) if v else v


class OidcConfig(_Section):
    """Sign-in with OpenID Connect: REST and MCP over HTTP accept the issuer's access tokens (JWTs) beside API keys.
    Unset `issuer`: no sign-in (API keys only)."""

    issuer: str | None = Field(
        None,
        description="the issuer URL (its /.well-known/openid-configuration names the "
        "JWKS); tokens must carry it as 'iss'",
    )
    audience: str | None = Field(
        None,
        description="the audience ('aud') access tokens must be issued for: this "
        "API's identifier at the provider; required with an issuer",
    )
    client_id: str | None = Field(
        None,
        description="the OAuth client of the viewer's sign-in on the team server (authorization code with PKCE); "
        "unset, the team server serves no viewer",
    )
    client_secret: SecretStr | None = Field(
        None, description="the viewer client's secret, for providers whose web clients have one (Google); else unset"
    )
    scopes: str = Field(
        "openid email profile offline_access",
        description="the scopes the viewer's sign-in asks for (offline_access: a refresh token)",
    )
    authorize_params: dict[str, str] = Field(
        default_factory=dict,
        description="extra parameters of the sign-in request: {'audience': ...} for Auth0, "
        "{'access_type': 'offline', 'prompt': 'consent'} for Google",
    )
    session_secret: SecretStr | None = Field(
        None,
        description="signs the viewer's session cookie; the same on every replica (unset: a new one at each start, "
        "and people sign in again after a restart)",
    )
    session_hours: int = Field(12, ge=1, le=24 * 30, description="how long a viewer session lasts at most")
    role_claim: str | None = Field(
        None,
        description="the token claim holding roles: 'admin', ['team-a:member', "
        "...] or {'team-a': 'member'}; unset, roles come from an admin",
    )
    default_role: Literal["viewer", "member"] | None = Field(
        None, description="the role in the default project of a user whom neither the claim nor an admin gave one"
    )
    algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"], description="signature algorithms accepted (never 'none' nor HMAC)"
    )
    leeway_seconds: int = Field(30, ge=0, le=300, description="clock skew allowed on exp/nbf/iat")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.lower() == "none" or a.upper().startswith("HS")]
        if bad:
            raise ValueError(f"only public-key algorithms may verify tokens, not {', '.join(bad)}")
        return v

    @model_validator(mode="after")
    def _audience_required(self) -> OidcConfig:
        if self.issuer and not self.audience:
            raise ValueError("auth.oidc.audience is required with an issuer (tokens for other APIs are refused)")
        return self


class AuthConfig(_Section):
    """Who may sign in to the team server (API keys need no settings)."""

    oidc: OidcConfig = Field(default_factory=OidcConfig)


class RetentionConfig(_Section):
    """How long generation sessions and audit rows are kept (`users purge`, and the server's daily maintenance).
    Unset: kept for ever. A session's prompts with a name, a label or a rating are always kept."""

    sessions_days: int | None = Field(None, ge=1, description="purge generation sessions older than this")
    audit_days: int | None = Field(None, ge=1, description="purge audit rows older than this")
    interval: str = Field(
        "1d", description="how often the server purges when a setting above is set (s, m, h, d or w: 1d, 6h)"
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        from prompt_alchemy.models import parse_duration

        if parse_duration(v) <= 0:
            raise ValueError("the interval must be longer than zero")
        return v

    def active(self) -> bool:
        """Whether anything is to be purged."""
        return self.sessions_days is not None or self.audit_days is not None


class CacheConfig(_Section):
    """Where the response cache and the per-key rate windows live: unset, in the library (SQLite, or PostgreSQL
    shared by every server); a Redis URL (redis://[:password@]host:6379/0, rediss://, unix://) puts both in Redis,
    with expiry by Redis (docs/scaling.md). Needs the `redis` extra. Env: PROMPT_ALCHEMY_CACHE__URL."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if not v:
            return None
        from prompt_alchemy.storage.redis_cache import check_cache_url

        return check_cache_url(v)


class LoggingConfig(_Section):
    """How the server logs: plain text lines or one JSON object per line (with request ids)."""

    format: Literal["text", "json"] = "text"


class GatewayConfig(_Section):
    """How provider calls are made: response cache, retry backoff, and price overrides."""

    cache: bool = True
    cache_ttl_seconds: int = Field(7 * 24 * 3600, ge=1)
    cache_skip_providers: list[str] = Field(default_factory=lambda: ["scripted"])
    backoff_base_seconds: float = Field(0.5, ge=0)
    backoff_max_seconds: float = Field(20.0, ge=0)
    prices: dict[str, PriceConfig] = Field(
        default_factory=dict, description="per model ('gpt-4o' or 'openai/gpt-4o'): input/output USD per 1M tokens"
    )


class PersonaConfig(_Section):
    description: str = ""
    system_prompt: str = ""
    guidance: str = ""
    temperatures: dict[str, float] = Field(default_factory=dict)


class Settings(BaseSettings):
    """The validated, merged configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True)

    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    phases: PhasesConfig = Field(default_factory=PhasesConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    personas: dict[str, PersonaConfig] = Field(default_factory=dict)
    #: The project the CLI's commands for named prompts and labels work in (`save`, `label`, `use`, `show`); their
    #: `--project` overrides it. Env: PROMPT_ALCHEMY_PROJECT.
    project: str = Field("default", description="the project the local user works in (names, labels, saves)")

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        from prompt_alchemy.tenancy import PROJECT_SLUG

        if not PROJECT_SLUG.match(v):
            raise ValueError(
                "a project name is 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The layers are merged by `load_settings` (which records provenance); the model only validates them.
        return (init_settings,)


# ------------------------------------------------------------------------------------------------ paths


@dataclass(frozen=True)
class Paths:
    """Where the tool keeps things: the config file, the config directory (keys.json), the data directory (the
    SQLite library, backups, models) and the cache directory (built model graphs, shared by every home). From
    platformdirs, so each platform gets its own convention; `PROMPT_ALCHEMY_HOME=DIR` puts config and data under
    DIR."""

    config_file: Path
    data_dir: Path
    config_dir: Path | None = None
    cache_dir: Path | None = None

    @property
    def default_database(self) -> Path:
        return self.data_dir / "prompts.db"

    @property
    def keys_file(self) -> Path:
        """The provider keys file (`prompt-alchemy keys set NAME`), in the config directory."""
        from prompt_alchemy.keyfile import FILE_NAME

        return (self.config_dir or self.config_file.parent) / FILE_NAME


def resolve_paths(env: Mapping[str, str] | None = None, config_file: str | Path | None = None) -> Paths:
    env = os.environ if env is None else env
    import platformdirs

    home = env.get("PROMPT_ALCHEMY_HOME")
    if home:
        cfg_dir = data = Path(home).expanduser()
    else:
        cfg_dir = Path(platformdirs.user_config_dir("prompt-alchemy", appauthor=False))
        data = Path(platformdirs.user_data_dir("prompt-alchemy", appauthor=False))
    cache = cache_dir(env)
    cfg = cfg_dir / "config.yaml"
    explicit = config_file or env.get("PROMPT_ALCHEMY_CONFIG")
    if explicit:
        cfg = Path(explicit).expanduser()
    return Paths(config_file=cfg, data_dir=data, config_dir=cfg_dir, cache_dir=cache)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Built artefacts shared by every home on the machine (the fast embedding graph): `PROMPT_ALCHEMY_CACHE_DIR`,
    else the platform's user cache directory (platformdirs; `$XDG_CACHE_HOME/prompt-alchemy` on Linux)."""
    env = os.environ if env is None else env
    explicit = env.get("PROMPT_ALCHEMY_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("prompt-alchemy", appauthor=False))


def key_file_layer(paths: Paths, merged: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored provider keys (keys.json) that no higher layer sets, as a layer to merge on top, and their
    origin: the file is the lowest layer of a key, so the config file, the environment and flags win, and a
    `${OPENAI_API_KEY}` in the config file that the environment leaves empty falls through to it."""
    from prompt_alchemy.keyfile import read_keys

    stored = read_keys(paths.keys_file)
    found = merged.get("providers")
    providers: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    layer: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, key in stored.items():
        if name not in all_providers():
            continue  # a key for a provider (plugin) that is not installed now: kept in the file, not loaded
        entry = providers.get(name)
        section: Mapping[str, Any] = entry if isinstance(entry, Mapping) else {}
        if not section.get("api_key"):
            _set_path(layer, ["providers", name, "api_key"], key)
            origin[f"providers.{name}.api_key"] = f"keys:{paths.keys_file}"
    return layer, origin


# ------------------------------------------------------------------------------------------------ layers

_INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        out = _INTERP.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
        return None if out == "" and value != "" else out
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    return value


def read_config_file(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """Parse and interpolate the YAML file; a missing default file is an empty layer."""
    import yaml

    from prompt_alchemy.errors import InputError
    from prompt_alchemy.security import MAX_CONFIG_BYTES, read_text_file

    try:
        present = path.exists() or path.is_symlink()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if not present:
        return {}
    try:
        text = read_text_file(path, "config file", limit=MAX_CONFIG_BYTES)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"config file {path} is not valid YAML{where}; fix it or run 'prompt-alchemy config init --force'"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections (providers, phases, ...)")
    return _interpolate(data, env)


def _parse_env_value(raw: str) -> Any:
    text = raw.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"environment value {raw!r} looks like JSON but does not parse: {exc.msg}") from exc
    return raw


def env_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The environment as a nested dict, and the variable each leaf came from."""
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for info in all_providers().values():
        for setting, names in (("api_key", info.key_env_vars), ("host", info.host_env_vars)):
            for var in names:
                if env.get(var):
                    _set_path(data, ["providers", info.name, setting], env[var])
                    origin[f"providers.{info.name}.{setting}"] = f"env:{var}"
                    break
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in _RESERVED_ENV:
            continue
        if var in _RETIRED_ENV:
            import logging

            logging.getLogger(__name__).warning("%s is not a setting: %s", var, _RETIRED_ENV[var])
            continue
        parts = [p.lower() for p in var[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        if parts[0] == "phases" and len(parts) > 1:
            parts[1] = parts[1].replace("_", "-")
        _set_path(data, parts, _parse_env_value(env[var]))
        origin[".".join(parts)] = f"env:{var}"
    if env.get("PROMPT_ALCHEMY_DATABASE_URL"):
        _set_path(data, ["storage", "url"], env["PROMPT_ALCHEMY_DATABASE_URL"])
        origin["storage.url"] = "env:PROMPT_ALCHEMY_DATABASE_URL"
    return data, origin


def _set_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = node[part] = {}
        node = nxt
    node[parts[-1]] = value


def _normalize_phase_keys(data: dict[str, Any]) -> dict[str, Any]:
    phases = data.get("phases")
    if isinstance(phases, dict):
        fixed = {}
        for key, value in phases.items():
            try:
                fixed[Phase.parse(str(key)).value] = value
            except ValueError:
                fixed[key] = value  # left for validation to report
        data["phases"] = fixed
    return data


#: Key names from the original design document's config.yaml, read as today's keys (one note on stderr each; the
#: current key wins when both are set). `generation.default_temperature` and `default_max_tokens` set every phase
#: that does not set its own; `storage.backup_enabled: false` turns scheduled backups off, and `true` keeps
#: `storage.backup_interval` (1d when unset).
LEGACY_KEYS: dict[str, str] = {
    "generation.default_embedding_model": "generation.embedding_model",
    "generation.default_embedding_dimensions": "generation.embedding_dimensions",
    "generation.default_embedding_provider": "generation.embedding_provider",
    "generation.default_temperature": "phases.<phase>.temperature",
    "generation.default_max_tokens": "phases.<phase>.max_tokens",
    "storage.backup_enabled": "storage.backup_interval",
}
LEGACY_BACKUP_INTERVAL = "1d"
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
_legacy_noted: set[tuple[str, str]] = set()


def apply_legacy_keys(data: dict[str, Any], origin: str, below: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`data` (one layer, phase keys normalized) with the design document's key names rewritten to today's. A
    phase's own setting in this layer or in the layers `below` it wins over a `generation.default_*` value."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for old, new in LEGACY_KEYS.items():
        section, key = old.split(".")
        block = out.get(section)
        if not isinstance(block, dict) or key not in block:
            continue
        value = block.pop(key)
        if new.startswith("phases."):
            setting = new.rsplit(".", 1)[1]
            phases = out.get("phases")
            phases = out["phases"] = dict(phases) if isinstance(phases, dict) else {}
            lower = (below or {}).get("phases") or {}
            for phase in Phase:
                entry = phases.get(phase.value)
                if isinstance(lower.get(phase.value), dict) and setting in lower[phase.value]:
                    continue
                if entry is None or isinstance(entry, dict):
                    phases[phase.value] = {setting: value, **(entry or {})}
            how = f"sets {new} of every phase that does not set its own"
        elif old == "storage.backup_enabled":
            if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:  # from the environment
                value = _BOOL_WORDS[value.strip().lower()]
            if not isinstance(value, bool):
                raise ConfigError(
                    f"storage.backup_enabled ({origin}) must be true or false, got {value!r}; "
                    f"better, use storage.backup_interval (e.g. 1d, or null for no backups)"
                )
            if not value:
                block["backup_interval"] = None
            elif block.get("backup_interval") is None:
                block["backup_interval"] = LEGACY_BACKUP_INTERVAL
            how = (
                f"is read as {new} (false: no scheduled backups; true: {LEGACY_BACKUP_INTERVAL} unless "
                f"{new} is set)"
            )
        else:
            block.setdefault(new.split(".", 1)[1], value)
            how = f"is read as {new}"
        if (old, origin) not in _legacy_noted:
            _legacy_noted.add((old, origin))
            sys.stderr.write(
                f"note: {old} ({origin}) is the design document's name; it {how}. Rename it to "
                f"{new} to silence this note.\n"
            )
    return out


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


# ------------------------------------------------------------------------------------------------ loading


@dataclass
class LoadedSettings:
    settings: Settings
    paths: Paths
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def database_path(self) -> Path:
        """The SQLite file. With a PostgreSQL `storage.url` there is no file: this names `postgresql` in the data
        folder, whose parent is where local files go (training log, examples, backups); ask
        `storage.url.library_exists` whether the library is there, never this path."""
        if self.settings.storage.url:
            return self.paths.data_dir / "postgresql"
        return Path(self.settings.storage.database_path or self.paths.default_database)

    @property
    def database_location(self) -> str:
        """Where the library is, fit to print: the SQLite file, or the PostgreSQL URL with its password masked."""
        if self.settings.storage.url:
            from prompt_alchemy.storage.url import mask_url

            return mask_url(self.settings.storage.url)
        return str(self.database_path)

    @property
    def database_url(self) -> str | None:
        """The PostgreSQL URL (with its password: never print it; see storage.url.mask_url), or None."""
        return self.settings.storage.url


def nearest_setting(loc: tuple[int | str, ...]) -> str | None:
    """The real setting nearest a mistyped one at the same level (by spelling), as a dotted path, or None."""
    import difflib

    model: Any = Settings
    for part in loc[:-1]:
        model = _sections_model() if model is ProvidersConfig else model
        field = getattr(model, "model_fields", {}).get(str(part))
        if field is None:
            return None
        model = field.annotation
    model = _sections_model() if model is ProvidersConfig else model
    fields = getattr(model, "model_fields", None)
    if not fields or not loc:
        return None
    names = list(fields) + [f.alias for f in fields.values() if f.alias]
    match = difflib.get_close_matches(str(loc[-1]).lower(), names, n=1, cutoff=0.6)
    return ".".join([*(str(p) for p in loc[:-1]), match[0]]) if match else None


def format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            top = err["loc"][0] if err["loc"] else ""
            msg = (
                f"unknown provider name; known providers: {', '.join(all_providers())}"
                if top == "providers" and len(err["loc"]) == 2
                else "unknown setting"
            )
            nearest = nearest_setting(err["loc"])
            if nearest:
                msg += f"; did you mean '{nearest}'?"
        problems.append(f"{loc}: {msg}")
    return problems


def load_settings(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Merge defaults, the YAML file, the environment and flag overrides (dotted keys), and validate."""
    env = dict(os.environ if env is None else env)
    paths = resolve_paths(env, config_file)
    if config_file and not Path(config_file).expanduser().exists():
        raise ConfigError(f"config file {config_file} does not exist; create it with 'prompt-alchemy config init'")
    file_data = apply_legacy_keys(
        _normalize_phase_keys(read_config_file(paths.config_file, env)), f"config file {paths.config_file}"
    )
    env_data, env_origin = env_layer(env)
    env_data = apply_legacy_keys(_normalize_phase_keys(env_data), "environment", below=file_data)
    flag_data: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        _set_path(flag_data, dotted.split("."), value)

    sources: dict[str, str] = {}
    for key in flatten(file_data):
        sources[key] = f"file:{paths.config_file}"
    for key in flatten(env_data):
        sources[key] = env_origin.get(key, "env")
    for key in flatten(flag_data):
        sources[key] = "flag"

    merged = deep_merge(deep_merge(file_data, env_data), flag_data)
    key_data, key_origin = key_file_layer(paths, merged)
    merged = deep_merge(merged, key_data)
    sources.update(key_origin)
    url = merged.get("storage", {}).get("url") if isinstance(merged.get("storage"), dict) else None
    if isinstance(url, str):  # masked in every log line and error from here on, even when it fails validation
        from prompt_alchemy.security import register_url_secret

        register_url_secret(url)
    cache_url = merged.get("cache", {}).get("url") if isinstance(merged.get("cache"), dict) else None
    if isinstance(cache_url, str):  # the Redis password too
        from prompt_alchemy.security import register_url_secret

        register_url_secret(cache_url)
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError("invalid configuration: " + "; ".join(format_validation_error(exc))) from exc
    follow_keys_for_embeddings(settings, sources)
    return LoadedSettings(settings=settings, paths=paths, sources=sources)


def local_embedder_problem() -> str | None:
    """Why the local embedder (MiniLM on onnxruntime) cannot run here, or None; looks for packages and files only."""
    from prompt_alchemy.embeddings.local import LocalEmbedder

    return LocalEmbedder().unavailable_reason()


def follow_keys_for_embeddings(settings: Settings, sources: dict[str, str]) -> None:
    """Embeddings follow the keys: when nobody chose `generation.embedding_provider` and the local embedder is not
    installed, the first provider that embeds and has a key (OpenAI, then Google ...) becomes the embedder, with
    its own model and dimensions, so saved prompts are embedded and search is semantic. A library embedded by
    another model is never mixed with it: search reads only the embedder's vectors (`reembed` converts)."""
    if "generation.embedding_provider" in sources or settings.generation.embedding_provider != "local":
        return
    if local_embedder_problem() is None:
        return
    for name, info in all_providers().items():
        if info.embedding and info.needs_key and provider_has_credentials(settings, name):
            settings.generation.embedding_provider = name
            sources["generation.embedding_provider"] = f"auto:no local embedder, {name} has a key"
            return


# ------------------------------------------------------------------------------------------------ checks


def provider_has_credentials(settings: Settings, name: str) -> bool:
    """False only for a provider that needs an API key (a cloud provider) and has none."""
    info = all_providers().get(name)
    if info is not None and info.needs_key:
        key = getattr(settings.providers.get(name), "api_key", None)
        return bool(key and key.get_secret_value())
    return True


def semantic_problems(settings: Settings) -> list[str]:
    """Problems pydantic cannot see: unknown provider names in phases, missing keys, unknown personas."""
    problems = []
    providers = all_providers()
    for phase in Phase:
        cfg = settings.phases.get(phase)
        for role, name in [("provider", cfg.provider)] + [("fallbacks", f) for f in cfg.fallbacks]:
            if name is None:
                continue
            if name not in providers:
                problems.append(
                    f"phases.{phase.value}.{role}: unknown provider '{name}'; known providers: "
                    f"{', '.join(providers)}"
                )
            elif not provider_has_credentials(settings, name):
                where = ", ".join((*providers[name].key_env_vars[:1], f"providers.{name}.api_key"))
                problems.append(
                    f"phases.{phase.value}.{role}: provider '{name}' has no API key; run "
                    f"'prompt-alchemy keys set {name}', or set {where}"
                )
    if settings.generation.embedding_provider not in providers:
        problems.append(f"generation.embedding_provider: unknown provider '{settings.generation.embedding_provider}'")
    local_model, local_dims = providers["local"].embedding or ("", 0)
    if settings.generation.embedding_provider == "local" and (
        settings.generation.embedding_model,
        settings.generation.embedding_dimensions,
    ) != (local_model, local_dims):
        problems.append(
            f"generation.embedding_model: the local embedder is {local_model} ({local_dims}-d), not "
            f"'{settings.generation.embedding_model}' ({settings.generation.embedding_dimensions}-d); set "
            f"generation.embedding_provider to the provider that serves that model (e.g. openai), or "
            f"remove embedding_model and embedding_dimensions"
        )
    personas = set(BUILTIN_PERSONAS) | set(settings.personas)
    if settings.generation.default_persona not in personas:
        problems.append(
            f"generation.default_persona: unknown persona '{settings.generation.default_persona}'; "
            f"known personas: {', '.join(sorted(personas))}"
        )
    for name, persona in settings.personas.items():
        for key, t in persona.temperatures.items():
            try:
                Phase.parse(key)
            except ValueError as exc:
                problems.append(f"personas.{name}.temperatures: {exc}")
            if not 0 <= t <= 2:
                problems.append(f"personas.{name}.temperatures.{key}: temperature must be between 0 and 2, got {t}")
    return problems


def validate_config(config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the configuration, as one line each (empty when valid)."""
    env = dict(os.environ if env is None else env)
    paths = resolve_paths(env, config_file)
    try:
        file_data = apply_legacy_keys(
            _normalize_phase_keys(read_config_file(paths.config_file, env)), f"config file {paths.config_file}"
        )
        env_data, _ = env_layer(env)
        env_data = apply_legacy_keys(_normalize_phase_keys(env_data), "environment", below=file_data)
    except ConfigError as exc:
        return [str(exc)]
    data = deep_merge(file_data, env_data)
    try:
        data = deep_merge(data, key_file_layer(paths, data)[0])
    except ConfigError as exc:
        return [str(exc)]
    problems: list[str] = []
    for _ in range(5):  # drop each invalid value and retry, so that semantic checks still see the rest
        try:
            settings = Settings(**data)
        except ValidationError as exc:
            problems += format_validation_error(exc)
            for err in exc.errors():
                _drop_path(data, [str(p) for p in err["loc"]])
            continue
        return problems + semantic_problems(settings)
    return problems


def _drop_path(data: dict[str, Any], parts: list[str]) -> None:
    node: Any = data
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The merged config as plain data with every secret masked."""
    data = settings.model_dump(mode="json", by_alias=True)
    for name, section in data["providers"].items():
        if isinstance(section, dict) and section.get("api_key"):
            secret = settings.providers.get(name).api_key.get_secret_value()
            section["api_key"] = mask_secret(secret)
    if data.get("storage", {}).get("url"):
        from prompt_alchemy.storage.url import mask_url

        data["storage"]["url"] = mask_url(data["storage"]["url"])
    return data


def mask_secret(secret: str) -> str:
    """Never reveal any part of a secret: only whether one is set."""
    return "****" if secret else ""


CONFIG_TEMPLATE = """\
# Prompt Alchemy configuration.
# Precedence: built-in defaults < this file < environment (PROMPT_ALCHEMY_SECTION__KEY, JSON for lists) < CLI flags.
# ${VAR} and ${VAR:-default} are replaced from the environment. Never write keys here in plain text:
# reference them as ${OPENAI_API_KEY} and keep the value in your environment or secret manager.

providers:
  openai:
    api_key: ${OPENAI_API_KEY}
    # model: gpt-4o-mini
    # base_url: http://127.0.0.1:8080/v1   # any OpenAI-compatible server (llama.cpp, vLLM, LM Studio)
  anthropic:
    api_key: ${ANTHROPIC_API_KEY}
  google:
    api_key: ${GOOGLE_API_KEY}
  openrouter:
    api_key: ${OPENROUTER_API_KEY}
  ollama:
    host: ${OLLAMA_HOST}
  local:
    # model_path: ~/models/another-model.gguf   # default: the bundled SmolLM2-135M-Instruct
    n_ctx: 8192
    max_tokens_cap: 384

# Per phase: provider (empty = the phase's preferred provider, else the first available), ordered fallbacks,
# temperature (0-2), max_tokens and model.
phases:
  prima-materia:
    temperature: 0.8
    max_tokens: 1500
    fallbacks: [local]
  solutio:
    temperature: 0.7
    max_tokens: 2000
    fallbacks: [local]
  coagulatio:
    temperature: 0.4
    max_tokens: 1000
    fallbacks: [local]

generation:
  default_count: 3
  use_parallel: true
  include_context: false
  default_persona: generic
  embedding_provider: local
  embedding_model: all-MiniLM-L6-v2
  embedding_dimensions: 384
  max_idea_length: 20000

# Provider calls: retries back off exponentially with jitter (Retry-After is honoured up to backoff_max_seconds,
# longer waits fail over at once); answers are cached in the database for cache_ttl_seconds (--no-cache bypasses).
gateway:
  cache: true
  cache_ttl_seconds: 604800
  backoff_base_seconds: 0.5
  backoff_max_seconds: 20
  # prices:                        # USD per million tokens; overrides the shipped table
  #   gpt-4o-mini: {input: 0.15, output: 0.60}

storage:
  # database_path: ~/.local/share/prompt-alchemy/prompts.db
  # url: postgresql://alchemy:${PGPASSWORD}@db.internal:5432/prompts   # PostgreSQL + pgvector instead of SQLite
  max_backups: 5                 # backups kept in the backups folder beside the database
  # backup_interval: 1d          # server mode: back up when this long has passed (s, m, h, d, w)
  # vacuum_interval: 1w          # server mode: vacuum when this long has passed

learning:
  enabled: true
  learning_rate: 0.1
  batch_size: 32
  validation_split: 0.2
  schedule: "02:00"

# Custom personas:
# personas:
#   support:
#     description: Customer-support macros
#     system_prompt: You write prompts for empathetic, accurate customer-support replies.
#     temperatures: {prima-materia: 0.6, coagulatio: 0.2}
"""
