"""The viewer's Starlette app: the single-page UI from `static/` and its JSON routes under `/api/`.

Every route is a thin adapter over the service (no SQL here): parse, check, call, return JSON. `guard.ViewerGuard`
stands in front (Host, Origin, CSRF header, body type and size). Every failure is the REST API's JSON error shape
`{"error": {"code", "message", "request_id"}}`: a service's anticipated failure keeps the API's code and status
(bad input 400, unknown id or label 404, ...), a field of the wrong type is 422, an unknown route 404, and anything
unexpected a 500 that names no internals. Generation runs as a background task whose phase progress the page polls.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from prompt_alchemy.api.errors import ApiError, error_response, from_exception
from prompt_alchemy.errors import AlchemyError, InputError, NotFoundError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.security import redact
from prompt_alchemy.tenancy import principal
from prompt_alchemy.viewer.guard import MAX_BODY, ViewerError, ViewerGuard, is_json

if TYPE_CHECKING:
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.services import AlchemyService

STATIC = Path(__file__).parent / "static"
_MAX_JOBS = 20
_SOURCE = "viewer"
_MAX_DEPTH = 8  # the page's bodies are two levels deep ({"values": {...}})
_MAX_TEXT = 20_000
#: A prompt reference in a path or query: a full id, an id prefix or a label (letters, digits, '.', '_', '-').
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_JOB = re.compile(r"^[0-9a-f]{12}$")
log = get_logger("viewer")


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
    #: who started it (project, handle) on the team server; None for the local user
    owner: tuple[str, str] | None = None


def _owner() -> tuple[str, str] | None:
    caller = principal.get()
    return (caller.project_id, caller.handle) if caller is not None else None


def _error(exc: BaseException) -> JSONResponse:
    """The JSON error answer for `exc`: a ViewerError as it is, a service failure with the REST API's code and
    status, anything else a 500 that names no internals (the traceback goes to the log)."""
    if not isinstance(exc, (AlchemyError, ApiError)):
        log.error("viewer request failed", exc_info=exc)
    return error_response(from_exception(exc))


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (unknown route 404, wrong method 405) in the same JSON shape."""
    status = getattr(exc, "status_code", 500)
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "bad_input" if status < 500 else "internal_error")
    message = {
        404: f"no such page or route: {request.url.path[:100]}",
        405: f"{request.method} is not allowed here",
    }.get(status, str(getattr(exc, "detail", "")))
    return _error(ViewerError(code, message, status))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _error(exc)


def _summary(p: Prompt) -> dict[str, Any]:
    return {
        "id": p.id,
        "title": p.title,
        "phase": p.phase.value if p.phase else None,
        "variant": p.variant,
        "provider": p.provider,
        "model": p.model,
        "tags": p.tags,
        "score": p.score,
        "parent_id": p.parent_id,
        "session_id": p.session_id,
        "source_type": p.source_type,
        "enhancement_method": p.enhancement_method,
        "created_at": p.created_at.isoformat(),
        "content": p.content,
    }


def _allowed(request: Request, needs: str) -> None:
    """On the team server (a signed-in caller: `scope["auth"]` holds the scopes their role allows) refuse a route
    that needs more than their role gives; the local viewer's user may do anything."""
    auth = request.scope.get("auth")
    if auth is None or needs in auth.scopes:
        return
    caller = principal.get()
    role, project = (caller.role, caller.project_id) if caller else ("none", "?")
    raise ViewerError(
        "forbidden", f"your role in the project '{project}' is '{role}', which may read only; this needs 'member'"
    )


def _handler(fn, needs: str = "read"):
    """A JSON route: `fn(service, request)` answers a dict; every failure is the JSON error shape. `needs`: the
    scope the route needs from a signed-in caller (`write` for every change)."""

    async def endpoint(request: Request) -> Response:
        try:
            _allowed(request, needs)
            return JSONResponse(await fn(request.app.state.service, request))
        except ValueError as exc:  # a malformed query value
            return _error(ViewerError("bad_input", redact(str(exc))[:300]))
        except Exception as exc:  # noqa: BLE001 - anticipated (AlchemyError) or not: JSON either way
            return _error(exc)

    return endpoint


async def _read(request: Request) -> bytes:
    """The body, counted while it arrives: past MAX_BODY bytes it is refused without reading the rest."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ViewerError("payload_too_large", f"the request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _depth(value: Any) -> int:
    """How deeply `value` nests lists and objects (iteratively: no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= _MAX_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object the request carries: JSON content type, at most MAX_BODY bytes, nested at most _MAX_DEPTH
    levels."""
    if not is_json(request.headers.get("content-type")):
        raise ViewerError(
            "unsupported_media_type", "a request body must be JSON sent with " "'Content-Type: application/json'"
        )
    raw = await _read(request)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise ViewerError("bad_input", f"the request body is nested more than {_MAX_DEPTH} levels deep") from None
    except ValueError:
        raise ViewerError("bad_input", "the request body is not JSON") from None
    if not isinstance(data, dict):
        raise ViewerError("bad_input", "the request body must be a JSON object")
    if _depth(data) > _MAX_DEPTH:
        raise ViewerError("bad_input", f"the request body is nested more than {_MAX_DEPTH} levels deep")
    return data


def _text(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """The field `name` as text (None when absent, null or empty and not required); any other type is a 422."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ViewerError("invalid_field", f"'{name}' is required and must be text")
        return None
    if not isinstance(value, str):
        raise ViewerError("invalid_field", f"'{name}' must be text, not {_json_type(value)}")
    if len(value) > _MAX_TEXT:
        raise ViewerError("invalid_field", f"'{name}' is longer than {_MAX_TEXT} characters")
    return value


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _ref(value: str | None, what: str = "prompt id") -> str:
    """A prompt reference from a path or query, checked against the library's id, prefix and label format."""
    if not value or not _REF.match(value):
        shown = (value or "")[:40]
        raise ViewerError(
            "bad_input",
            f"'{shown}' is not a {what}: ids, id prefixes and labels are letters, digits, " f"'.', '_' and '-'",
        )
    return value


def _filters(request: Request):
    from pydantic import ValidationError

    from prompt_alchemy.models import SearchFilters

    q = request.query_params
    try:
        return SearchFilters(
            phase=[p for p in q.getlist("phase") if p],
            provider=q.get("provider") or None,
            model=q.get("model") or None,
            persona=q.get("persona") or None,
            tags=[t for t in q.getlist("tag") if t],
            since=q.get("since") or None,
            until=q.get("until") or None,
            min_rating=q.get("min_rating") or None,
        )
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
        "named": await _named(service, prompt.id),
        "prompt": dict(
            _summary(prompt),
            notes=prompt.notes,
            persona=prompt.persona_used,
            original_input=prompt.original_input,
            input_tokens=prompt.input_tokens,
            output_tokens=prompt.output_tokens,
            cost_usd=prompt.cost_usd,
            latency_ms=prompt.latency_ms,
        ),
        "variables": variable_names(prompt.content),
        "labels": labels.get(prompt.id, []),
        "lineage": {k: [dict(_summary(p), labels=labels.get(p.id, [])) for p in v] for k, v in family.items()},
        "versions": [dict(_summary(p), version=i, labels=labels.get(p.id, [])) for i, p in enumerate(versions, 1)],
        "rating": {"average": round(ratings[0], 2), "count": ratings[1]} if ratings else None,
        "feedback": [
            {"rating": f.rating, "comment": f.comment, "source": f.source, "created_at": f.created_at.isoformat()}
            for f in feedback
        ],
    }


async def _named(service: AlchemyService, prompt_id: str) -> dict[str, Any] | None:
    """The prompt's name and version, the name's versions (with their labels) and its labels (each marked
    protected or not); None when the prompt has no name."""
    named = (await service.names_for([prompt_id])).get(prompt_id)
    if named is None:
        return None
    versions = await service.name_versions(named[0])
    return {
        "name": named[0],
        "version": named[1],
        "latest": versions["latest"],
        "versions": [
            {
                "version": v["version"],
                "prompt_id": v["prompt_id"],
                "title": v["title"],
                "created_at": str(v["created_at"]),
                "labels": v["labels"],
            }
            for v in versions["versions"]
        ],
        "labels": [
            {"name": lb["name"], "version": lb["version"], "prompt_id": lb["prompt_id"], "protected": lb["protected"]}
            for lb in versions["labels"]
        ],
    }


async def get_prompt(service: AlchemyService, request: Request) -> dict[str, Any]:
    return await _prompt_page(service, _ref(request.path_params["ref"]))


async def score(service: AlchemyService, request: Request) -> dict[str, Any]:
    full = await service.resolve_id(_ref(request.path_params["ref"]))
    scored = (await service.score_prompts([full]))[0]
    return scored.model_dump(mode="json", exclude={"features"})


async def render(service: AlchemyService, request: Request) -> dict[str, Any]:
    ref = _ref(request.path_params["ref"])
    data = await _body(request)
    values = data.get("values") or {}
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise ViewerError("invalid_field", "'values' must map variable names to text")
    rendered = await service.render_prompt(ref, values, missing_hint=" (fill in each field)")
    return {"id": rendered.prompt.id, "text": rendered.text, "variables": rendered.variables}


async def rate(service: AlchemyService, request: Request) -> dict[str, Any]:
    ref = _ref(request.path_params["ref"])
    data = await _body(request)
    rating = data.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool):
        raise ViewerError("invalid_field", "'rating' must be a whole number from 1 to 5")
    row = await service.rate(ref, rating, _text(data, "comment"), _SOURCE)
    average = (await service.average_ratings([row.prompt_id])).get(row.prompt_id)
    return {
        "prompt_id": row.prompt_id,
        "rating": row.rating,
        "average": round(average[0], 2) if average else None,
        "count": average[1] if average else 0,
    }


async def set_label(service: AlchemyService, request: Request) -> dict[str, Any]:
    ref = _ref(request.path_params["ref"])
    data = await _body(request)
    return await service.set_label(ref, _text(data, "name", required=True) or "", source=_SOURCE)


async def remove_label(service: AlchemyService, request: Request) -> dict[str, Any]:
    return await service.remove_label(request.path_params["name"], source=_SOURCE)


def _version(data: dict[str, Any]) -> int | None:
    value = data.get("version")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ViewerError("invalid_field", "'version' must be a whole number from 1")
    return value


async def move_name_label(service: AlchemyService, request: Request) -> dict[str, Any]:
    """Point a label of a name at one of its versions (the latest when `version` is absent). A protected label is
    refused (403): the viewer has no --force."""
    name = _ref(request.path_params["name"], "prompt name")
    label = _ref(request.path_params["label"], "label")
    version = _version(await _body(request))
    return await service.set_label(name, label, version=version, source=_SOURCE)


async def remove_name_label(service: AlchemyService, request: Request) -> dict[str, Any]:
    return await service.remove_label(
        _ref(request.path_params["label"], "label"),
        prompt_name=_ref(request.path_params["name"], "prompt name"),
        source=_SOURCE,
    )


async def labels(service: AlchemyService, request: Request) -> dict[str, Any]:
    return {"labels": await service.list_labels(), "history": await service.label_history(None, 50)}


async def diff(service: AlchemyService, request: Request) -> dict[str, Any]:
    a_ref, b_ref = _ref(request.query_params.get("a")), _ref(request.query_params.get("b"))
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
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        raise ViewerError("invalid_field", "'count' must be a whole number")
    tags = data.get("tags")
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        tags = ",".join(tags)
    tags = _text({"tags": tags}, "tags") or ""
    req = service.build_request(
        {
            "idea": _text(data, "idea") or "",
            "count": count or None,
            "persona": _text(data, "persona"),
            "provider": _text(data, "provider"),
            "tags": [t.strip() for t in tags.split(",") if t.strip()],
        }
    )
    for old in [j for j in jobs.values() if j.status != "running"][: max(0, len(jobs) - _MAX_JOBS + 1)]:
        jobs.pop(old.id, None)
    job = Job(id=uuid.uuid4().hex[:12], idea=req.idea, owner=_owner())

    def progress(event: Any) -> None:
        job.events.append(
            {"phase": event.phase.value, "variant": event.variant, "done": event.done, "total": event.total}
        )

    async def run() -> None:
        try:
            result = await service.generate(req, progress)
            job.result = {
                "session_id": result.session_id,
                "best": result.best_id,
                "prompts": [_summary(p) for p in result.prompts],
            }
            job.status = "done"
        except Exception as exc:  # noqa: BLE001 - reported to the page
            job.error, job.status = redact(str(exc)), "error"

    jobs[job.id] = job
    job.task = asyncio.create_task(run())
    return {"job": job.id}


async def generate_status(service: AlchemyService, request: Request) -> dict[str, Any]:
    given = request.path_params["job"]
    job = request.app.state.jobs.get(given) if _JOB.match(given) else None
    if job is None or job.owner != _owner():
        raise NotFoundError(f"no generation job {request.path_params['job'][:20]}")
    return {
        "job": job.id,
        "idea": job.idea,
        "status": job.status,
        "events": job.events,
        "result": job.result,
        "error": job.error,
    }


async def personas(service: AlchemyService, request: Request) -> dict[str, Any]:
    return {"personas": service.persona_names()}


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


def viewer_app(service: AlchemyService, extra_routes: list[Any] | None = None) -> Starlette:
    """The viewer's pages and JSON routes over `service` (which the caller owns and closes), unguarded: handlers
    reach the service through `app.state`. `extra_routes` come first (the team server's sign-in routes)."""
    routes = [
        *(extra_routes or []),
        Route("/", index),
        Route("/api/search", _handler(search)),
        Route("/api/prompts/{ref}", _handler(get_prompt)),
        Route("/api/prompts/{ref}/score", _handler(score)),
        Route("/api/prompts/{ref}/render", _handler(render), methods=["POST"]),
        Route("/api/prompts/{ref}/rate", _handler(rate, "write"), methods=["POST"]),
        Route("/api/prompts/{ref}/labels", _handler(set_label, "write"), methods=["POST"]),
        Route("/api/labels", _handler(labels)),
        Route("/api/labels/{name}", _handler(remove_label, "write"), methods=["DELETE"]),
        Route("/api/names/{name}/labels/{label}", _handler(move_name_label, "write"), methods=["PUT"]),
        Route("/api/names/{name}/labels/{label}", _handler(remove_name_label, "write"), methods=["DELETE"]),
        Route("/api/diff", _handler(diff)),
        Route("/api/metrics", _handler(metrics)),
        Route("/api/personas", _handler(personas)),
        Route("/api/generate", _handler(start_generate, "write"), methods=["POST"]),
        Route("/api/generate/{job}", _handler(generate_status)),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _unexpected})
    app.state.service = service
    app.state.jobs = {}
    return app


def build_app(service: AlchemyService) -> ViewerGuard:
    """The local viewer (`prompt-alchemy view`): the viewer app behind its loopback guard."""
    return ViewerGuard(viewer_app(service))


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
