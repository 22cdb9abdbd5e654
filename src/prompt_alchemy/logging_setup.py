"""Logging: stderr or a file, never stdout, always through the secret-redacting filter."""

from __future__ import annotations

import logging
import sys

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
