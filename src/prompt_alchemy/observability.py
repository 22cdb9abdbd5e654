"""Logging (stderr or a file, never stdout) and small timing helpers."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from collections.abc import Iterator

from prompt_alchemy.security import RedactingFilter

LOGGER_NAME = "prompt_alchemy"


def setup_logging(level: str | int = "WARNING", log_file: str | None = None) -> None:
    """Send the package's logs to stderr (or a file) through the secret-redacting filter."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """`with timed() as t: ...` then `t["ms"]` holds the elapsed milliseconds."""
    box = {"ms": 0.0}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["ms"] = (time.perf_counter() - start) * 1000.0
