"""The API's request and response models: validated at the boundary, and the source of the OpenAPI schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from prompt_alchemy.models import partial_request_fields

PhaseName = Literal["prima-materia", "solutio", "coagulatio", "idea", "human", "precision"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------ requests

#: PromptRequest's fields that the REST body leaves out: `context_files` names paths on the machine that reads them,
#: and over HTTP that is the server, so a client could make it read its files; send the text as `context` items.
GENERATE_EXCLUDED = frozenset({"context_files"})

#: The generate body: PromptRequest's fields with their descriptions and limits (see `partial_request_fields`), but
#: `GENERATE_EXCLUDED`, plus `stream`, which is about the HTTP answer rather than the request.
GenerateIn = create_model(  # type: ignore[call-overload]
    "GenerateIn",
    __base__=_In,
    __doc__="A generate request: the fields of PromptRequest, but server paths.",
    **partial_request_fields(exclude=GENERATE_EXCLUDED),
    stream=(
        bool,
        Field(
            False,
            description="Answer with server-sent events: phase progress, the final phase's "
            "text as it arrives (token events), then the result.",
        ),
    ),
)


class ListQuery(_In):
    limit: int = Field(20, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10**12)
    phase: str | None = Field(None, max_length=200, description="Comma-separated phases.")
    provider: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=200)
    persona: str | None = Field(None, max_length=100)
    tags: str | None = Field(None, max_length=1000, description="Comma-separated tags; all must match.")
    since: str | None = Field(None, max_length=40, description="ISO date/datetime or an age like 7d.")
    until: str | None = Field(None, max_length=40)
    min_rating: float | None = Field(None, ge=1, le=5)
    session_id: str | None = Field(None, max_length=100)
    source_type: str | None = Field(None, max_length=50)


class SearchQuery(_In):
    q: str = Field(min_length=1, max_length=10_000, description="Words or a description of the prompt wanted.")
    mode: Literal["hybrid", "semantic", "text"] = "hybrid"
    limit: int = Field(10, ge=1, le=100)
    phase: str | None = Field(None, max_length=200)
    provider: str | None = Field(None, max_length=100)
    tags: str | None = Field(None, max_length=1000)
    since: str | None = Field(None, max_length=40)
    min_rating: float | None = Field(None, ge=1, le=5)


class GetQuery(_In):
    lineage: bool = Field(True, description="Include ancestors and descendants.")


class UpdateIn(_In):
    content: str | None = Field(None, min_length=1)
    tags: list[str] | None = None
    notes: str | None = None


class RateIn(_In):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=5000)


class FeedbackQuery(_In):
    prompt_id: str | None = Field(None, max_length=100)
    session_id: str | None = Field(None, max_length=100)
    kind: Literal["rating", "choice"] | None = None
    since: str | None = Field(None, max_length=40)
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10**12)


class MetricsQuery(_In):
    since: str | None = Field(None, max_length=40)
    phase: PhaseName | None = None
    provider: str | None = Field(None, max_length=100)


class ProvidersQuery(_In):
    check: bool = Field(False, description="Contact each configured provider.")


class TrainIn(_In):
    dry_run: bool = False


class ImportIn(_In):
    format: Literal["json", "jsonl", "csv"] = Field(description="The format of `content`.")
    content: str = Field(min_length=1, description="The file's text.")


class ExportQuery(_In):
    format: Literal["jsonl", "json", "markdown", "text"] = "jsonl"
    phase: str | None = Field(None, max_length=200)
    provider: str | None = Field(None, max_length=100)
    tags: str | None = Field(None, max_length=1000)
    since: str | None = Field(None, max_length=40)


class AuditQuery(_In):
    actor: str | None = Field(None, max_length=100)
    action: str | None = Field(None, max_length=50)
    target: str | None = Field(None, max_length=100)
    since: str | None = Field(None, max_length=40)
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10**12)


# ------------------------------------------------------------------ responses


class ErrorBody(BaseModel):
    code: str = Field(
        description="A stable code: bad_input, unauthorized, forbidden, not_found, conflict, "
        "rate_limited, internal_error, ..."
    )
    message: str
    request_id: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


class PromptOut(_Out):
    id: str
    content: str
    phase: str | None = None
    tags: list[str] = []
    created_at: str
    created_by: str | None = Field(None, description="The API key (or 'local') that created it, when recorded.")


class PromptList(_Out):
    total: int
    count: int
    prompts: list[PromptOut]


class LineageOut(_Out):
    ancestors: list[PromptOut]
    descendants: list[PromptOut]


class PromptDetail(_Out):
    prompt: PromptOut
    lineage: LineageOut | None = None


class HistoryOut(_Out):
    count: int
    versions: list[PromptOut]


class SearchHit(_Out):
    id: str
    content: str
    score: float


class SearchOut(_Out):
    query: str
    mode: str
    count: int
    results: list[SearchHit]


class GenerationOut(_Out):
    session_id: str
    prompts: list[dict[str, Any]]
    saved: bool


class DeletedOut(BaseModel):
    deleted: str


class FeedbackOut(_Out):
    id: str
    prompt_id: str
    rating: int | None = None
    chosen: bool | None = None
    created_at: str
    actor: str | None = None


class FeedbackList(_Out):
    count: int
    feedback: list[FeedbackOut]


class ImportOut(_Out):
    imported: int
    duplicates: int
    failed: int


class AuditRow(_Out):
    id: int
    created_at: str
    actor: str
    action: str
    targets: list[str]
    outcome: str


class AuditList(_Out):
    count: int
    rows: list[AuditRow]


class AnyObject(_Out):
    """A JSON object (see the route's description for its fields)."""


class ProviderList(_Out):
    providers: list[dict[str, Any]]
