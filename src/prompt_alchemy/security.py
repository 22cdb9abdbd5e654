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


# The password of any URL with credentials (`scheme://user:password@`), whatever the scheme and however malformed
# the rest: a `mysql://` URL, a host like `[bad`, or a password with `%`, `/` or `#` in it.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@'\"]*:)(?P<pw>[^\s@'\"]+)(?=@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&\s'\"]+)", re.IGNORECASE)


def register_url_secret(url: str | None) -> None:
    """Remember the password of a database URL (as written and percent-decoded) so that it is masked too."""
    from urllib.parse import parse_qs, unquote, urlsplit

    if not url:
        return
    match = _URL_PASSWORD.search(url)
    candidates = [match["pw"]] if match else []
    try:
        candidates += parse_qs(urlsplit(url).query).get("password", [])
    except ValueError:
        pass
    for value in candidates:
        register_secret(value)
        register_secret(unquote(value))


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every known secret, key-shaped string and URL password masked: for logs, errors and --debug
    tracebacks (pydantic's `input_value=` included)."""
    for secret in sorted(set(secrets or ()) | known_secrets(), key=len, reverse=True):
        text = text.replace(secret, "****")
    text = _URL_PASSWORD.sub(lambda m: m["head"] + "****", text)
    text = _QUERY_PASSWORD.sub(lambda m: m["head"] + "****", text)
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
        raise InputError(
            f"{name} is {len(text):,} characters; the limit is {limit:,} "
            f"(raise generation.max_idea_length to allow more)"
        )


# ------------------------------------------------------------------ control characters in text input

#: C0 control characters other than tab, line feed and carriage return, and DEL. PostgreSQL cannot store NUL in
#: text, and none of them belongs in a prompt, a tag or a comment: they are refused on every interface.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


#: Lone UTF-16 surrogates: what bytes that are not UTF-8 become in a command-line argument (surrogateescape).
SURROGATES = re.compile("[\ud800-\udfff]")


def control_char_problem(text: str) -> str | None:
    """Why `text` is refused (the first control character, as U+XXXX, and where it is; or bytes that are not
    UTF-8), or None."""
    bad = SURROGATES.search(text)
    if bad is not None:
        return f"is not valid UTF-8 (a byte that is not text at character {bad.start() + 1})"
    match = CONTROL_CHARS.search(text)
    if match is None:
        return None
    return (
        f"contains the control character U+{ord(match.group()):04X} at character {match.start() + 1}; "
        f"remove it (tabs and line breaks are fine)"
    )


def check_text(field: str, text: str | None) -> str | None:
    """`text` unchanged, or InputError naming `field` when it holds a control character. The one check every
    interface's text input goes through (see `models.CleanText`)."""
    if text is not None:
        problem = control_char_problem(text)
        if problem is not None:
            raise InputError(f"invalid {field}: {problem}")
    return text


def first_control_char(value: object, where: str = "") -> tuple[str, str] | None:
    """(the field path, the problem) of the first control character in a JSON-like value (keys included), or
    None: what an import row is checked with."""
    if isinstance(value, str):
        problem = control_char_problem(value)
        return None if problem is None else (where or "value", problem)
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            found = first_control_char(str(key), path) or first_control_char(item, path)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = first_control_char(item, f"{where}[{i}]")
            if found is not None:
                return found
    return None


def strip_control_chars(text: str) -> str:
    """`text` without its control characters (what `db copy --strip-nul` stores)."""
    return CONTROL_CHARS.sub("", text)


# ------------------------------------------------------------------ user-supplied regular expressions

#: Caps on a user's regex: its length, the text it is matched against (the rest is not searched) and its time.
MAX_REGEX_LENGTH = 1000
MAX_REGEX_INPUT = 20_000
REGEX_TIMEOUT = 1.0


def compile_user_regex(pattern: str, flags: int = 0, *, what: str = "the regex"):
    """A user's pattern compiled with the `regex` package, or InputError naming `what` (too long, or not a valid
    regex)."""
    import regex

    if len(pattern) > MAX_REGEX_LENGTH:
        raise InputError(f"{what} is {len(pattern):,} characters long; the limit for a regex is {MAX_REGEX_LENGTH:,}")
    try:
        return regex.compile(pattern, flags | regex.VERSION0)
    except (regex.error, RecursionError, OverflowError, ValueError) as exc:
        raise InputError(f"{what} is not a valid regex ({exc})") from None


def search_user_regex(pattern: str, text: str, *, ignore_case: bool = True, timeout: float = REGEX_TIMEOUT) -> bool:
    """Whether the user's `pattern` is found in (the first MAX_REGEX_INPUT characters of) `text`, searched with a
    time limit: a pattern that backtracks catastrophically raises InputError after `timeout` seconds instead of
    holding the process. The `regex` package releases the GIL while it matches, but call this off the event
    loop's thread all the same (`asyncio.to_thread`): it blocks its caller for up to `timeout`."""
    import regex

    compiled = compile_user_regex(pattern, (regex.IGNORECASE if ignore_case else 0) | regex.DOTALL)
    try:
        return compiled.search(text[:MAX_REGEX_INPUT], timeout=timeout, concurrent=True) is not None
    except TimeoutError:
        raise InputError(
            f"the regex {pattern[:80]!r} took longer than {timeout:g} s to match (it backtracks "
            f"catastrophically); simplify it, e.g. avoid nested or overlapping repeats such as "
            f"(a+)+ or (.|\\w)*"
        ) from None


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
        raise InputError(
            f"{what} is not {encoding.removesuffix('-sig').upper()} text (invalid byte at offset " f"{exc.start})"
        ) from None


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
                raise InputError(
                    f"cannot read {what} {path}: it is {_size_text(info.st_size)}; the limit is " f"{_size_text(limit)}"
                )
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


def check_output_path(
    path: str | Path,
    *,
    force: bool,
    protected: Iterable[Path] = (),
    protected_dirs: Iterable[Path] = (),
    what: str = "output file",
    allow_existing: bool = False,
) -> Path:
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
                raise InputError(
                    f"{what} {target} is the library database{' ' + suffix[1:] + ' file' if suffix else ''}"
                    f"; it is never overwritten - choose another file"
                )
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
            raise InputError(
                f"{what} {target} is not a regular file (a device, pipe or socket); it is never "
                f"replaced, even with --force"
            )
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
