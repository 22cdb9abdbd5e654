"""The REST routes under /api/v1: thin handlers that validate their input with the models in `api/schemas.py`,
call one AlchemyService method and return JSON. The table `ENDPOINTS` is also the source of the OpenAPI schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from prompt_alchemy.api import schemas
from prompt_alchemy.api.errors import ApiError, validation_message
from prompt_alchemy.jobs import models as jm

if TYPE_CHECKING:
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.services import AlchemyService

PREFIX = "/api/v1"
MAX_IMPORT_BYTES = 20 * 1024 * 1024
SSE_PING_S = 15.0  # a keep-alive comment on a quiet event stream


@dataclass
class Call:
    """What a handler gets: the service, path parameters, the validated query and body."""

    service: AlchemyService
    path: dict[str, str]
    query: Any
    body: Any
    search_slots: asyncio.Semaphore
    accept: str = ""
    prefer: str = ""  # the Prefer header: "respond-async" makes generate and train a job (202)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Callable[[Call], Awaitable[Any]]
    scope: str
    summary: str
    response: type[BaseModel] | None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    media: str = "application/json"
    tags: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------ helpers


def prompt_out(p: Prompt, creators: dict[str, str] | None = None) -> dict[str, Any]:
    data = p.model_dump(mode="json", exclude={"embedding", "generation_request", "generation_context"})
    data["created_by"] = (creators or {}).get(p.id)
    return data


def filters_from(query: Any, names: tuple[str, ...]) -> Any:
    from prompt_alchemy.models import SearchFilters

    values = {n: getattr(query, n) for n in names if getattr(query, n, None) is not None}
    try:
        return SearchFilters(**values) if values else None
    except ValidationError as exc:
        raise ApiError("bad_input", validation_message(exc)) from None
    except ValueError as exc:
        raise ApiError("bad_input", str(exc)) from None


_LIST_FILTERS = (
    "phase",
    "provider",
    "model",
    "persona",
    "tags",
    "since",
    "until",
    "min_rating",
    "session_id",
    "source_type",
)


# ------------------------------------------------------------------ handlers


async def generate(c: Call) -> Any:
    body: BaseModel = c.body  # an schemas.GenerateIn: PromptRequest's fields, but server paths, and `stream`
    svc = c.service
    request = svc.build_request(body.model_dump(exclude_unset=True, exclude={"stream"}))
    if _wants_async(c):
        return _accepted(await svc.jobs.submit_generate(request))
    if getattr(body, "stream", False) or "text/event-stream" in c.accept:
        return _generate_events(svc, request)
    result = await svc.generate(request)
    return result.public_dict()


def _generate_events(svc: AlchemyService, request: Any) -> Any:
    """Server-sent events (sse-starlette): `progress` after each phase call, `token` for each piece of a variant's
    final-phase text as it arrives (see TokenEvent), then `result` (or `error`) and the stream ends. A comment
    line every SSE_PING_S keeps proxies from closing a quiet stream; when the client leaves, the generation is
    cancelled."""
    from sse_starlette import EventSourceResponse, ServerSentEvent

    from prompt_alchemy.api.errors import from_exception

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    total = len(request.phases) * request.count

    def on_progress(event: Any) -> None:
        data = {"done": event.done, "total": total, "phase": event.phase.value, "variant": event.variant}
        loop.call_soon_threadsafe(queue.put_nowait, ("progress", data))

    def on_token(event: Any) -> None:
        data = {
            "phase": event.phase.value,
            "variant": event.variant,
            "delta": event.delta,
            "assembled": event.assembled,
        }
        loop.call_soon_threadsafe(queue.put_nowait, ("token", data))

    async def run() -> None:
        try:
            result = await svc.generate(request, on_progress, on_token=on_token)
            await queue.put(("result", result.public_dict()))
        except Exception as exc:  # noqa: BLE001 - reported as an event
            err = from_exception(exc)
            await queue.put(("error", {"code": err.code, "message": err.message}))

    async def events() -> Any:
        task = asyncio.ensure_future(run())
        try:
            while True:
                kind, data = await queue.get()
                yield ServerSentEvent(json.dumps(data, ensure_ascii=False, default=str), event=kind)
                if kind in ("result", "error"):
                    break
        finally:  # the stream ended, or the client left (sse-starlette cancels this generator)
            if not task.done():
                task.cancel()

    return EventSourceResponse(events(), ping=SSE_PING_S, sep="\n", headers={"Cache-Control": "no-cache"})


async def search(c: Call) -> Any:
    q: schemas.SearchQuery = c.query
    filters = filters_from(q, ("phase", "provider", "tags", "since", "min_rating"))
    async with c.search_slots:
        results = await c.service.search(q.q, mode=q.mode, filters=filters, limit=q.limit)
    items = [r.public_dict() for r in results]
    return {"query": q.q, "mode": q.mode, "count": len(items), "results": items}


async def list_prompts(c: Call) -> Any:
    q: schemas.ListQuery = c.query
    filters = filters_from(q, _LIST_FILTERS)
    prompts = await c.service.list_prompts(filters, limit=q.limit, offset=q.offset)
    creators = await c.service.creators([p.id for p in prompts])
    return {
        "total": await c.service.count_prompts(filters),
        "count": len(prompts),
        "prompts": [prompt_out(p, creators) for p in prompts],
    }


async def get_prompt(c: Call) -> Any:
    svc = c.service
    prompt = await svc.get_prompt(c.path["id"])
    data: dict[str, Any] = {"prompt": prompt}
    if c.query.lineage:
        data["lineage"] = await svc.lineage(prompt.id)
    everyone = [prompt] + [p for ps in data.get("lineage", {}).values() for p in ps]
    creators = await svc.creators([p.id for p in everyone])
    out: dict[str, Any] = {"prompt": prompt_out(prompt, creators)}
    named = (await svc.names_for([prompt.id])).get(prompt.id)
    out["prompt"]["name"], out["prompt"]["version"] = named if named else (None, None)
    out["prompt"]["labels"] = (await svc.labels_for([prompt.id])).get(prompt.id, [])
    if "lineage" in data:
        out["lineage"] = {k: [prompt_out(p, creators) for p in v] for k, v in data["lineage"].items()}
    return out


async def update_prompt(c: Call) -> Any:
    b: schemas.UpdateIn = c.body
    new = await c.service.update_prompt(c.path["id"], content=b.content, tags=b.tags, notes=b.notes)
    return {"prompt": prompt_out(new, await c.service.creators([new.id])), "previous_id": new.parent_id}


async def history(c: Call) -> Any:
    versions = await c.service.history(c.path["id"])
    creators = await c.service.creators([p.id for p in versions])
    return {"count": len(versions), "versions": [prompt_out(p, creators) for p in versions]}


async def delete_prompt(c: Call) -> Any:
    full = await c.service.resolve_id(c.path["id"])
    await c.service.delete_prompt(full)
    return {"deleted": full}


async def rate(c: Call) -> Any:
    b: schemas.RateIn = c.body
    row = await c.service.rate(c.path["id"], b.score, comment=b.comment, source="api")
    from prompt_alchemy.services.access import current_actor

    return {**row.model_dump(mode="json"), "actor": current_actor()}


async def feedback(c: Call) -> Any:
    q: schemas.FeedbackQuery = c.query
    rows = await c.service.list_feedback(
        q.prompt_id, session_id=q.session_id, kind=q.kind, since=q.since, limit=q.limit, offset=q.offset
    )
    actors = await c.service.creators([r.id for r in rows])
    return {"count": len(rows), "feedback": [{**r.model_dump(mode="json"), "actor": actors.get(r.id)} for r in rows]}


async def metrics(c: Call) -> Any:
    q: schemas.MetricsQuery = c.query
    from prompt_alchemy.public_errors import public_report

    filters_from(q, ("since", "phase", "provider"))  # the typed filters refuse bad values here (400)
    return public_report(await c.service.metrics_report(since=q.since, phase=q.phase, provider=q.provider))


async def providers(c: Call) -> Any:
    return {"providers": await c.service.providers_status(check=c.query.check)}


async def train(c: Call) -> Any:
    if _wants_async(c):
        return _accepted(await c.service.jobs.submit_train(dry_run=c.body.dry_run))
    report = await c.service.train(c.body.dry_run, trigger="api")
    return report.model_dump(mode="json")


async def learning_status(c: Call) -> Any:
    return await c.service.learning_status()


async def import_prompts(c: Call) -> Any:
    import os
    import tempfile

    b: schemas.ImportIn = c.body
    if len(b.content.encode()) > MAX_IMPORT_BYTES:
        raise ApiError("payload_too_large", f"the import is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
    fd, path = tempfile.mkstemp(suffix=f".{b.format}", prefix="prompt-alchemy-import-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(b.content)
        report = await c.service.import_prompts(path, b.format)
    finally:
        os.unlink(path)
    data = report.model_dump(mode="json")
    data["path"] = "(request body)"
    return data


async def export(c: Call) -> Any:
    import io

    from starlette.responses import Response

    q: schemas.ExportQuery = c.query
    filters = filters_from(q, ("phase", "provider", "tags", "since"))
    buf = io.StringIO()
    count = await c.service.export_prompts(buf, q.format, filters)
    media = {
        "jsonl": "application/x-ndjson",
        "json": "application/json",
        "markdown": "text/markdown",
        "text": "text/plain",
    }[q.format]
    return Response(buf.getvalue(), media_type=f"{media}; charset=utf-8", headers={"X-Prompt-Count": str(count)})


async def audit(c: Call) -> Any:
    q: schemas.AuditQuery = c.query
    rows = await c.service.list_audit(
        actor_name=q.actor, action=q.action, target=q.target, since=q.since, limit=q.limit, offset=q.offset
    )
    return {"count": len(rows), "rows": rows}


# ------------------------------------------------------------------ jobs


def _wants_async(c: Call) -> bool:
    return any(p.strip().lower() == "respond-async" for p in c.prefer.replace(";", ",").split(","))


def _accepted(info: Any) -> Any:
    """202 with the job, `Location` naming where to follow it."""
    from starlette.responses import Response

    return Response(
        json.dumps(info.model_dump(mode="json", exclude_none=True)),
        status_code=202,
        media_type="application/json",
        headers={"Location": f"{PREFIX}/jobs/{info.job}", "Preference-Applied": "respond-async"},
    )


async def submit_batch(c: Call) -> Any:
    from prompt_alchemy.models import BatchItem, BatchOptions

    b: Any = c.body  # a jobs.models.BatchSubmission
    try:
        defaults = BatchOptions.model_validate(b.defaults or {})
    except ValidationError as exc:
        raise ApiError("bad_input", "defaults: " + validation_message(exc)) from None
    items = []
    for number, data in enumerate(b.items, 1):
        try:
            items.append(BatchItem.model_validate(data))
        except ValidationError as exc:
            raise ApiError("bad_input", f"items[{number}]: " + validation_message(exc)) from None
    return _accepted(await c.service.jobs.submit_batch(items, defaults=defaults, save=b.save, source="api"))


async def list_jobs(c: Call) -> Any:
    jobs = await c.service.jobs.list_jobs(status=c.query.status, limit=c.query.limit)
    return {"count": len(jobs), "jobs": [j.model_dump(mode="json", exclude_none=True) for j in jobs]}


def _job_id(c: Call) -> int:
    raw = c.path["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError("not_found", f"no job {raw[:40]!r}")
    return int(raw)


async def get_job(c: Call) -> Any:
    return await _job_call(c.service.jobs.show(_job_id(c), items=c.query.items))


async def cancel_job(c: Call) -> Any:
    return await _job_call(c.service.jobs.cancel(_job_id(c)))


async def retry_job(c: Call) -> Any:
    return await _job_call(c.service.jobs.retry(_job_id(c)))


async def _job_call(call: Awaitable[Any]) -> Any:
    from prompt_alchemy.errors import InputError

    try:
        info = await call
    except InputError as exc:
        raise ApiError("not_found" if str(exc).startswith("no job") else "conflict", str(exc)) from None
    return info.model_dump(mode="json", exclude_none=True)


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/generate",
        generate,
        "write",
        "Generate prompts from an idea (SSE with stream=true or " "Accept: text/event-stream)",
        schemas.GenerationOut,
        body=schemas.GenerateIn,
        tags=("generation",),
    ),
    Endpoint(
        "GET",
        "/search",
        search,
        "read",
        "Search the library by words and/or meaning",
        schemas.SearchOut,
        query=schemas.SearchQuery,
        tags=("library",),
    ),
    Endpoint(
        "GET",
        "/prompts",
        list_prompts,
        "read",
        "List stored prompts, most recent first",
        schemas.PromptList,
        query=schemas.ListQuery,
        tags=("library",),
    ),
    Endpoint(
        "GET",
        "/prompts/{id}",
        get_prompt,
        "read",
        "Read one prompt (id, unique prefix, NAME, NAME@LABEL or " "NAME@VERSION) with its lineage",
        schemas.PromptDetail,
        query=schemas.GetQuery,
        tags=("library",),
    ),
    Endpoint(
        "PATCH",
        "/prompts/{id}",
        update_prompt,
        "write",
        "Edit a prompt: saved as a new version linked to the old",
        schemas.AnyObject,
        body=schemas.UpdateIn,
        tags=("library",),
    ),
    Endpoint(
        "DELETE",
        "/prompts/{id}",
        delete_prompt,
        "write",
        "Delete a prompt with its vector, context and feedback",
        schemas.DeletedOut,
        tags=("library",),
    ),
    Endpoint(
        "GET",
        "/prompts/{id}/history",
        history,
        "read",
        "Every version of a prompt, oldest first",
        schemas.HistoryOut,
        tags=("library",),
    ),
    Endpoint(
        "POST",
        "/prompts/{id}/ratings",
        rate,
        "write",
        "Rate a prompt 1-5",
        schemas.FeedbackOut,
        body=schemas.RateIn,
        status=201,
        tags=("feedback",),
    ),
    Endpoint(
        "GET",
        "/feedback",
        feedback,
        "read",
        "Feedback rows (ratings and choices), newest first",
        schemas.FeedbackList,
        query=schemas.FeedbackQuery,
        tags=("feedback",),
    ),
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        "read",
        "Usage report: prompts, tokens, cost, latency, provider error rates",
        schemas.AnyObject,
        query=schemas.MetricsQuery,
        tags=("operations",),
    ),
    Endpoint(
        "GET",
        "/providers",
        providers,
        "read",
        "Providers: configured, available, models, prices",
        schemas.ProviderList,
        query=schemas.ProvidersQuery,
        tags=("operations",),
    ),
    Endpoint(
        "POST",
        "/learning/train",
        train,
        "write",
        "Train the ranking model on the feedback",
        schemas.AnyObject,
        body=schemas.TrainIn,
        tags=("feedback",),
    ),
    Endpoint(
        "GET",
        "/learning/status",
        learning_status,
        "read",
        "The learned model and the feedback counts",
        schemas.AnyObject,
        tags=("feedback",),
    ),
    Endpoint(
        "POST",
        "/import",
        import_prompts,
        "write",
        "Import prompts (JSON, JSONL or CSV text)",
        schemas.ImportOut,
        body=schemas.ImportIn,
        tags=("library",),
    ),
    Endpoint(
        "GET",
        "/export",
        export,
        "read",
        "Export prompts as JSONL, JSON, Markdown or text",
        None,
        query=schemas.ExportQuery,
        media="application/x-ndjson",
        tags=("library",),
    ),
    Endpoint(
        "POST",
        "/batch",
        submit_batch,
        "write",
        "Submit a batch of ideas as a job (202; follow it at " "/jobs/{id})",
        schemas.AnyObject,
        body=jm.BatchSubmission,
        status=202,
        tags=("jobs",),
    ),
    Endpoint(
        "GET", "/jobs", list_jobs, "read", "Jobs, newest first", schemas.AnyObject, query=jm.JobsQuery, tags=("jobs",)
    ),
    Endpoint(
        "GET",
        "/jobs/{id}",
        get_job,
        "read",
        "A job's status, progress and result",
        schemas.AnyObject,
        query=jm.JobQuery,
        tags=("jobs",),
    ),
    Endpoint(
        "POST",
        "/jobs/{id}/cancel",
        cancel_job,
        "write",
        "Cancel a job's items that have not started",
        schemas.AnyObject,
        tags=("jobs",),
    ),
    Endpoint(
        "POST",
        "/jobs/{id}/retry",
        retry_job,
        "write",
        "Queue a failed or cancelled job's unfinished items again",
        schemas.AnyObject,
        tags=("jobs",),
    ),
    Endpoint(
        "GET",
        "/audit",
        audit,
        "admin",
        "The audit log of every write, newest first",
        schemas.AuditList,
        query=schemas.AuditQuery,
        tags=("operations",),
    ),
]

from prompt_alchemy.api.names import name_endpoints  # noqa: E402  (named prompts: versions and labels)

ENDPOINTS.extend(name_endpoints(Endpoint, schemas.AnyObject))
