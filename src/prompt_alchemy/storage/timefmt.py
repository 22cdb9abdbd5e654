"""How the SQLite store writes times: ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def to_iso(value: datetime | None) -> str | None:
    """`value` as ISO 8601 in UTC (a naive time is taken as UTC), or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()
