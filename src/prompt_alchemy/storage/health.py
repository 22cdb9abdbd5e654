"""A read-only health check of a SQLite library: it opens, its integrity check passes, its migrations match this
code. Nothing is written (no migration is applied, no file is created), so `doctor` can look at a database that the
store itself would refuse or change."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from prompt_alchemy.storage.migrations import MIGRATIONS


@dataclass
class DatabaseHealth:
    path: Path
    exists: bool
    opened: bool = False
    error: str | None = None
    integrity: list[str] = field(default_factory=list)  # the integrity check's findings; ["ok"] when sound
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # known to this code, not yet applied
    unknown: list[str] = field(default_factory=list)  # applied by a newer version of the code
    prompts: int | None = None

    @property
    def sound(self) -> bool:
        return self.opened and self.integrity == ["ok"]


def check_sqlite(path: str | Path, *, max_findings: int = 20) -> DatabaseHealth:
    """Open `path` read-only and run `PRAGMA integrity_check`; compare its applied migrations with this code's."""
    path = Path(path)
    health = DatabaseHealth(path=path, exists=path.is_file())
    if not health.exists:
        return health
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        health.error = str(exc)
        return health
    try:
        health.integrity = [str(r[0]) for r in db.execute(f"PRAGMA integrity_check({int(max_findings)})")]
        health.opened = True
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "_migrations" in tables:
            health.applied = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY applied_at, name")]
        known = [m.__name__ for m in MIGRATIONS]
        health.pending = [name for name in known if name not in health.applied]
        health.unknown = [name for name in health.applied if name not in known]
        if "prompts" in tables:
            health.prompts = int(db.execute("SELECT COUNT(*) FROM prompts").fetchone()[0])
    except sqlite3.Error as exc:
        health.error = str(exc)
    finally:
        db.close()
    return health
