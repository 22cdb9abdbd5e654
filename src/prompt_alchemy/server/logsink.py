"""The server's log handler: a log call never waits for the log's reader.

A server that logs every request to a pipe nobody reads (a supervisor that stopped reading, a benchmark that read
only the first line) would otherwise block in `write()` on its event loop's thread once the pipe is full: every
request then hangs and even SIGTERM is never handled. Here the record is filtered and formatted in the caller's
thread (redaction and request ids work as before), and a daemon thread writes the lines with `os.write` on its own
file descriptor. When the writer falls behind by MAX_LINES lines, new lines are dropped and counted, and the count
is written once the sink moves again. `flush()` (called by `logging.shutdown` at exit) waits at most FLUSH_WAIT_S.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

MAX_LINES = 10_000
FLUSH_WAIT_S = 1.0


class BackgroundLogHandler(logging.Handler):
    """Writes formatted lines to file descriptor `fd` (owned by the handler) from a daemon thread."""

    def __init__(self, fd: int, target: str) -> None:
        super().__init__()
        self.fd = fd
        self.target = target  # "stderr" or the file's path
        self.lines: queue.Queue[bytes] = queue.Queue(MAX_LINES)
        self.dropped = 0
        threading.Thread(target=self._write_lines, name="prompt-alchemy-log-writer", daemon=True).start()

    @classmethod
    def to_file(cls, path: str | os.PathLike[str]) -> BackgroundLogHandler:
        return cls(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644), os.fspath(path))

    @classmethod
    def to_stderr(cls) -> BackgroundLogHandler:
        return cls(os.dup(2), "stderr")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
        except Exception:  # noqa: BLE001 - logging's own convention
            self.handleError(record)
            return
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _write_lines(self) -> None:
        while True:
            line = self.lines.get()
            dropped, self.dropped = self.dropped, 0
            if dropped:
                self._write(
                    f"{time.strftime('%Y-%m-%d %H:%M:%S')} WARNING prompt_alchemy.log: {dropped} log "
                    f"line(s) dropped: the log was not being read fast enough\n".encode()
                )
            self._write(line)
            self.lines.task_done()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:  # the reader is gone (EPIPE) or the disk refused: the line is lost, the server goes on
                return
            view = view[written:]

    def flush(self) -> None:
        deadline = time.monotonic() + FLUSH_WAIT_S
        while self.lines.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
