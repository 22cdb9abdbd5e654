"""Batch generation: ideas from JSONL, CSV or plain text, run with bounded concurrency, with a results file that
lets an interrupted run resume without generating any idea twice or losing one.

How resume stays exact: the results file starts with a header line holding a batch id, and every item's
`session_id` is derived from that id and the item's key before the item starts. An item is done when the results
file has an `ok` line for its key. An item that was saved but whose line never got written (the process died in
between) is found in the store by its pre-assigned session id and recovered instead of being generated again.
Nothing here touches the store or providers directly: the service passes in `generate` and `recover`.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from prompt_alchemy.errors import AlchemyError, InputError
from prompt_alchemy.filelocks import try_lock
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import (
    BatchItem,
    BatchItemResult,
    BatchReport,
    GenerationResult,
    PromptRequest,
)

if TYPE_CHECKING:
    from filelock import BaseFileLock

log = get_logger("batch")

FORMATS = ("jsonl", "csv", "text")
MAX_WORKERS = 32
_IDEA_COLUMNS = ("idea", "prompt", "text")
_OPTION_COLUMNS = {"id", "phases", "count", "persona", "target_model", "provider", "temperature", "max_tokens", "tags"}
_NAMESPACE = uuid.UUID("6f1c7a52-8f0e-4d55-9a43-2b8f7d0c1e11")

BatchProgress = Callable[[BatchItemResult, int, int], None]
"""Called once per item as it finishes (and once per item skipped by --resume): (result, done, total)."""


# --------------------------------------------------------------------------------------------------- input


def detect_format(path: str | Path, text: str) -> str:
    """By extension (.jsonl/.ndjson/.json, .csv), else JSONL when the first line is a JSON object, else text."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return "jsonl" if first.startswith("{") else "text"


def parse_items(text: str, fmt: str, source: str = "input") -> list[BatchItem]:
    """Parse every item, naming the line of the first bad one. Raises InputError; never returns an empty list."""
    from pydantic import ValidationError

    if fmt not in FORMATS:
        raise InputError(f"unknown batch format '{fmt}'; use one of: {', '.join(FORMATS)}")
    items: list[BatchItem] = []
    for line, data in _records(text, fmt, source):
        try:
            items.append(BatchItem.model_validate(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "item"
            msg = err["msg"].removeprefix("Value error, ")
            raise InputError(f"{source} line {line}: invalid {field}: {msg}") from None
    if not items:
        raise InputError(
            f"{source} has no ideas (expected {fmt}: "
            + {
                "jsonl": 'one JSON object with an "idea" per line',
                "csv": "a header row with an 'idea' column and one row per idea",
                "text": "one idea per line",
            }[fmt]
            + ")"
        )
    return items


def _records(text: str, fmt: str, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "text":
        for number, line in enumerate(text.splitlines(), 1):
            idea = line.strip()
            if idea and not idea.startswith("#"):
                yield number, {"idea": idea}
    elif fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{source} line {number}: not valid JSON ({exc.msg})") from None
            if isinstance(data, str):
                data = {"idea": data}
            if not isinstance(data, dict):
                raise InputError(f'{source} line {number}: expected a JSON object with an "idea" (or a string)')
            yield number, data
    else:
        reader = csv.DictReader(io.StringIO(text))
        columns = {(name or "").strip().lower().replace("-", "_"): name for name in reader.fieldnames or []}
        idea_column = next((columns[c] for c in _IDEA_COLUMNS if c in columns), None)
        if idea_column is None:
            raise InputError(
                f"{source}: the CSV header needs an 'idea' (or 'prompt') column; "
                f"found: {', '.join(reader.fieldnames or []) or 'no header'}"
            )
        options = {key: name for key, name in columns.items() if key in _OPTION_COLUMNS}
        for row in reader:
            idea = (row.get(idea_column) or "").strip()
            if not idea:
                continue
            record: dict[str, Any] = {"idea": idea}
            for key, name in options.items():
                value = (row.get(name) or "").strip()
                if value:
                    record[key] = value
            yield reader.line_num, record


def item_keys(items: list[BatchItem]) -> list[str]:
    """A stable key per item: its `id`, else a hash of the idea and its options plus an occurrence number (so two
    identical lines are two items, and inserting or reordering lines does not change any key)."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for item in items:
        if item.id:
            base = f"id:{item.id}"
        else:
            canonical = json.dumps(item.model_dump(mode="json", exclude_none=True), sort_keys=True, ensure_ascii=False)
            base = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}#{seen[base]}"
        if item.id and seen[base] > 1:
            raise InputError(f"two batch items share the id '{item.id}'; ids must be unique")
        keys.append(key)
    return keys


# --------------------------------------------------------------------------------------------------- results file


class ResultsFile:
    """The JSONL results file: a header line `{"type": "batch", "batch_id": ...}`, then one `{"type": "item", ...}`
    line per finished item (the last line for a key wins). Locked while a run writes to it, through the file
    `<results>.lock` beside it (left in place; the lock itself ends with the run or its process)."""

    def __init__(self, path: str | Path, *, resume: bool, source: str) -> None:
        self.path = Path(path)
        self.source = source
        self.batch_id: str | None = None
        self.done: dict[str, BatchItemResult] = {}
        self._fh: TextIO | None = None
        self._lock: BaseFileLock | None = None
        self._partial_tail = False
        if self.path.exists() and not self.path.is_file():
            raise InputError(f"results file {self.path} is not a regular file")
        try:
            existing = self.path.read_text(encoding="utf-8") if self.path.is_file() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read results file {self.path}: {exc}") from None
        if existing.strip():
            if not resume:
                raise InputError(
                    f"results file {self.path} already exists; pass --resume to continue that batch, "
                    f"or choose another --output-file"
                )
            self._load(existing)

    def _load(self, text: str) -> None:
        lines = text.splitlines()
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("type") != "batch" or not header.get("batch_id"):
            raise InputError(
                f"{self.path} is not a prompt-alchemy batch results file (no header line); "
                f"choose another --output-file"
            )
        self.batch_id = str(header["batch_id"])
        for number, line in enumerate(lines[1:], 2):
            try:
                data = json.loads(line)
                if data.get("type") != "item":
                    continue
                data.pop("type")
                result = BatchItemResult.model_validate(data)
            except (json.JSONDecodeError, ValueError, AttributeError) as exc:
                if number == len(lines) and not text.endswith("\n"):  # cut short when the previous run died
                    log.warning("ignoring the incomplete last line of %s", self.path)
                    self._partial_tail = True
                    continue
                raise InputError(f"{self.path} line {number} is not a batch result; fix or remove that line") from exc
            if result.status == "ok":
                self.done[result.key] = result
            else:
                self.done.pop(result.key, None)

    def session_id_for(self, key: str) -> str | None:
        return str(uuid.uuid5(_NAMESPACE, f"{self.batch_id}:{key}")) if self.batch_id else None

    def open(self) -> None:
        """Lock the file and write the header of a new batch; from here on lines can be appended."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = try_lock(self.lock_path)
        if lock is None:
            raise AlchemyError(f"results file {self.path} is in use by another batch run")
        try:
            fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until close()
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        fh.seek(0)
        existing = fh.read()
        if existing and not existing.endswith("\n"):
            if self._partial_tail:  # drop the cut-short line so the file stays valid JSONL
                fh.truncate(len(existing[: existing.rfind("\n") + 1].encode("utf-8")))
            else:
                fh.write("\n")
        self._fh = fh
        if self.batch_id is None:
            self.batch_id = uuid.uuid4().hex
            self._write(
                {
                    "type": "batch",
                    "batch_id": self.batch_id,
                    "input": self.source,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            )

    def append(self, result: BatchItemResult) -> None:
        self._write({"type": "item", **result.model_dump(mode="json")})

    def _write(self, data: dict[str, Any]) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


# --------------------------------------------------------------------------------------------------- running


@dataclass
class BatchJob:
    key: str
    index: int
    request: PromptRequest


Generate = Callable[[BatchJob, str | None], Awaitable[GenerationResult]]
Recover = Callable[[BatchJob, str], BatchItemResult | None]


def result_from_generation(job: BatchJob, gen: GenerationResult) -> BatchItemResult:
    best = gen.best
    return BatchItemResult(
        key=job.key,
        index=job.index,
        idea=job.request.idea,
        status="ok",
        session_id=gen.session_id,
        best_id=best.id if best else None,
        best=best.content if best else None,
        best_score=best.score if best else None,
        prompt_ids=[p.id for p in gen.prompts],
        saved=gen.saved,
        total_tokens=gen.total_tokens,
        cost_usd=round(gen.total_cost, 6),
        wall_ms=round(gen.wall_ms, 1),
    )


async def run_batch(
    jobs: list[BatchJob],
    *,
    workers: int,
    generate: Generate,
    recover: Recover | None = None,
    results: ResultsFile | None = None,
    progress: BatchProgress | None = None,
    dry_run: bool = False,
) -> BatchReport:
    """Run every job not already done, at most `workers` at a time. One item's failure is recorded and the batch
    goes on; cancellation stops the items in flight (nothing of theirs is saved) and leaves the results file valid
    for --resume."""
    started = time.perf_counter()
    total = len(jobs)
    outcome: dict[int, BatchItemResult] = {}
    pending: list[BatchJob] = []
    done = 0
    for job in jobs:
        previous = results.done.get(job.key) if results else None
        if previous is not None:
            outcome[job.index] = previous.model_copy(update={"status": "skipped", "index": job.index})
            done += 1
            if progress:
                progress(outcome[job.index], done, total)
        else:
            pending.append(job)
    if dry_run:
        for job in pending:
            outcome[job.index] = BatchItemResult(key=job.key, index=job.index, idea=job.request.idea, status="planned")
        return _report(outcome, total, dry_run=True, results=results, started=started)

    resuming = results is not None and results.batch_id is not None  # an existing batch, not a new one
    if results is not None:
        results.open()
    queue = iter(pending)

    async def run_one(job: BatchJob) -> BatchItemResult:
        session_id = results.session_id_for(job.key) if results else None
        if resuming and recover is not None and session_id:
            recovered = recover(job, session_id)
            if recovered is not None:
                log.info("item %d was saved by the interrupted run; recovered session %s", job.index, session_id)
                return recovered
        start = time.perf_counter()
        try:
            return result_from_generation(job, await generate(job, session_id))
        except AlchemyError as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken item must not lose the rest of the batch
            log.debug("batch item %d failed", job.index, exc_info=True)
            message = f"unexpected {type(exc).__name__}: {exc}"
        return BatchItemResult(
            key=job.key,
            index=job.index,
            idea=job.request.idea,
            status="error",
            error=message,
            wall_ms=round((time.perf_counter() - start) * 1000.0, 1),
        )

    async def worker() -> None:
        nonlocal done
        for job in queue:
            result = await run_one(job)
            if results is not None:
                results.append(result)
            outcome[job.index] = result
            done += 1
            if progress:
                progress(result, done, total)

    try:
        if pending:
            async with asyncio.TaskGroup() as group:
                for _ in range(max(1, min(workers, len(pending)))):
                    group.create_task(worker())
    except BaseExceptionGroup as eg:
        first = eg.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    finally:
        if results is not None:
            results.close()
    return _report(outcome, total, dry_run=False, results=results, started=started)


def _report(
    outcome: dict[int, BatchItemResult], total: int, *, dry_run: bool, results: ResultsFile | None, started: float
) -> BatchReport:
    items = [outcome[i] for i in sorted(outcome)]
    return BatchReport(
        total=total,
        generated=sum(r.status == "ok" for r in items),
        failed=sum(r.status == "error" for r in items),
        skipped=sum(r.status == "skipped" for r in items),
        dry_run=dry_run,
        results_file=str(results.path) if results else None,
        wall_ms=round((time.perf_counter() - started) * 1000.0, 1),
        items=items,
    )
