"""Structured logs for the server (`logging.format: json`): one JSON object per line with the time, level,
logger, message, the id of the request being served, and any structured fields a log call passes in `extra`.
Secrets are redacted by the handler's filter before formatting, as for plain-text logs."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

#: The id of the request being served (every log line written while it runs carries it).
request_id: ContextVar[str | None] = ContextVar("prompt_alchemy_request_id", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]  # one line, no traceback
        return json.dumps(data, ensure_ascii=False, default=str)


def apply_format(fmt: str) -> None:
    """Switch every handler of the root and package loggers to `fmt` ("json" or "text"), with request ids."""
    for name in ("", "prompt_alchemy"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                handler.filters.insert(0, RequestIdFilter())
            if fmt == "json":
                handler.setFormatter(JsonFormatter())
