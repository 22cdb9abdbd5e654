"""The viewer's Starlette app: the single-page UI from `static/` and its JSON routes under `/api/`.

Every route is a thin adapter over the service (no SQL here): parse, call, return JSON. Anticipated failures
(AlchemyError) become `{"error": "..."}` with 400 (bad input), 404 (unknown id or label) or 500. Generation runs as
a background task whose phase progress the page polls.
"""

from __future__ import annotations

import asyncio
import difflib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from prompt_alchemy.errors import AlchemyError, InputError, NotFoundError
from prompt_alchemy.security import redact

if TYPE_CHECKING:
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.services import AlchemyService

STATIC = Path(__file__).parent / "static"
_MAX_JOBS = 20
_SOURCE = "viewer"


@dataclass
class Job:
    """One generation started from the page: its phase progress events, then its result or error."""

    id: str
    idea: str
    status: str = "running"
    events: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    task: asyncio.Task | None = None


def _error(exc: Exception) -> JSONResponse:
    status = 404 if isinstance(exc, NotFoundError) else 400 if isinstance(exc, InputError) else 500
    return JSONResponse({"error": redact(str(exc))}, status_code=status)


def _summary(p: Prompt) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "phase": p.phase.value if p.phase else None, "variant": p.variant,
            "provider": p.provider, "model": p.model, "tags": p.tags, "score": p.score, "parent_id": p.parent_id,
            "session_id": p.session_id, "source_type": p.source_type, "enhancement_method": p.enhancement_method,
            "created_at": p.created_at.isoformat(), "content": p.content}


def _handler(fn):
    """A JSON route: `fn(service, request)` answers a dict; an anticipated failure is an error body."""
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await fn(request.app.state.service, request))
        except AlchemyError as exc:
            return _error(exc)
        except ValueError as exc:  # a malformed body or query value
            return JSONResponse({"error": str(exc)}, status_code=400)
    return endpoint

async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise InputError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise InputError("the request body must be a JSON object")
    return data

def _filters(request: Request):
    from pydantic import ValidationError

    from prompt_alchemy.models import SearchFilters

    q = request.query_params
    try:
        return SearchFilters(phase=[p for p in q.getlist("phase") if p], provider=q.get("provider") or None,
                             model=q.get("model") or None, persona=q.get("persona") or None,
                             tags=[t for t in q.getlist("tag") if t], since=q.get("since") or None,
                             until=q.get("until") or None, min_rating=q.get("min_rating") or None)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "filter"
        raise InputError(f"invalid {name}: {err['msg'].removeprefix('Value error, ')}") from None

async def search(service: AlchemyService, request: Request) -> dict[str, Any]:
    q = request.query_params
    limit = int(q.get("limit") or 20)
    flt = _filters(request)
    query = (q.get("q") or "").strip()
    if not query:
        prompts = await service.list_prompts(flt, limit)
        items = [dict(_summary(p), score=None) for p in prompts]
    else:
        results = await service.search(query, mode=q.get("mode") or "hybrid", filters=flt, limit=limit)
        items = [dict(_summary(r.prompt), match=r.score) for r in results]
    labels = await service.labels_for([i["id"] for i in items])
    for item in items:
        item["labels"] = labels.get(item["id"], [])
    return {"query": query, "results": items}

async def _prompt_page(service: AlchemyService, ref: str) -> dict[str, Any]:
    from prompt_alchemy.ranking.features import variable_names

    prompt = await service.get_prompt(ref)
    family = await service.lineage(prompt.id)
    versions = await service.history(prompt.id)
    ids = [prompt.id] + [p.id for p in versions] + [p.id for v in family.values() for p in v]
    labels = await service.labels_for(ids)
    ratings = (await service.average_ratings([prompt.id])).get(prompt.id)
    feedback = await service.list_feedback(prompt.id, kind="rating", limit=20)
    return {
        "prompt": dict(_summary(prompt), notes=prompt.notes, persona=prompt.persona_used,
                       original_input=prompt.original_input, input_tokens=prompt.input_tokens,
                       output_tokens=prompt.output_tokens, cost_usd=prompt.cost_usd,
                       latency_ms=prompt.latency_ms),
        "variables": variable_names(prompt.content),
        "labels": labels.get(prompt.id, []),
        "lineage": {k: [dict(_summary(p), labels=labels.get(p.id, [])) for p in v] for k, v in family.items()},
        "versions": [dict(_summary(p), version=i, labels=labels.get(p.id, []))
                     for i, p in enumerate(versions, 1)],
        "rating": {"average": round(ratings[0], 2), "count": ratings[1]} if ratings else None,
        "feedback": [{"rating": f.rating, "comment": f.comment, "source": f.source,
                      "created_at": f.created_at.isoformat()} for f in feedback],
    }

async def get_prompt(service: AlchemyService, request: Request) -> dict[str, Any]:
    return await _prompt_page(service, request.path_params["ref"])

async def score(service: AlchemyService, request: Request) -> dict[str, Any]:
    full = await service.resolve_id(request.path_params["ref"])
    scored = (await service.score_prompts([full]))[0]
    return scored.model_dump(mode="json", exclude={"features"})

async def render(service: AlchemyService, request: Request) -> dict[str, Any]:
    data = await _body(request)
    values = data.get("values") or {}
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise InputError("'values' must map variable names to text")
    rendered = await service.render_prompt(request.path_params["ref"], values, missing_hint=" (fill in each field)")
    return {"id": rendered.prompt.id, "text": rendered.text, "variables": rendered.variables}

async def rate(service: AlchemyService, request: Request) -> dict[str, Any]:
    data = await _body(request)
    rating = data.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool):
        raise InputError("'rating' must be a whole number from 1 to 5")
    row = await service.rate(request.path_params["ref"], rating, data.get("comment") or None, _SOURCE)
    average = (await service.average_ratings([row.prompt_id])).get(row.prompt_id)
    return {"prompt_id": row.prompt_id, "rating": row.rating,
            "average": round(average[0], 2) if average else None, "count": average[1] if average else 0}

async def set_label(service: AlchemyService, request: Request) -> dict[str, Any]:
    data = await _body(request)
    return await service.set_label(request.path_params["ref"], str(data.get("name") or ""), source=_SOURCE)

async def remove_label(service: AlchemyService, request: Request) -> dict[str, Any]:
    return await service.remove_label(request.path_params["name"], source=_SOURCE)

async def labels(service: AlchemyService, request: Request) -> dict[str, Any]:
    return {"labels": await service.list_labels(),
            "history": await service.label_history(None, 50)}

async def diff(service: AlchemyService, request: Request) -> dict[str, Any]:
    a_ref, b_ref = request.query_params.get("a") or "", request.query_params.get("b") or ""
    a = await service.get_prompt(a_ref)
    b = await service.get_prompt(b_ref)
    return {"a": a.id, "b": b.id, "lines": diff_lines(a.content, b.content)}

async def metrics(service: AlchemyService, request: Request) -> dict[str, Any]:
    q = request.query_params
    return await service.metrics_report(since=q.get("since") or None)

async def start_generate(service: AlchemyService, request: Request) -> dict[str, Any]:
    jobs: dict[str, Job] = request.app.state.jobs
    data = await _body(request)
    count = data.get("count")
    req = service.build_request(str(data.get("idea") or ""), count=int(count) if count else None,
                                persona=data.get("persona") or None, provider=data.get("provider") or None,
                                tags=[t.strip() for t in str(data.get("tags") or "").split(",") if t.strip()])
    for old in [j for j in jobs.values() if j.status != "running"][:max(0, len(jobs) - _MAX_JOBS + 1)]:
        jobs.pop(old.id, None)
    job = Job(id=uuid.uuid4().hex[:12], idea=req.idea)

    def progress(event: Any) -> None:
        job.events.append({"phase": event.phase.value, "variant": event.variant, "done": event.done,
                           "total": event.total})

    async def run() -> None:
        try:
            result = await service.generate(req, progress)
            job.result = {"session_id": result.session_id,
                          "best": result.best_id,
                          "prompts": [_summary(p) for p in result.prompts]}
            job.status = "done"
        except Exception as exc:  # noqa: BLE001 - reported to the page
            job.error, job.status = redact(str(exc)), "error"

    jobs[job.id] = job
    job.task = asyncio.create_task(run())
    return {"job": job.id}

async def generate_status(service: AlchemyService, request: Request) -> dict[str, Any]:
    job = request.app.state.jobs.get(request.path_params["job"])
    if job is None:
        raise NotFoundError(f"no generation job {request.path_params['job'][:20]}")
    return {"job": job.id, "idea": job.idea, "status": job.status, "events": job.events,
            "result": job.result, "error": job.error}

async def personas(service: AlchemyService, request: Request) -> dict[str, Any]:
    return {"personas": service.persona_names()}

async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")



def build_app(service: AlchemyService) -> Starlette:
    """The viewer over `service` (which the caller owns and closes); handlers reach it through `app.state`."""
    routes = [
        Route("/", index),
        Route("/api/search", _handler(search)),
        Route("/api/prompts/{ref}", _handler(get_prompt)),
        Route("/api/prompts/{ref}/score", _handler(score)),
        Route("/api/prompts/{ref}/render", _handler(render), methods=["POST"]),
        Route("/api/prompts/{ref}/rate", _handler(rate), methods=["POST"]),
        Route("/api/prompts/{ref}/labels", _handler(set_label), methods=["POST"]),
        Route("/api/labels", _handler(labels)),
        Route("/api/labels/{name}", _handler(remove_label), methods=["DELETE"]),
        Route("/api/diff", _handler(diff)),
        Route("/api/metrics", _handler(metrics)),
        Route("/api/personas", _handler(personas)),
        Route("/api/generate", _handler(start_generate), methods=["POST"]),
        Route("/api/generate/{job}", _handler(generate_status)),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.service = service
    app.state.jobs = {}
    return app


def diff_lines(a: str, b: str) -> list[dict[str, str]]:
    """A line diff of `a` to `b`: each line with its op (' ' same, '-' only in a, '+' only in b)."""
    out: list[dict[str, str]] = []
    matcher = difflib.SequenceMatcher(a=a.splitlines(), b=b.splitlines(), autojunk=False)
    left, right = a.splitlines(), b.splitlines()
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [{"op": " ", "text": line} for line in left[i1:i2]]
            continue
        out += [{"op": "-", "text": line} for line in left[i1:i2]]
        out += [{"op": "+", "text": line} for line in right[j1:j2]]
    return out
