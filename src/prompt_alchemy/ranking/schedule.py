"""Scheduled training: nightly at `learning.schedule` (HH:MM, local time). This module says when it is due.

Two ways to run it:

* the server process (`prompt-alchemy serve`) runs :func:`prompt_alchemy.server.schedule.run_learning_loop`.
  The time of every attempt is kept in the `maintenance` table, so a run made by cron and one made by the server
  on the same night do not both happen.
* CLI-only users install a cron entry with `prompt-alchemy train --install-schedule` (removed with
  `--uninstall-schedule`). Only the one line marked ``# prompt-alchemy:train`` is ever added or removed; every
  other line of the crontab is kept as it was.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.security import write_text_atomically

CRON_MARKER = "# prompt-alchemy:train"
Clock = Callable[[], datetime]


def local_now() -> datetime:
    return datetime.now().astimezone()


def parse_schedule(text: str) -> tuple[int, int]:
    """(hour, minute) of an HH:MM schedule (validated by the config model)."""
    hour, minute = text.split(":")
    return int(hour), int(minute)


def last_slot(now: datetime, schedule: str) -> datetime:
    """The most recent scheduled time at or before `now`."""
    hour, minute = parse_schedule(schedule)
    slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return slot if slot <= now else slot - timedelta(days=1)


def next_slot(now: datetime, schedule: str) -> datetime:
    """The first scheduled time after `now`."""
    return last_slot(now, schedule) + timedelta(days=1)


def is_due(now: datetime, schedule: str, last_attempt: datetime | None, started: datetime) -> bool:
    """Due when a scheduled time has passed since the last attempt (or, if training never ran, since `started`)."""
    reference = last_attempt if last_attempt is not None else started
    return reference < last_slot(now, schedule)


# ------------------------------------------------------------------------------------------------ cron


def cron_line(schedule: str, command: Sequence[str], env: dict[str, str], log_file: Path) -> str:
    """One crontab line that runs `command` daily at `schedule`, appending its output to `log_file`."""
    hour, minute = parse_schedule(schedule)
    parts = [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())] + [shlex.quote(c) for c in command]
    text = f"{minute} {hour} * * * {' '.join(parts)} >> {shlex.quote(str(log_file))} 2>&1 {CRON_MARKER}"
    return text.replace("%", "\\%")  # cron turns a bare % into a newline


def read_crontab(crontab_file: Path | None = None) -> str:
    """The current crontab: the file's text, or `crontab -l` (empty when the user has none)."""
    if crontab_file is not None:
        try:
            return crontab_file.read_text(encoding="utf-8") if crontab_file.exists() else ""
        except OSError as exc:
            raise AlchemyError(f"cannot read {crontab_file}: {exc.strerror}; nothing changed") from None
    proc = _crontab(["-l"])
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return ""
        raise AlchemyError(
            f"cannot read your crontab ('crontab -l' failed: {proc.stderr.strip() or proc.returncode})"
            f"; nothing changed"
        )
    return proc.stdout


def write_crontab(text: str, crontab_file: Path | None = None) -> None:
    if crontab_file is not None:
        try:
            write_text_atomically(crontab_file, lambda fh: fh.write(text), what="crontab file")
        except OSError as exc:
            raise AlchemyError(f"cannot write {crontab_file}: {exc.strerror}") from None
        return
    proc = _crontab(["-"], text)
    if proc.returncode != 0:
        raise AlchemyError(
            f"cannot install the crontab ('crontab -' failed: {proc.stderr.strip() or proc.returncode})"
            f"; your crontab is unchanged"
        )


def _crontab(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["crontab", *args], input=stdin, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise AlchemyError(
            "the 'crontab' command is not installed; run 'prompt-alchemy serve' (it trains on "
            "schedule) or schedule 'prompt-alchemy train' with your system's scheduler"
        ) from None
    except subprocess.TimeoutExpired:
        raise AlchemyError("the 'crontab' command did not answer within 30 s; nothing changed") from None


def _without_entry(text: str) -> tuple[list[str], int]:
    lines = text.splitlines()
    kept = [line for line in lines if not line.rstrip().endswith(CRON_MARKER)]
    return kept, len(lines) - len(kept)


def install_cron(line: str, crontab_file: Path | None = None) -> dict[str, Any]:
    """Add (or replace) the training entry; every other line is kept."""
    kept, replaced = _without_entry(read_crontab(crontab_file))
    write_crontab("\n".join(kept + [line]) + "\n", crontab_file)
    return {
        "installed": True,
        "replaced": replaced > 0,
        "line": line,
        "crontab": str(crontab_file) if crontab_file else "user crontab",
    }


def uninstall_cron(crontab_file: Path | None = None) -> dict[str, Any]:
    """Remove the training entry; every other line is kept. Nothing is written when there is no entry."""
    kept, removed = _without_entry(read_crontab(crontab_file))
    if removed:
        write_crontab("\n".join(kept) + "\n" if kept else "", crontab_file)
    return {"installed": False, "removed": removed, "crontab": str(crontab_file) if crontab_file else "user crontab"}


def installed_entry(crontab_file: Path | None = None) -> str | None:
    """The installed training line, if any (None also when the crontab cannot be read)."""
    try:
        text = read_crontab(crontab_file)
    except AlchemyError:
        return None
    return next((line for line in text.splitlines() if line.rstrip().endswith(CRON_MARKER)), None)
