"""Stored prompts as MCP prompts: every named prompt (its latest version, as `NAME`), every labelled version (as
`NAME@LABEL`) and the best-scored prompts (named by a slug of their title and their short id), each with its template
variables as arguments; `prompts/get` fills them, and also takes `NAME@VERSION`.

The server's `list_prompts` / `get_prompt` call these; nothing here writes to stdout.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    GetPromptResult,
    PromptArgument,
    PromptMessage,
    TextContent,
)
from mcp_types import Prompt as MCPPrompt

from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.mcp.tools._common import short
from prompt_alchemy.security import redact

if TYPE_CHECKING:
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.services import AlchemyService

TOP_PROMPTS = 20


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "prompt"


def prompt_name(p: Prompt) -> str:
    """The MCP name of a top prompt: a slug of its title (or text) and its first 8 id characters."""
    return f"{slug(p.title or p.content)}-{p.id[:8]}"


def _arguments(p: Prompt) -> list[PromptArgument]:
    from prompt_alchemy.ranking.features import variable_names

    return [
        PromptArgument(name=name, description=f"the value of {{{name}}} in the prompt", required=True)
        for name in variable_names(p.content)
    ]


def _describe(p: Prompt, head: str) -> str:
    return (
        f"{head} {p.id} · "
        + (f"score {p.score:.2f}" if p.score is not None else "unscored")
        + f" · {p.phase.value if p.phase else p.source_type}"
    )


async def _published(service: AlchemyService) -> list[tuple[str, Prompt, str]]:
    """(name, prompt, description) of every published prompt: named prompts and their labelled versions first,
    then the top prompts."""
    out: list[tuple[str, Prompt, str]] = []
    names = await service.list_names()
    labels = await service.list_labels()
    latest = {row["name"]: await service.label_target(row["name"]) for row in names}
    prompts = await service.get_prompts([pid for pid in latest.values() if pid] + [lb["prompt_id"] for lb in labels])
    by_name: dict[str, list[dict]] = {}
    for lb in labels:
        by_name.setdefault(lb["prompt_name"], []).append(lb)
    for row in names:
        p = prompts.get(latest[row["name"]] or "")
        if p is not None:
            out.append((row["name"], p, _describe(p, f"{row['name']} (latest: version {row['latest_version']}) →")))
        for lb in by_name.get(row["name"], []):
            p = prompts.get(lb["prompt_id"])
            if p is not None:
                ref = f"{lb['prompt_name']}@{lb['name']}"
                out.append((ref, p, _describe(p, f"{ref} (version {lb['version']}) →")))
    for p in await service.top_prompts(TOP_PROMPTS):
        out.append((prompt_name(p), p, _describe(p, "stored prompt")))
    return out


async def list_stored_prompts(service: AlchemyService) -> list[MCPPrompt]:
    published = await _published(service)
    return [
        MCPPrompt(name=name, title=short(p.title or p.content, 80), description=description, arguments=_arguments(p))
        for name, p, description in published
    ]


async def _find(service: AlchemyService, name: str) -> tuple[Prompt, str] | None:
    """The prompt `name` publishes: a prompt name (latest), NAME@LABEL, NAME@VERSION, or a top prompt's name."""
    if not service.library_exists():
        return None
    if "@" in name or re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]{0,63}", name):
        target = await service.label_target(name)
        if target is not None:
            return await service.get_prompt(target), f"{name} → stored prompt"
    match = re.fullmatch(r".*-([0-9a-f]{8})", name)
    if match is None:
        return None
    top = await service.top_prompts(TOP_PROMPTS)
    prompt = next((p for p in top if p.id.startswith(match.group(1))), None)
    return (prompt, "stored prompt") if prompt is not None else None


async def get_stored_prompt(
    service: AlchemyService, name: str, arguments: dict[str, str] | None
) -> GetPromptResult | None:
    """The published prompt `name` with `arguments` filled, or None when no stored prompt has that name. A missing
    or unknown argument is an invalid-params error naming each one."""
    found = await _find(service, name)
    if found is None:
        return None
    prompt, head = found
    try:
        rendered = await service.use_prompt(
            prompt.id, dict(arguments or {}), missing_hint=" (pass them as the prompt's arguments)"
        )
    except AlchemyError as exc:
        raise MCPError(INVALID_PARAMS, redact(str(exc))) from None
    return GetPromptResult(
        description=f"{head} {prompt.id}",
        messages=[PromptMessage(role="user", content=TextContent(type="text", text=rendered.text))],
    )
