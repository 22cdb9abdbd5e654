"""The REST routes of named prompts: a name's versions and labels, a new version, a label set or removed. A prompt
itself is read at `/prompts/{ref}`, where `ref` may be `NAME`, `NAME@LABEL` or `NAME@VERSION`. Moving a protected
label needs an admin key."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SaveVersionIn(_In):
    content: str = Field(min_length=1, description="The prompt text of the new version.")
    title: str | None = Field(None, max_length=200)
    tags: list[str] | None = None
    label: str | None = Field(None, description="Also point this label of the name at the new version.")


class LabelIn(_In):
    version: int | None = Field(None, ge=1, description="The version to point at (default: the latest).")


class ProtectIn(_In):
    protected: bool = True


async def list_names(c: Any) -> Any:
    names = await c.service.list_names()
    return {"count": len(names), "names": names}


async def get_name(c: Any) -> Any:
    return await c.service.name_versions(c.path["name"])


async def save_version(c: Any) -> Any:
    b: SaveVersionIn = c.body
    out = await c.service.save_version(c.path["name"], b.content, title=b.title, tags=b.tags, source="api")
    if b.label:
        out["label"] = await c.service.set_label(out["name"], b.label, version=out["version"], source="api")
    return out


async def set_label(c: Any) -> Any:
    b: LabelIn = c.body
    return await c.service.set_label(c.path["name"], c.path["label"], version=b.version, source="api")


async def remove_label(c: Any) -> Any:
    return await c.service.remove_label(c.path["label"], prompt_name=c.path["name"], source="api")


async def protect_label(c: Any) -> Any:
    return await c.service.protect_label(c.path["label"], c.body.protected)


def name_endpoints(endpoint: Any, any_object: Any) -> list[Any]:
    """The routes, as `endpoint` (routes.Endpoint) rows answering `any_object`."""
    e = endpoint
    tags = ("names",)
    return [
        e("GET", "/names", list_names, "read", "Prompt names with their version counts", any_object, tags=tags),
        e(
            "GET",
            "/names/{name}",
            get_name,
            "read",
            "A name's versions (oldest first, with their labels) and its " "labels",
            any_object,
            tags=tags,
        ),
        e(
            "POST",
            "/names/{name}/versions",
            save_version,
            "write",
            "Store a prompt as the next version of a name",
            any_object,
            body=SaveVersionIn,
            status=201,
            tags=tags,
        ),
        e(
            "PUT",
            "/names/{name}/labels/{label}",
            set_label,
            "write",
            "Point a label of a name at one version " "(a protected label needs an admin key)",
            any_object,
            body=LabelIn,
            tags=tags,
        ),
        e(
            "DELETE",
            "/names/{name}/labels/{label}",
            remove_label,
            "write",
            "Remove a label of a name (a protected " "label needs an admin key)",
            any_object,
            tags=tags,
        ),
        e(
            "PUT",
            "/labels/{label}/protection",
            protect_label,
            "admin",
            "Protect a label for every name (or lift " "it)",
            any_object,
            body=ProtectIn,
            tags=tags,
        ),
    ]
