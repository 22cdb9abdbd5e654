"""What a job looks like to its callers: an id, a kind, a status, progress and a result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

JobKind = Literal["batch", "generate", "optimize", "train"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINAL_STATUSES = ("succeeded", "failed", "cancelled")


def job_status(cancelled: bool, counts: dict[str, int]) -> JobStatus:
    """A job's status from its items' counts: cancelled once cancelled and nothing of it runs any more; running
    while an item runs (or some finished and some wait); failed when an item failed; else succeeded."""
    waiting, running = counts.get("queued", 0), counts.get("running", 0)
    if cancelled and not running:
        return "cancelled"
    if running or (waiting and sum(counts.values()) > waiting):
        return "running"
    if waiting:
        return "queued"
    if counts.get("failed", 0):
        return "failed"
    if counts.get("cancelled", 0):
        return "cancelled"
    return "succeeded"


class JobProgress(BaseModel):
    done: int = Field(description="items finished (succeeded or failed)")
    total: int
    succeeded: int = 0
    failed: int = 0
    running: int = 0


class JobItemInfo(BaseModel):
    key: str
    index: int
    status: str
    attempts: int
    result: dict[str, Any] | None = None
    error: str | None = None


class JobInfo(BaseModel):
    """One job as `jobs show` and GET /api/v1/jobs/{id} report it."""

    job: int = Field(description="the job's id")
    kind: JobKind
    status: JobStatus
    progress: JobProgress
    created_at: str
    updated_at: str
    params: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = Field(None, description="the job's result once it has one (a batch: a summary)")
    error: str | None = None
    items: list[JobItemInfo] | None = Field(None, description="a batch's items (jobs show --items)")


class BatchSubmission(BaseModel):
    """A batch submitted over REST or MCP: the ideas (each with optional options) and the batch's defaults."""

    model_config = {"extra": "forbid"}

    items: list[dict[str, Any]] = Field(
        min_length=1, max_length=10_000, description='One object per idea: {"idea": ..., options}, as a JSONL line'
    )
    defaults: dict[str, Any] | None = Field(None, description="Options for items that set none (BatchOptions)")
    save: bool = True


class JobsQuery(BaseModel):
    model_config = {"extra": "forbid"}

    status: JobStatus | None = None
    limit: int = Field(50, ge=1, le=1000)


class JobQuery(BaseModel):
    model_config = {"extra": "forbid"}

    items: bool = Field(False, description="Include each item of a batch")
