"""Database URLs: which backend a `storage.url` selects, its validation, and its masked form (the password is never
shown: not by `config show`, not in logs, not in errors)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
_PASSWORD = re.compile(r"(?P<head>postgres(?:ql)?://[^:/?#@\s]*:)(?P<pw>[^@/?#\s]*)(?P<tail>@)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&\s]*)", re.IGNORECASE)


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0].lower() in POSTGRES_SCHEMES  # type: ignore[union-attr]


def mask_url(text: str) -> str:
    """`text` with the password of every PostgreSQL URL in it replaced by ****."""
    text = _PASSWORD.sub(lambda m: m["head"] + ("****" if m["pw"] else "") + m["tail"], text)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + "****", text)


def url_password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        return parts.password or next(iter(parse_qs(parts.query).get("password") or []), None)
    except ValueError:
        return None


def check_database_url(url: str) -> str:
    """`url` when it is a usable PostgreSQL URL; ValueError (one line, without the password) otherwise."""
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in POSTGRES_SCHEMES:
        raise ValueError(
            "expected a PostgreSQL URL such as postgresql://user:password@host:5432/dbname "
            "(unset it to use the SQLite file at storage.database_path)"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(
            f"not a valid URL ({mask_url(str(exc))}); expected " f"postgresql://user:password@host:5432/dbname"
        ) from None
    if not parts.hostname and "host" not in parse_qs(parts.query):
        raise ValueError("the PostgreSQL URL names no host; expected postgresql://user:password@host:5432/dbname")
    return url


class LibraryLocation(Protocol):
    """Where the library is (config.LoadedSettings is one): a PostgreSQL URL, or else the SQLite file."""

    @property
    def database_url(self) -> str | None: ...

    @property
    def database_path(self) -> Path: ...


def library_exists(location: LibraryLocation) -> bool:
    """Whether there is a library to read, asked before any store is opened (opening a SQLite store creates its
    file): with a PostgreSQL URL always (the server holds it; the store migrates it on connecting), else whether
    the SQLite file exists. Once a store is open, `Store.library_exists()` answers the same."""
    return bool(location.database_url) or Path(location.database_path).exists()
