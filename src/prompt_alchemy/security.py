"""Secret redaction and input limits."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from prompt_alchemy.errors import InputError

_KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY")
# Shapes of well-known API keys, redacted even when we were never told the value.
_KEY_PATTERNS = re.compile(r"\b(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,})\b")
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that every log line and error message has it masked."""
    if value and len(value) >= 4:
        _registered.add(value)


def known_secrets() -> set[str]:
    return _registered | {v for k in _KEY_VARS if (v := os.environ.get(k)) and len(v) >= 4}


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    for secret in sorted(set(secrets or ()) | known_secrets(), key=len, reverse=True):
        text = text.replace(secret, "****")
    return _KEY_PATTERNS.sub("****", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the fully formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def check_length(name: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise InputError(f"{name} is {len(text):,} characters; the limit is {limit:,} "
                         f"(raise generation.max_idea_length to allow more)")


def read_text_file(path: str | Path, what: str, encoding: str = "utf-8") -> str:
    """A user-supplied text file's contents, or InputError naming the file and why it cannot be read."""
    try:
        return Path(path).expanduser().read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise InputError(f"cannot read {what} {path}: {reason}") from None
