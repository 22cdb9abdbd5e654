"""The OpenAPI 3.1 document of the REST API, generated from the route table and its pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic.json_schema import models_json_schema

from prompt_alchemy.api.errors import CODES
from prompt_alchemy.api.routes import ENDPOINTS, PREFIX
from prompt_alchemy.api.schemas import ErrorOut

_REF = "#/components/schemas/{model}"
_ERRORS = {
    "400": "Bad input",
    "401": "Missing, wrong or revoked API key",
    "403": "The key's scope is too narrow",
    "404": "Not found",
    "409": "Conflict",
    "429": "Rate limited (see Retry-After)",
    "500": "Server error (never a traceback)",
}


def build_openapi(version: str) -> dict[str, Any]:
    bodies = {e.body for e in ENDPOINTS if e.body} | {e.response for e in ENDPOINTS if e.response} | {ErrorOut}
    _, defs = models_json_schema(
        [(model, "validation") for model in sorted(bodies, key=lambda x: x.__name__)], ref_template=_REF
    )
    schemas = defs.get("$defs", {})
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in re.findall(r"{(\w+)}", e.path)
        ]
        if e.query is not None:
            qs = e.query.model_json_schema(ref_template=_REF)
            required = set(qs.get("required", []))
            for name, prop in qs.get("properties", {}).items():
                prop = dict(prop)
                description = prop.pop("description", None)
                prop.pop("title", None)
                param = {"name": name, "in": "query", "required": name in required, "schema": prop}
                if description:
                    param["description"] = description
                params.append(param)
        path_id = e.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
        op: dict[str, Any] = {
            "operationId": f"{e.method.lower()}_{path_id}",
            "summary": e.summary,
            "tags": list(e.tags),
            "parameters": params,
            "description": f"Needs an API key with scope `{e.scope}` (or higher) when keys are required.",
            "security": [{"bearer": []}, {"apiKey": []}, {}],
        }
        if e.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=e.body.__name__)}}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if e.response is not None:
            ok["content"] = {e.media: {"schema": {"$ref": _REF.format(model=e.response.__name__)}}}
            if e.path == "/generate":
                ok["content"]["text/event-stream"] = {"schema": {"type": "string"}}
        else:
            ok["content"] = {e.media: {"schema": {"type": "string"}}}
        responses: dict[str, Any] = {str(e.status): ok}
        for status, text in _ERRORS.items():
            responses[status] = {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}},
            }
        responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
        op["responses"] = responses
        paths.setdefault(PREFIX + e.path, {})[e.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Prompt Alchemy API",
            "version": version,
            "description": "The prompt library and generator over HTTP. Errors are JSON objects with a "
            "stable code: " + ", ".join(f"{c} ({s})" for c, s in CODES.items()) + ".",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer pa_..."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
