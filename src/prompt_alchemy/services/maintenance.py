"""Database maintenance: stats, the response cache, backups and restore, vacuum, migrations, re-embedding."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from prompt_alchemy.errors import AlchemyError, InputError
from prompt_alchemy.services._common import _IMPORT_BATCH, backup_dir, guard_output_path, in_thread
from prompt_alchemy.services.app import App

#: The files an unfinished backup copy may leave: the copy and SQLite's journal files beside it.
_PARTIAL_SUFFIXES = ("", "-journal", "-wal", "-shm")


def _abandoned(copy: Path) -> bool:
    """True when no connection (in any process) holds the unfinished copy for writing: a write lock can be taken."""
    import sqlite3

    if not copy.exists():
        return True
    try:
        conn = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=rw", uri=True, timeout=0, isolation_level=None)
    except sqlite3.Error:
        return True
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        return "locked" not in str(exc) and "busy" not in str(exc)
    except sqlite3.Error:
        return True
    finally:
        conn.close()


class MaintenanceService:
    """Keep the library's database healthy."""

    def __init__(self, app: App) -> None:
        self.app = app

    @in_thread
    def db_stats(self) -> dict[str, Any]:
        stats = self.app.store.stats()
        stats["configured_embedding"] = {
            "provider": self.app.settings.generation.embedding_provider,
            "model": self.app.embedder.model,
            "dimensions": self.app.embedder.dimensions,
        }
        stats["backups"] = [str(p) for p in self._backups()]
        partials = self._partials()
        stats["partial_backups"] = {
            "files": len(partials),
            "bytes": sum(p.stat().st_size for p in partials if p.exists()),
        }
        stats["cache"] = self.app.response_cache.stats()
        return stats

    @in_thread
    def clear_cache(self) -> dict[str, int]:
        """Forget every cached provider response and embedding; returns what was removed."""
        before = self.app.response_cache.stats()
        removed = self.app.response_cache.clear()
        return {"removed": removed, "responses": before["responses"], "embeddings": before["embeddings"]}

    def _backup_dir(self) -> Path:
        return backup_dir(self.app.loaded)

    def _backups(self) -> list[Path]:
        stem = self.app.loaded.database_path.stem
        folder = self._backup_dir()
        return sorted(folder.glob(f"{stem}-*Z.db")) if folder.is_dir() else []

    def check_output_path(
        self, path: str | Path, *, force: bool, what: str = "output file", allow_existing: bool = False
    ) -> Path:
        """The guard every written file goes through (see :func:`guard_output_path`)."""
        return guard_output_path(self.app.loaded, path, force=force, what=what, allow_existing=allow_existing)

    def _partials(self) -> list[Path]:
        """Unfinished backup copies left in the backups folder by an interrupted backup: `*.partial` and the SQLite
        files beside one (`*.partial-journal`, `-wal`, `-shm`)."""
        folder = self._backup_dir()
        if not folder.is_dir():
            return []
        return sorted(p for suffix in _PARTIAL_SUFFIXES for p in folder.glob(f"*.partial{suffix}"))

    def _remove_stale_partials(self) -> list[str]:
        """Remove every unfinished copy no backup is writing now: older than a minute, or left with a hot journal
        (its writer was killed mid-copy: a live writer holds a lock while its journal exists). Returns what went."""
        import time

        groups: dict[Path, list[Path]] = {}
        for path in self._partials():
            base = path.with_name(path.name[: path.name.rindex(".partial") + len(".partial")])
            groups.setdefault(base, []).append(path)
        removed = []
        for base, files in groups.items():
            try:
                newest = max(f.stat().st_mtime for f in files)
            except OSError:
                continue
            hot = any(f.name.endswith("-journal") for f in files)
            if time.time() - newest > 60 or (hot and _abandoned(base)):
                for f in sorted(files, key=lambda f: f != base):  # the copy first, then its journal
                    try:
                        f.unlink(missing_ok=True)
                    except OSError:
                        break
                removed += [str(f) for f in files if not f.exists()]  # the probe may have rolled the journal back
        return removed

    @in_thread
    def backup_database(
        self, path: str | Path | None = None, force: bool = False, *, now: datetime | None = None
    ) -> dict[str, Any]:
        return self._backup(path, force, now=now)

    def _backup(
        self, path: str | Path | None = None, force: bool = False, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """An online backup. Without `path`, into the backups folder beside the database, keeping the newest
        `storage.max_backups`; with `path`, to that file (never over an existing one unless `force`). The source is
        checked (`quick_check`) before copying and the copy (`integrity_check`) before it is kept; old backups are
        pruned only after both pass, so a damaged library never pushes good backups out. Unfinished copies left by
        an interrupted backup are removed."""
        from prompt_alchemy.errors import StorageError
        from prompt_alchemy.models import utcnow
        from prompt_alchemy.storage.sqlite import damaged_message

        now = now or utcnow()
        pruned: list[str] = []
        if path is not None and Path(path).expanduser().resolve() == self._backup_dir().resolve():
            path = None  # the backups folder itself: the default, with pruning
        name = f"{self.app.loaded.database_path.stem}-{now:%Y%m%dT%H%M%S%fZ}.db"
        if path is None:
            target = self._backup_dir() / name
        else:
            target = Path(path).expanduser()
            if target.is_dir() and target.resolve() != self._backup_dir().resolve():
                target = target / name
            target = self.check_output_path(target, force=force, what="backup file")
        if not self.app.library_exists():
            raise InputError(f"there is no library to back up at {self.app.loaded.database_location}")
        problems = self.app.store.check_integrity(quick=True)
        if problems:
            raise StorageError(
                damaged_message(self.app.loaded.database_path, problems[0])
                + "; no backup was made and no old backup was removed"
            )
        removed_partials = self._remove_stale_partials()
        try:
            size = self.app.store.backup_to(target)
        except OSError as exc:
            raise AlchemyError(f"cannot write backup {target}: {exc.strerror or exc}") from None
        if path is None:
            keep = self.app.settings.storage.max_backups
            backups = self._backups()
            for old in backups[:-keep] if len(backups) > keep else []:
                old.unlink(missing_ok=True)
                pruned.append(str(old))
        self.app.store.record_maintenance("backup", now, str(target))
        return {
            "path": str(target),
            "bytes": size,
            "pruned": pruned,
            "at": now.isoformat(),
            "removed_partials": removed_partials,
        }

    @in_thread
    def restore_database(
        self, backup: str | Path | None = None, force: bool = False, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Put a backup back in place of the library: `backup` (a file), else the newest backup in backups/ that
        passes its integrity check. The current file is kept beside it as `<name>.replaced-<time>`. A library that
        is still sound is replaced only with `force`. Run it while no server uses the library."""
        from prompt_alchemy.models import utcnow
        from prompt_alchemy.storage.sqlite import integrity_check, restore_database

        now = now or utcnow()
        db_path = self.app.loaded.database_path
        if self.app.loaded.database_url:
            raise InputError(
                "the library is in PostgreSQL: restore a backup into an empty database with "
                "'prompt-alchemy db copy --from BACKUP --to URL' (backups are SQLite library files)"
            )
        self.app.reset_store()
        skipped: list[str] = []
        if backup is not None:
            chosen = Path(backup).expanduser()
            if not chosen.is_file():
                raise InputError(f"backup {chosen} does not exist or is not a file")
        else:
            found: Path | None = None
            for candidate in reversed(self._backups()):
                if integrity_check(candidate):
                    skipped.append(str(candidate))
                    continue
                found = candidate
                break
            if found is None:
                raise InputError(
                    f"no sound backup in {self._backup_dir()}"
                    + (f" ({len(skipped)} damaged)" if skipped else "")
                    + "; give a backup file: prompt-alchemy db restore FILE"
                )
            chosen = found
        if chosen.resolve() == db_path.resolve():
            raise InputError("the backup to restore is the library itself")
        if db_path.is_file() and not integrity_check(db_path, quick=True) and not force:
            raise InputError(
                f"the library {db_path} passes its integrity check; use --force to replace it "
                f"with {chosen} anyway (the current file is kept beside it)"
            )
        moved = restore_database(db_path, chosen, stamp=f"{now:%Y%m%dT%H%M%SZ}")
        return {
            "restored": str(chosen),
            "database": str(db_path),
            "previous": str(moved) if moved else None,
            "skipped_damaged": skipped,
        }

    @in_thread
    def vacuum_database(self, *, now: datetime | None = None) -> dict[str, Any]:
        return self._vacuum(now=now)

    def _vacuum(self, *, now: datetime | None = None) -> dict[str, Any]:
        from prompt_alchemy.models import utcnow

        before = sum(self.app.store.file_sizes().values())
        self.app.store.vacuum()
        after = sum(self.app.store.file_sizes().values())
        now = now or utcnow()
        self.app.store.record_maintenance("vacuum", now, f"{before} -> {after} bytes")
        return {"bytes_before": before, "bytes_after": after, "at": now.isoformat()}

    @in_thread
    def copy_database(self, to: str, source: str | None = None, *, strip_nul: bool = False) -> dict[str, Any]:
        """Copy the whole library (or the one at `source`: a SQLite path or a postgresql:// URL) into the empty
        library at `to` (either kind), row for row, in one transaction. A SQLite file this creates is removed again
        when the copy fails, so a failed copy leaves nothing behind. Rows holding NUL characters cannot move into
        PostgreSQL: they are named and nothing is copied, unless `strip_nul` (see storage.copy.copy_library)."""
        import time

        from prompt_alchemy.storage.copy import copy_library, open_library
        from prompt_alchemy.storage.url import is_postgres_url, mask_url

        to = (to or "").strip()
        if not to:
            raise InputError("give the library to copy to: a SQLite file path or a postgresql:// URL")
        new_file = None
        if not is_postgres_url(to) and "://" not in to:
            path = Path(to).expanduser()
            if path.exists() and path.resolve() == self.app.loaded.database_path.resolve():
                raise InputError("the library to copy to is the library itself")
            if path.is_dir():
                raise InputError(f"{path} is a folder; give a file path for the SQLite library")
            new_file = None if path.exists() else path
        elif source is None and self.app.loaded.database_url == to:
            raise InputError("the library to copy to is the library itself")
        started = time.perf_counter()
        src = self.app.store if source is None else open_library(source)
        dst = None
        try:
            dst = open_library(to)
            copied = copy_library(src, dst, strip_nul=strip_nul)
            stripped = copied.pop("nul_stripped", 0)
        except BaseException:
            if dst is not None:
                dst.close()
                dst = None
            if new_file is not None:
                for f in (new_file, *[Path(str(new_file) + s) for s in ("-wal", "-shm")]):
                    f.unlink(missing_ok=True)
            raise
        finally:
            if dst is not None:
                dst.close()
            if source is not None:
                src.close()
        return {
            "from": mask_url(str(source)) if source else str(self.app.store.path),
            "to": mask_url(to),
            "rows": copied,
            "prompts": copied.get("prompts", 0),
            "nul_stripped": stripped,
            "wall_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    @in_thread
    def migrate_database(self) -> dict[str, Any]:
        """Apply pending schema migrations (opening the store applies them too): which ran, which exist."""
        applied = list(self.app.store.applied_migrations) + self.app.store.migrate()
        return {
            "applied": applied,
            "migrations": self.app.store.stats()["migrations"],
            "version": self.app.store.schema_version(),
            "path": str(self.app.store.path),
        }

    async def reembed(
        self, include_all: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Re-embed the prompts whose vectors come from another embedding model or dimension (with `include_all`,
        every prompt) with the configured embedder, in batches, one transaction each."""
        import time

        from prompt_alchemy.storage.sqlite import vector_to_blob

        embedder = self.app.embedder
        reason = embedder.unavailable_reason()
        if reason is not None:
            raise AlchemyError(f"cannot re-embed: {reason}")
        started = time.perf_counter()
        targets = self.app.store.embedding_targets(embedder.model, embedder.dimensions, include_all=include_all)
        if progress:
            progress(0, len(targets))
        done = 0
        for start in range(0, len(targets), _IMPORT_BATCH):
            batch = targets[start : start + _IMPORT_BATCH]
            vectors = await self.app.library.embed_texts([content for _, content in batch])
            await asyncio.to_thread(
                self.app.store.set_embeddings,
                [(pid, vector_to_blob(v)) for (pid, _), v in zip(batch, vectors)],
                embedder.model,
                embedder.provider,
                embedder.dimensions,
            )
            done += len(batch)
            if progress:
                progress(done, len(targets))
        return {
            "reembedded": done,
            "model": embedder.model,
            "provider": embedder.provider,
            "dimensions": embedder.dimensions,
            "wall_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    @in_thread
    def run_maintenance_if_due(self, now: Any = None) -> dict[str, Any]:
        """Back up and/or vacuum when `storage.backup_interval` / `storage.vacuum_interval` has passed since the
        last run (recorded in the database). For server mode, called periodically. Returns what ran."""
        from prompt_alchemy.models import parse_duration, parse_when, utcnow

        now = parse_when(now) or utcnow()
        ran: dict[str, Any] = {}
        storage = self.app.settings.storage
        for task, interval, run in (
            ("backup", storage.backup_interval, self._backup),
            ("vacuum", storage.vacuum_interval, self._vacuum),
        ):
            if not interval:
                continue
            last = self.app.store.last_maintenance(task)
            if last is None or (now - last).total_seconds() >= parse_duration(interval):
                ran[task] = run(now=now)
        return ran
