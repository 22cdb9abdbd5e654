"""Portable, exclusive, non-blocking file locks (flock on POSIX, msvcrt on Windows, through `filelock`).

The lock lives in its own file (never the data file it guards: on Windows a locked byte range cannot be written
through another handle). The operating system drops the lock when the holder's process ends, however it ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from filelock import BaseFileLock


def try_lock(path: Path) -> BaseFileLock | None:
    """Take the exclusive lock on `path` (created if missing) without waiting: the held lock (call `release()`
    when done), or None when another holder (this process or another) has it. OSError when the file cannot be
    opened (a missing or read-only folder)."""
    from filelock import FileLock, Timeout

    # thread_local=False: a lock taken in one thread may be released from another (batch files close that way).
    lock = FileLock(str(path), blocking=False, thread_local=False)
    try:
        lock.acquire()
    except Timeout:  # a subclass of OSError: caught first
        return None
    return lock
