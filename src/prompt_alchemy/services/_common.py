"""Limits and helpers shared by the capability services."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from prompt_alchemy.config import LoadedSettings, validate_config
from prompt_alchemy.models import GenerationResult, Prompt
from prompt_alchemy.security import check_output_path, mask_secrets

_MAX_LIMIT = 1000
_MAX_OFFSET = 10**12  # far past any library; SQLite's integers end at 2**63
_MIN_PREFIX = 4  # shortest id prefix accepted, like git
_MAX_CANDIDATES = 5  # candidates named when a prefix is ambiguous
_MAX_DEPTH = 1000
_IMPORT_BATCH = 256  # rows per import/re-embed transaction
_MAX_COMMENT = 5000  # characters in a feedback comment
_MAX_EXAMPLE_CHARS = 4000  # characters of one include_context example


_S = TypeVar("_S")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def in_thread(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
    """Make a service operation whose work blocks (the database, files) awaitable like every other: it runs in a
    worker thread, so a server's event loop goes on serving while it works. The request's context variables (the
    actor, the request id) go with it."""

    @functools.wraps(method)
    async def operation(self: _S, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return await asyncio.to_thread(method, self, *args, **kwargs)

    return operation


def check_page(limit: int, offset: int = 0) -> None:
    """A page of results: 1 to _MAX_LIMIT rows from an offset of 0 to _MAX_OFFSET; else bad input."""
    from prompt_alchemy.errors import InputError

    if not 1 <= limit <= _MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit}")
    if not 0 <= offset <= _MAX_OFFSET:
        raise InputError(f"offset must be between 0 and {_MAX_OFFSET:,}, got {offset}")


def mask_prompt_secrets(prompts: list[Prompt]) -> None:
    """Mask every configured secret (API key) in the prompts' text before it is stored or printed."""
    from prompt_alchemy.models import content_hash

    for p in prompts:
        masked = mask_secrets(p.content)
        if masked != p.content:
            p.content, p.content_hash = masked, content_hash(masked)
        for name in ("title", "notes", "original_input"):
            value = getattr(p, name, None)
            if isinstance(value, str) and mask_secrets(value) != value:
                setattr(p, name, mask_secrets(value))
        for name in ("generation_request", "generation_context"):
            value = getattr(p, name, None)
            if value is not None:
                text = json.dumps(value)
                if mask_secrets(text) != text:
                    setattr(p, name, json.loads(mask_secrets(text)))


def mask_result_secrets(result: GenerationResult) -> GenerationResult:
    """The result with every configured secret masked: the prompts (content hashes follow) and everything said
    about them (ranking reasons quote the text)."""
    mask_prompt_secrets(result.prompts)
    dumped = result.model_dump_json()
    if mask_secrets(dumped) == dumped:
        return result
    masked = GenerationResult.model_validate_json(mask_secrets(dumped))
    return masked


def check_configuration(config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem in the configuration (file and environment), one line each."""
    return validate_config(config_file, env=os.environ if env is None else env)


def backup_dir(loaded: LoadedSettings) -> Path:
    """The folder of the library's backups: `backups/` beside the database file."""
    return loaded.database_path.parent / "backups"


def guard_output_path(
    loaded: LoadedSettings, path: str | Path, *, force: bool, what: str = "output file", allow_existing: bool = False
) -> Path:
    """The guard every written file goes through: never the database, its -wal/-shm, a backup, a device or other
    non-regular file; an existing file only with `force` (see security.check_output_path)."""
    return check_output_path(
        path,
        force=force,
        what=what,
        allow_existing=allow_existing,
        protected=[loaded.database_path],
        protected_dirs=[backup_dir(loaded)],
    )
