"""Pydantic domain types shared by every layer and interface."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticUndefined

from prompt_alchemy.request_fields import MAX_CONTEXT_ITEM_CHARS, REQUEST_FIELDS
from prompt_alchemy.security import CONTROL_CHARS, control_char_problem
from prompt_alchemy.tenancy import current_handle, current_project


def _no_control_chars(value: str) -> str:
    problem = control_char_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


#: Text that a user gives (an idea, a tag, a filter): refused when it holds a control character (C0 other than tab,
#: line feed and carriage return, or DEL), the same on every interface and backend (see security.check_text).
CleanText = Annotated[str, AfterValidator(_no_control_chars)]


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


class Phase(str, Enum):
    """The three alchemical phases, in their canonical order."""

    PRIMA_MATERIA = "prima-materia"
    SOLUTIO = "solutio"
    COAGULATIO = "coagulatio"

    @property
    def alias(self) -> str:
        return _PHASE_ALIASES_BY_PHASE[self]

    @property
    def key(self) -> str:
        """The identifier form used in config attributes and environment variables."""
        return self.value.replace("-", "_")

    @classmethod
    def parse(cls, value: str | Phase) -> Phase:
        if isinstance(value, Phase):
            return value
        name = value.strip().lower().replace("_", "-")
        if name in _PHASE_BY_NAME:
            return _PHASE_BY_NAME[name]
        valid = ", ".join(f"{p.value} ({p.alias})" for p in cls)
        raise ValueError(f"unknown phase '{value}'; valid phases: {valid}")

    @classmethod
    def parse_list(cls, value: str | list[str] | list[Phase]) -> list[Phase]:
        items = value.split(",") if isinstance(value, str) else list(value)
        phases = [cls.parse(v) for v in items if str(v).strip()]
        if not phases:
            raise ValueError("no phases given")
        if len(set(phases)) != len(phases):
            raise ValueError("a phase is listed twice")
        order = list(cls)
        if phases != sorted(phases, key=order.index):
            raise ValueError("phases must be in order: prima-materia, solutio, coagulatio")
        return phases


_PHASE_ALIASES_BY_PHASE = {
    Phase.PRIMA_MATERIA: "idea",
    Phase.SOLUTIO: "human",
    Phase.COAGULATIO: "precision",
}
_PHASE_BY_NAME = {p.value: p for p in Phase} | {a: p for p, a in _PHASE_ALIASES_BY_PHASE.items()}


class PhaseConfig(BaseModel):
    """Per-phase generation settings. `provider=None` means: the phase's preferred provider, else the first
    available one."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = None
    fallbacks: list[str] = Field(default_factory=list)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1000, ge=1, le=200_000)
    model: str | None = None


class Persona(BaseModel):
    """A persona shapes what every phase is asked for: a system prompt, guidance and per-phase temperatures."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    system_prompt: str = ""
    guidance: str = ""
    temperatures: dict[str, float] = Field(default_factory=dict)

    @field_validator("temperatures")
    @classmethod
    def _check_temperatures(cls, v: dict[str, float]) -> dict[str, float]:
        out = {}
        for key, t in v.items():
            phase = Phase.parse(key)
            if not 0.0 <= t <= 2.0:
                raise ValueError(f"temperature for {phase.value} must be between 0 and 2, got {t}")
            out[phase.value] = t
        return out


#: The built-in personas; custom ones come from config (`personas:`) and may shadow these.
BUILTIN_PERSONAS: dict[str, Persona] = {
    "generic": Persona(name="generic", description="General-purpose prompts for any task."),
    "code": Persona(
        name="code",
        description="Software engineering: code generation, review, debugging, tooling.",
        system_prompt="You specialize in prompts for software engineering tasks.",
        guidance="Make the prompt name the language and environment, the inputs and outputs, error handling, "
        "edge cases and tests, and ask for code in fenced blocks.",
        temperatures={"prima-materia": 0.7, "solutio": 0.5, "coagulatio": 0.2},
    ),
    "writing": Persona(
        name="writing",
        description="Writing and content: articles, newsletters, stories, copy.",
        system_prompt="You specialize in prompts for writing and content creation.",
        guidance="Make the prompt state the audience, tone and voice, length, structure of the piece and what "
        "makes it engaging.",
        temperatures={"prima-materia": 0.9, "solutio": 0.8, "coagulatio": 0.5},
    ),
    "analysis": Persona(
        name="analysis",
        description="Analysis and research: data, evidence, reasoning, reports.",
        system_prompt="You specialize in prompts for analysis and research tasks.",
        guidance="Make the prompt state the question, the data or sources, the method, the assumptions to "
        "check, and a structured findings format with confidence levels.",
        temperatures={"prima-materia": 0.6, "solutio": 0.5, "coagulatio": 0.3},
    ),
}


class ContextItem(BaseModel):
    """Extra material given to the phases (for example a file's text), stored in `prompt_context`."""

    source: str = Field(max_length=1000, description="Where the text comes from (a file name, a URL, a note).")
    content: str = Field(max_length=MAX_CONTEXT_ITEM_CHARS, description="The text given to the phases.")
    context_type: str = Field("file", max_length=50, description="What kind of material it is: file, text, ...")


def _idea_text(value: Any) -> Any:
    """The idea stripped; one of only whitespace or control characters is no idea at all."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not CONTROL_CHARS.sub("", value).strip():
        raise ValueError("the idea is empty; pass it as an argument or on stdin")
    return _no_control_chars(value)


def _phase_list(value: Any) -> Any:
    if isinstance(value, str):
        return Phase.parse_list(value)
    return Phase.parse_list(list(value)) if isinstance(value, (list, tuple)) else value


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in tags if t.strip()))


def _clean_context(items: list[ContextItem]) -> list[ContextItem]:
    for item in items:
        problem = control_char_problem(item.content)
        if problem is not None:
            raise ValueError(f"the context from {item.source[:200]} {problem}")
    return items


_PHASE_NAMES = [name for phase in Phase for name in (phase.value, phase.alias)]

#: The types carry their own validators, so a model derived from PromptRequest's fields (the REST body, the MCP
#: tool's arguments) validates exactly as PromptRequest does.
IdeaText = Annotated[str, BeforeValidator(_idea_text)]
PhaseList = Annotated[
    list[Phase],
    BeforeValidator(_phase_list),
    WithJsonSchema({"type": "array", "items": {"type": "string", "enum": _PHASE_NAMES}}),
]
TagList = Annotated[list[CleanText], AfterValidator(_unique_tags)]
ContextList = Annotated[list[ContextItem], AfterValidator(_clean_context)]


def _spec(name: str, default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A `Field` with the description and limits that `REQUEST_FIELDS` declares for `name`."""
    spec = REQUEST_FIELDS[name]
    return Field(default, description=spec.description, **spec.limits(), **kwargs)


class PromptRequest(BaseModel):
    """Everything a generation run needs. Its fields' descriptions and limits come from `REQUEST_FIELDS`; every
    interface (CLI options, the REST body, the MCP tool's arguments) derives from this model. Validated before any
    provider call or database write; `AlchemyService.build_request` fills the defaults that come from the settings
    (`CONFIG_DEFAULTS`) and reads `context_files` into `context`."""

    model_config = ConfigDict(extra="forbid")

    idea: IdeaText = _spec("idea")
    phases: PhaseList = _spec("phases", default_factory=lambda: list(Phase))
    count: int = _spec("count", 3)
    persona: CleanText = _spec("persona", "generic")
    target_model: CleanText | None = _spec("target_model", None)
    provider: CleanText | None = _spec("provider", None)
    temperature: float | None = _spec("temperature", None)
    max_tokens: int | None = _spec("max_tokens", None)
    tags: TagList = _spec("tags", default_factory=list)
    context: ContextList = _spec("context", default_factory=list)
    context_files: list[Path] = _spec("context_files", default_factory=list)
    save: bool = _spec("save", True)
    judge: bool = _spec("judge", False)
    use_cache: bool = _spec("use_cache", True)
    max_cost: float | None = _spec("max_cost", None)


#: Fields whose default comes from the `generation` settings, by field name: the setting's name.
CONFIG_DEFAULTS: dict[str, str] = {
    "count": "default_count",
    "persona": "default_persona",
    "target_model": "default_target_model",
}


def partial_request_fields(*, exclude: Iterable[str] = ()) -> dict[str, tuple[Any, Any]]:
    """PromptRequest's fields as an interface takes them (`create_model` definitions): the same types, validators,
    descriptions and limits; `idea` required, the flags with their defaults, every other field optional with None
    meaning "the default" (from the settings or from PromptRequest), which `build_request` fills."""
    out: dict[str, tuple[Any, Any]] = {}
    for name, info in PromptRequest.model_fields.items():
        if name in exclude:
            continue
        annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        if info.is_required():
            out[name] = (annotation, Field(description=info.description))
        elif info.annotation is bool:
            out[name] = (annotation, Field(info.default, description=info.description))
        else:
            out[name] = (annotation | None, Field(None, description=info.description))
    return out


class Prompt(BaseModel):
    """One stored prompt: every column of the `prompts` table."""

    id: str = Field(default_factory=new_id)
    content: str
    content_hash: str = ""
    title: str | None = None
    phase: Phase | None = None
    variant: int | None = None
    provider: str = ""
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    actual_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    tags: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    session_id: str | None = None
    source_type: str = "generated"
    enhancement_method: str | None = None
    relevance_score: float = 1.0
    score: float | None = None
    usage_count: int = 0
    generation_count: int = 0
    last_used_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    embedding: list[float] | None = Field(default=None, repr=False)
    embedding_model: str | None = None
    embedding_provider: str | None = None
    embedding_dim: int | None = None
    original_input: str | None = None
    generation_request: dict[str, Any] | None = None
    generation_context: list[dict[str, Any]] | None = None
    persona_used: str | None = None
    target_model_family: str | None = None
    target_model: str | None = None
    notes: str | None = None
    project_id: str = Field(default_factory=current_project)
    created_by: str | None = Field(default_factory=current_handle)

    def set_embedding(self, vector: Any, embedder: Any) -> None:
        """Attach `vector` (from `embedder`: its model, provider and dimensions go with it), or clear all four
        fields with `vector` None."""
        if vector is None:
            self.embedding = self.embedding_model = self.embedding_provider = self.embedding_dim = None
            return
        self.embedding = vector.tolist() if hasattr(vector, "tolist") else list(vector)
        self.embedding_model, self.embedding_provider = embedder.model, embedder.provider
        self.embedding_dim = embedder.dimensions

    def model_post_init(self, __context: Any) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.content)
        if not self.actual_tokens:
            self.actual_tokens = self.input_tokens + self.output_tokens


class ScoreComponent(BaseModel):
    """One part of a score: its 0-1 value, its weight and why it got that value. `weight_source` says where the
    weight came from: "default" (the built-in rubric), "config" (the `ranking` section of your config) or "learned"
    (an adopted model re-weighted it from your feedback; `default_weight` is then the weight it had before). A
    negative learned weight means you prefer the check failed: the component then counts ``1 - value``."""

    name: str
    value: float
    weight: float
    reason: str
    weight_source: Literal["default", "config", "learned"] = "default"
    default_weight: float | None = None


class PromptScore(BaseModel):
    """A prompt's score: the weighted total, every component with its value, weight and reason, notes, and why
    it is not a usable prompt when it fails a non-prompt check."""

    total: float
    components: list[ScoreComponent]
    notes: list[str] = Field(default_factory=list)  # e.g. "judge: unscored (...)"
    #: Why this text is not a usable prompt (the non-prompt checks it failed); empty when it is one.
    rejected: list[str] = Field(default_factory=list)

    @property
    def rank_key(self) -> tuple[int, float]:
        """Sort key, best last: any usable prompt ranks above every rejected one, then by total."""
        return (0 if self.rejected else 1, self.total)


class MetricRecord(BaseModel):
    """One row of the `metrics` table: a provider call, a phase timing, a failover or an error."""

    id: str = Field(default_factory=new_id)
    kind: str = "generation"
    prompt_id: str | None = None
    session_id: str | None = None
    phase: str | None = None
    provider: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    success: bool = True
    detail: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class GenerationResult(BaseModel):
    """The outcome of one generation run: every prompt of every phase, and the best final prompt."""

    session_id: str
    idea: str
    phases: list[Phase]
    persona: str
    target_model: str | None
    prompts: list[Prompt]
    scores: dict[str, PromptScore] = Field(default_factory=dict)
    best_id: str | None = None
    saved: bool = True
    wall_ms: float = 0.0
    model_ms: float = 0.0
    events: list[str] = Field(default_factory=list)
    metrics: list[MetricRecord] = Field(default_factory=list, exclude=True)

    @property
    def best(self) -> Prompt | None:
        return next((p for p in self.prompts if p.id == self.best_id), None)

    def final_prompts(self) -> list[Prompt]:
        last = self.phases[-1]
        return [p for p in self.prompts if p.phase == last]

    @property
    def total_tokens(self) -> int:
        return sum(p.actual_tokens for p in self.prompts)

    def public_dict(self) -> dict[str, Any]:
        """The documented JSON shape shared by the CLI (`--output json`) and the MCP tools."""

        def item(p: Prompt) -> dict[str, Any]:
            return {
                "id": p.id,
                "phase": p.phase.value if p.phase else None,
                "variant": p.variant,
                "content": p.content,
                "provider": p.provider,
                "model": p.model,
                "parent_id": p.parent_id,
                "score": p.score,
                "temperature": p.temperature,
                "input_tokens": p.input_tokens,
                "output_tokens": p.output_tokens,
                "cost_usd": p.cost_usd,
                "latency_ms": p.latency_ms,
                "embedding_model": p.embedding_model,
            }

        best = self.best
        return {
            "session_id": self.session_id,
            "idea": self.idea,
            "phases": [p.value for p in self.phases],
            "persona": self.persona,
            "target_model": self.target_model,
            "saved": self.saved,
            "prompts": [item(p) for p in self.prompts],
            "best": item(best) if best else None,
            "scores": {pid: s.model_dump() for pid, s in self.scores.items()},
            "total_tokens": self.total_tokens,
            "total_cost_usd": round(self.total_cost, 6),
            "wall_ms": round(self.wall_ms, 1),
            "model_ms": round(self.model_ms, 1),
            "events": self.events,
        }

    @property
    def total_cost(self) -> float:
        return sum(p.cost_usd for p in self.prompts)


# ------------------------------------------------------------------------------------------------ library

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in '90s', '15m', '6h', '1d', '2w' (or a bare number of seconds)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text).lower())
    if not match:
        raise ValueError(f"'{text}' is not a duration; use a number with s, m, h, d or w (e.g. 12h, 7d)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


def parse_when(value: Any, *, end_of_day: bool = False) -> datetime | None:
    """A point in time from a datetime, an ISO date or datetime, or an age such as '7d' (that long ago).
    A bare date means its start, or with `end_of_day` the start of the next day (so `--until DATE` includes it)."""
    from datetime import date, timedelta

    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        value = value.isoformat()
    text = str(value).strip()
    try:
        try:
            return utcnow() - timedelta(seconds=parse_duration(text))
        except ValueError:
            pass
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                return start + timedelta(days=1) if end_of_day else start
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"'{text[:60]}' is not a date (YYYY-MM-DD), an ISO datetime or an age like 7d") from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"'{text[:60]}' is out of range; give a date between 0001-01-02 and 9999-12-30 or a " f"shorter age"
        ) from None


class SearchFilters(BaseModel):
    """Restrictions applied before ranking, over the whole library. Empty fields do not filter."""

    model_config = ConfigDict(extra="forbid")

    phase: list[Phase] = Field(default_factory=list, description="any of these phases")
    provider: CleanText | None = None
    model: CleanText | None = None
    persona: CleanText | None = None
    tags: list[CleanText] = Field(default_factory=list, description="every one of these tags")
    since: datetime | None = Field(None, description="created at or after: ISO date/datetime or an age like 7d")
    until: datetime | None = Field(None, description="created before: ISO date (inclusive) or datetime, or an age")
    min_rating: float | None = Field(None, ge=1, le=5, description="average feedback rating at least this")
    session_id: CleanText | None = None
    source_type: CleanText | None = Field(None, description="generated, imported, edited, optimized ...")

    @field_validator("phase", mode="before")
    @classmethod
    def _phases(cls, v: Any) -> Any:
        if v is None or v == "":
            return []
        items = v.split(",") if isinstance(v, str) else [v] if isinstance(v, Phase) else list(v)
        return [Phase.parse(x) for x in items if str(x).strip()]

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> Any:
        if v is None:
            return []
        items = v.split(",") if isinstance(v, str) else [t for x in v for t in str(x).split(",")]
        return list(dict.fromkeys(t.strip() for t in items if t.strip()))

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, v: Any) -> Any:
        return parse_when(v)

    @field_validator("until", mode="before")
    @classmethod
    def _until(cls, v: Any) -> Any:
        return parse_when(v, end_of_day=True)

    def is_empty(self) -> bool:
        return self == SearchFilters()


class SearchResult(BaseModel):
    """One hit: the prompt, its fused score, and where it ranked in each list that found it."""

    prompt: Prompt
    score: float
    mode: Literal["hybrid", "semantic", "text"]
    text_rank: int | None = None
    semantic_rank: int | None = None
    similarity: float | None = None

    def public_dict(self) -> dict[str, Any]:
        p = self.prompt
        return {
            "id": p.id,
            "content": p.content,
            "score": round(self.score, 6),
            "phase": p.phase.value if p.phase else None,
            "tags": p.tags,
            "created_at": p.created_at.isoformat(),
            "title": p.title,
            "provider": p.provider,
            "model": p.model,
            "persona": p.persona_used,
            "parent_id": p.parent_id,
            "similarity": None if self.similarity is None else round(self.similarity, 6),
            "text_rank": self.text_rank,
            "semantic_rank": self.semantic_rank,
        }


class ImportReport(BaseModel):
    """What an import did. `errors` name the malformed rows by line (or item) number; nothing of them was
    written."""

    path: str
    format: str
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    failed: int = 0
    embedded: int = 0
    embedding_model: str | None = None
    labels: int = 0
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    wall_ms: float = 0.0


# ------------------------------------------------------------------------------------------- batch generation


class BatchOptions(BaseModel):
    """Generation options for batch items; an unset option falls back to the batch defaults, then to config."""

    model_config = ConfigDict(extra="forbid")

    phases: list[Phase] | None = _spec("phases", None)
    count: int | None = _spec("count", None)
    persona: str | None = _spec("persona", None)
    target_model: str | None = _spec("target_model", None)
    provider: str | None = _spec("provider", None)
    temperature: float | None = _spec("temperature", None)
    max_tokens: int | None = _spec("max_tokens", None)
    tags: list[str] | None = _spec("tags", None)

    @field_validator("phases", mode="before")
    @classmethod
    def _parse_phases(cls, v: Any) -> Any:
        return None if v is None or v == "" else Phase.parse_list(v)

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, v: Any) -> Any:
        return [t.strip() for t in v.split(",") if t.strip()] if isinstance(v, str) else v


class BatchItem(BatchOptions):
    """One idea of a batch. `id` is an optional key of your own; without it the idea and its options are the key
    (a repeated identical item counts as a separate item)."""

    idea: str = Field(description="the raw idea")
    id: CleanText | None = Field(None, max_length=200, description="your own stable key for this item")


class BatchItemResult(BaseModel):
    """The outcome of one batch item: one line of the results file."""

    key: str
    index: int = Field(description="1-based position in the input")
    idea: str
    status: Literal["ok", "error", "skipped", "planned"]
    session_id: str | None = None
    best_id: str | None = None
    best: str | None = None
    best_score: float | None = None
    prompt_ids: list[str] = Field(default_factory=list)
    saved: bool = False
    error: str | None = None
    total_tokens: int = 0
    cost_usd: float = 0.0
    wall_ms: float = 0.0


class BatchReport(BaseModel):
    """What a batch run did: `skipped` items were finished by an earlier run (--resume); `planned` ones by a
    dry run."""

    total: int
    generated: int = 0
    failed: int = 0
    skipped: int = 0
    dry_run: bool = False
    results_file: str | None = None
    wall_ms: float = 0.0
    items: list[BatchItemResult] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------ learning

FEEDBACK_SOURCES: tuple[str, ...] = ("cli", "mcp", "api", "viewer")


class Feedback(BaseModel):
    """One row of the `feedback` table: a 1-5 rating of a prompt, or a choice (`chosen` 1 for the prompt a user
    picked among its sibling variants, 0 for each sibling passed over)."""

    id: str = Field(default_factory=new_id)
    prompt_id: str
    session_id: str | None = None
    rating: int | None = Field(None, ge=1, le=5)
    chosen: bool | None = None
    comment: str | None = None
    source: str = "cli"
    created_at: datetime = Field(default_factory=utcnow)


class ModelVersion(BaseModel):
    """One trained learning-to-rank model: a row of the `models` table. `weights` apply to the features after
    normalization ((value - mean) / scale, per `normalization`); the model's score is the logistic of their sum."""

    id: str = Field(default_factory=new_id)
    version: int = Field(0, description="1, 2, ...: assigned when the version is stored")
    kind: str = "pairwise-logistic"
    status: Literal["adopted", "rejected"]
    active: bool = False
    feature_names: list[str]
    weights: dict[str, float]
    normalization: dict[str, tuple[float, float]]
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    training_size: int
    train_pairs: int
    validation_pairs: int
    trigger: str = "cli"
    created_at: datetime = Field(default_factory=utcnow)
