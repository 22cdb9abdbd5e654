"""What a remote client may read of an error message: secrets redacted and the server's own folders named instead
of shown (the data folder, the examples folder, the temporary folder, the home folder); and of a usage report: no
database path.

The server registers its folders once at start (`register_paths`); `public_message` is applied to every message
that leaves the process through REST or MCP. Stdlib only (plus prompt_alchemy.security).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_named: list[tuple[str, str]] = []


def _spellings(path: str | os.PathLike[str]) -> set[str]:
    text = os.fspath(path)
    out = {text.rstrip("/") or text}
    try:
        out.add(str(Path(text).expanduser().resolve()))
    except (OSError, RuntimeError):
        pass
    return {s for s in out if len(s) > 1}


def register_paths(named: Mapping[str | os.PathLike[str], str]) -> None:
    """Name the folders (and files) in `named` ({path: name}); the temporary and home folders are always named.
    Longer paths are replaced first, so a file inside a named folder keeps only its own name."""
    every: dict[str | os.PathLike[str], str] = {
        **named,
        tempfile.gettempdir(): "(temporary folder)",
        str(Path.home()): "~",
    }
    pairs = {(s, name) for path, name in every.items() if os.fspath(path) for s in _spellings(path)}
    _named[:] = sorted(pairs, key=lambda pair: -len(pair[0]))


def public_message(text: str) -> str:
    """`text` with secrets redacted and every registered path replaced by its name."""
    from prompt_alchemy.security import redact

    text = redact(text)
    for path, name in _named:
        text = text.replace(path, name)
    return text


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """A usage report (metrics_report) fit for a remote client: the database's sizes, not where it lives."""
    database = report.get("database")
    if not isinstance(database, dict):
        return report
    return {**report, "database": {k: v for k, v in database.items() if k != "path"}}
