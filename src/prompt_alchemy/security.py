"""Secret redaction and input limits."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TypeVar

from prompt_alchemy.errors import InputError

T = TypeVar("T")

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


# ------------------------------------------------------------------ files the tool reads and writes

#: Size caps of the files the tool reads (bytes). A larger file is refused before it is read.
MAX_IMPORT_BYTES = 1 << 30
MAX_CONTEXT_BYTES = 8 << 20
MAX_EXAMPLES_BYTES = 64 << 20
MAX_CONFIG_BYTES = 1 << 20
MAX_BATCH_BYTES = 64 << 20
MAX_STDIN_BYTES = 64 << 20
_PSEUDO_ROOTS = ("/proc", "/sys")


def _size_text(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _pseudo(path: Path) -> bool:
    text = str(path.resolve()) if path.exists() else str(path.absolute())
    return any(text == root or text.startswith(root + "/") for root in _PSEUDO_ROOTS)


def decode_text(data: bytes, what: str, encoding: str = "utf-8") -> str:
    """`data` decoded, or InputError saying where the first invalid byte is."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not {encoding.removesuffix('-sig').upper()} text (invalid byte at offset "
                         f"{exc.start})") from None


def read_text_file(path: str | Path, what: str, encoding: str = "utf-8", *, limit: int = MAX_IMPORT_BYTES) -> str:
    """A user-supplied text file's contents, or InputError naming the file and why it cannot be read. Only
    regular files outside /proc and /sys are read, and at most `limit` bytes: devices, pipes and pseudo-files
    (`/dev/zero`, `/proc/...`) are refused at once instead of filling memory."""
    import stat

    target = Path(path).expanduser()
    try:
        if _pseudo(target):
            raise InputError(f"cannot read {what} {path}: it is a kernel pseudo-file, not a regular file")
        # O_NONBLOCK: opening a FIFO must not wait for a writer (the check below refuses it)
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise InputError(f"cannot read {what} {path}: it is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"cannot read {what} {path}: not a regular file (a device, pipe or socket)")
            if info.st_size > limit:
                raise InputError(f"cannot read {what} {path}: it is {_size_text(info.st_size)}; the limit is "
                                 f"{_size_text(limit)}")
            data = fh.read(limit + 1)
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot read {what} {path}: {reason}") from None
    if len(data) > limit:
        raise InputError(f"cannot read {what} {path}: it is larger than the limit of {_size_text(limit)}")
    return decode_text(data, f"{what} {path}", encoding)


def read_stdin_text(what: str, stream=None, *, limit: int = MAX_STDIN_BYTES) -> str:
    """Text piped on stdin (UTF-8, at most `limit` bytes), or InputError."""
    import sys

    stream = sys.stdin if stream is None else stream
    raw = getattr(stream, "buffer", None)
    if raw is None:  # a text stream without bytes underneath (tests): already decoded
        text = stream.read(limit + 1)
        if len(text) > limit:
            raise InputError(f"{what} on stdin is larger than the limit of {_size_text(limit)}")
        return text
    data = raw.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what} on stdin is larger than the limit of {_size_text(limit)}")
    return decode_text(data, f"{what} on stdin")


def check_output_path(path: str | Path, *, force: bool, protected: Iterable[Path] = (),
                      protected_dirs: Iterable[Path] = (), what: str = "output file",
                      allow_existing: bool = False) -> Path:
    """The one guard for every file the tool writes (exports, backups, results files, config init). Refuses:
    a directory; a missing parent directory; a device, pipe, socket or other non-regular file (even with
    --force); the library's database, its -wal/-shm/-journal files and anything inside the backups folder; and
    an existing file unless `force` (or `allow_existing`, for files that are appended to). Returns the path."""
    import stat

    target = Path(path).expanduser()
    resolved = target.resolve() if target.exists() or target.is_symlink() else target.absolute()
    if _pseudo(target) or str(resolved).startswith("/dev/"):
        raise InputError(f"{what} {target} is a device or kernel pseudo-file; write to a regular file")
    for db in protected:
        db = db.resolve() if db.exists() else db.absolute()
        for suffix in ("", "-wal", "-shm", "-journal"):
            if resolved == Path(str(db) + suffix):
                raise InputError(f"{what} {target} is the library database{' ' + suffix[1:] + ' file' if suffix else ''}"
                                 f"; it is never overwritten - choose another file")
    for folder in protected_dirs:
        folder = folder.resolve() if folder.exists() else folder.absolute()
        if resolved == folder or folder in resolved.parents:
            raise InputError(f"{what} {target} is inside the backups folder {folder}; choose another file")
    try:
        info = os.stat(resolved)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"cannot write {what} {target}: {exc.strerror}") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{what} {target} is a directory; give a file name")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{what} {target} is not a regular file (a device, pipe or socket); it is never "
                             f"replaced, even with --force")
        if not (force or allow_existing):
            raise InputError(f"{target} already exists; use --force to overwrite it")
    if not resolved.parent.is_dir():
        raise InputError(f"directory {target.parent} does not exist")
    return target


def write_text_atomically(path: Path, write: Callable[[IO[str]], T], *, what: str, mode: int | None = None) -> T:
    """Write a file through `write(stream)` into a temporary file beside it, then rename it into place: readers see
    the old file or the whole new one, never a part. `mode` defaults to what the umask allows (0o666 & ~umask).
    A failure removes the temporary file and leaves `path` as it was; an OS error is one line naming `what`."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write {what} {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            result = write(fh)
        if mode is None:
            umask = os.umask(0o022)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def mask_secrets(text: str) -> str:
    """`text` with every configured secret (API keys given to the tool) masked: for prompt text that is printed
    and stored. Unlike `redact`, key-shaped strings that are not configured secrets are left alone."""
    for secret in sorted(known_secrets(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "****")
    return text
