"""Prompt files in and out of the library: JSON, JSONL and CSV to read; JSONL, JSON, Markdown and text to write.

Reading turns each row into a validated Prompt (or one error line naming the row's line or item number) without
touching the database; the service decides what to write. JSONL and JSON exports carry every stored field,
embeddings and context included, with the prompt's name and version, the labels pointing at it and its ratings, so
that exporting and importing again reproduces the library. Markdown shows the name, version and labels; text is the
prompt text only.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from prompt_alchemy.errors import InputError
from prompt_alchemy.models import ContextItem, Feedback, Phase, Prompt, content_hash
from prompt_alchemy.security import MAX_IMPORT_BYTES, first_control_char, read_text_file

IMPORT_FORMATS = ("jsonl", "json", "csv")
EXPORT_FORMATS = ("jsonl", "json", "markdown", "text")
_ALIASES = {"ndjson": "jsonl", "md": "markdown", "txt": "text", "text": "text"}
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
_PROMPT_FIELDS = set(Prompt.model_fields)
#: Fields a file may not set: derived from the content, or recomputed on import.
_DERIVED = {"content_hash"}
_MAX_ID = 200


@dataclass
class ImportRow:
    """One valid row: where it was (line or item number), the prompt and its context."""

    where: str
    prompt: Prompt
    context: list[ContextItem] = field(default_factory=list)
    #: False when the row says `"embedding": null` (as exports of unembedded prompts do): leave it without one.
    embed: bool = True
    #: Labels that pointed at this prompt in the exported library.
    labels: list[str] = field(default_factory=list)
    #: The prompt's name and version in the exported library (None when it had no name).
    name: str | None = None
    version: int | None = None
    #: Its ratings (1-5, with comment, source and time) in the exported library.
    ratings: list[Feedback] = field(default_factory=list)


def normalize_format(fmt: str | None, path: str | Path | None, allowed: tuple[str, ...], verb: str) -> str:
    """The format named by `fmt`, else the one implied by the file's suffix; InputError when neither works."""
    if fmt:
        name = _ALIASES.get(fmt.lower(), fmt.lower())
        if name not in allowed:
            raise InputError(f"unknown {verb} format '{fmt}'; use one of: {', '.join(allowed)}")
        return name
    suffix = Path(str(path)).suffix.lower() if path is not None else ""
    guessed = _SUFFIXES.get(suffix)
    if guessed is None or guessed not in allowed:
        raise InputError(
            f"cannot tell the {verb} format of '{path}' from its name; pass --format " f"({', '.join(allowed)})"
        )
    return guessed


# ------------------------------------------------------------------------------------------------ reading


def read_prompt_file(
    path: str | Path, fmt: str | None = None, *, dimensions: dict[str, set[int]] | None = None
) -> tuple[str, list[ImportRow], list[str], int]:
    """(format, valid rows, one error line per malformed row, number of rows seen). Raises InputError when the
    file cannot be read at all, or is a CSV without a content column. `dimensions` maps embedding models to the
    vector lengths they may have; a labelled vector of another length is a malformed row."""
    fmt = normalize_format(fmt, path, IMPORT_FORMATS, "import")
    text = read_text_file(path, "import file", encoding="utf-8-sig", limit=MAX_IMPORT_BYTES)
    records: Iterable[tuple[str, dict[str, Any] | str]]
    if fmt == "csv":
        records = _csv_records(text, str(path))
    elif fmt == "jsonl":
        records = _jsonl_records(text)
    else:
        records = _json_records(text, str(path))
    rows: list[ImportRow] = []
    errors: list[str] = []
    seen = 0
    for where, record in records:
        seen += 1
        if isinstance(record, str):
            errors.append(f"{where}: {record}")
            continue
        try:
            rows.append(_to_row(where, record, from_csv=fmt == "csv", dimensions=dimensions or {}))
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
    return fmt, rows, errors, seen


def _jsonl_records(text: str) -> Iterable[tuple[str, dict[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {number}", f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        except (ValueError, RecursionError) as exc:
            yield f"line {number}", f"not valid JSON ({exc})"
            continue
        yield f"line {number}", value if isinstance(value, dict) else "expected a JSON object"


def _json_records(text: str, name: str) -> Iterable[tuple[str, dict[str, Any] | str]]:
    try:
        value = _loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{name} is not valid JSON: {exc}") from None
    if isinstance(value, dict) and isinstance(value.get("prompts"), list):
        value = value["prompts"]
    if not isinstance(value, list):
        raise InputError(f"{name} must hold a JSON array of prompts (or an object with a 'prompts' array)")
    for number, item in enumerate(value, 1):
        yield f"item {number}", item if isinstance(item, dict) else "expected a JSON object"


def _loads(text: str) -> Any:
    """json.loads without the NaN and Infinity that Python's json accepts (they are not JSON)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    return json.loads(text, parse_constant=refuse)


def _csv_records(text: str, name: str = "the CSV file") -> list[tuple[str, dict[str, Any] | str]]:
    """The CSV's rows (a field may be as large as the file: long prompts are real). InputError without a header
    that has a 'content' or 'prompt' column: then no row can be read at all."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_IMPORT_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise InputError(f"{name}: malformed CSV header ({exc})") from None
    if not {"content", "prompt"} & set(header):
        raise InputError(
            f"{name}: the CSV header needs a 'content' or 'prompt' column; found: "
            f"{', '.join(h for h in header if h)[:200] or 'no column names'}"
        )
    return list(_csv_rows(reader, header))


def _csv_rows(reader: Any, header: list[str]) -> Iterable[tuple[str, dict[str, Any] | str]]:
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"line {start}", f"malformed CSV ({exc})"
            start = reader.line_num + 1
            continue
        where = f"line {start}"
        start = reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield where, f"expected {len(header)} fields, found {len(values)}"
            continue
        yield where, {k: v for k, v in zip(header, values) if k and v != ""}


def _to_row(
    where: str, record: dict[str, Any], *, from_csv: bool, dimensions: dict[str, set[int]] | None = None
) -> ImportRow:
    from pydantic import ValidationError

    found = first_control_char(record)
    if found is not None:
        raise ValueError(f"invalid {found[0]}: {found[1]}")
    data = dict(record)
    if "content" not in data and "prompt" in data:
        data["content"] = data.pop("prompt")
        act = data.pop("act", None)
        if act is not None:
            act = str(act).strip()
            data.setdefault("title", act)
            tags = _tags(data.get("tags"))
            data["tags"] = tags if act in tags or not act else [act] + tags
    content = data.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ValueError("missing or empty 'content'")
    if "tags" in data:
        data["tags"] = _tags(data["tags"])
    if isinstance(data.get("phase"), str):
        data["phase"] = Phase.parse(data["phase"]).value  # names and aliases (idea, human, precision)
    for name in ("generation_request", "generation_context", "embedding"):
        if from_csv and isinstance(data.get(name), str):
            try:
                data[name] = _loads(data[name])
            except (ValueError, RecursionError):
                raise ValueError(f"'{name}' is not valid JSON") from None
    if "id" in data and (not isinstance(data["id"], str) or not data["id"].strip() or len(data["id"]) > _MAX_ID):
        raise ValueError(f"'id' must be a non-empty string of at most {_MAX_ID} characters")
    embedding = data.get("embedding")
    if embedding is not None:
        if (
            not isinstance(embedding, list)
            or not embedding
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in embedding)
        ):
            raise ValueError("'embedding' must be a non-empty list of numbers")
        if not all(_finite32(x) for x in embedding):
            raise ValueError("'embedding' holds NaN, Infinity or a number too large for a float32 vector")
        if not data.get("embedding_model"):
            raise ValueError("an 'embedding' needs its 'embedding_model'")
        allowed = (dimensions or {}).get(str(data["embedding_model"]))
        if allowed and len(embedding) not in allowed:
            raise ValueError(
                f"'embedding' has {len(embedding)} numbers but {data['embedding_model']} vectors have "
                f"{' or '.join(str(d) for d in sorted(allowed))}"
            )
        dim: Any = data.get("embedding_dim")
        if dim not in (None, "") and int(dim) != len(embedding):
            raise ValueError(f"'embedding' has {len(embedding)} numbers but embedding_dim is {dim}")
        data["embedding_dim"] = len(embedding)
    else:
        for name in ("embedding_model", "embedding_provider", "embedding_dim"):
            data.pop(name, None)
    context = data.pop("context", None) or []
    labels = data.pop("labels", None) or []
    if isinstance(labels, str):
        labels = _tags(labels)
    if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
        raise ValueError("'labels' must be a list of label names")
    prompt_name, version = _name_fields(data.pop("name", None), data.pop("version", None), from_csv=from_csv)
    ratings = data.pop("ratings", None) or []
    if from_csv and isinstance(ratings, str):
        try:
            ratings = _loads(ratings)
        except (ValueError, RecursionError):
            raise ValueError("'ratings' is not valid JSON") from None
    fields = {k: v for k, v in data.items() if k in _PROMPT_FIELDS and k not in _DERIVED}
    fields.setdefault("source_type", "imported")
    try:
        prompt = Prompt(**fields)
        items = [ContextItem(**c) for c in context] if isinstance(context, list) else None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "row"
        raise ValueError(f"invalid {loc}: {err['msg'].removeprefix('Value error, ')}") from None
    except TypeError:
        raise ValueError("'context' must be a list of objects with 'source' and 'content'") from None
    if items is None:
        raise ValueError("'context' must be a list of objects with 'source' and 'content'")
    for name, value in prompt.model_dump(exclude={"embedding"}).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"'{name}' is {value}; it must be a finite number")
    prompt.content_hash = content_hash(prompt.content)
    return ImportRow(
        where=where,
        prompt=prompt,
        context=items,
        labels=[x.strip() for x in labels],
        embed=prompt.embedding is None and not ("embedding" in record and record["embedding"] is None),
        name=prompt_name,
        version=version,
        ratings=_ratings(ratings, prompt.id),
    )


def _name_fields(name: Any, version: Any, *, from_csv: bool) -> tuple[str | None, int | None]:
    """A row's `name` (text) and `version` (a whole number from 1, only with a name); the name's format is the
    service's to check."""
    if name is None or name == "":
        if version not in (None, ""):
            raise ValueError("'version' needs a 'name'")
        return None, None
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'name' must be text")
    if version in (None, ""):
        return name.strip(), None
    if from_csv and isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("'version' must be a whole number from 1")
    return name.strip(), version


def _ratings(value: Any, prompt_id: str) -> list[Feedback]:
    """The row's `ratings` as feedback rows of `prompt_id` (each {rating, comment?, source?, created_at?, id?})."""
    from pydantic import ValidationError

    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ValueError("'ratings' must be a list of objects with a 'rating' from 1 to 5")
    out = []
    for item in value:
        if not isinstance(item.get("rating"), int) or isinstance(item.get("rating"), bool):
            raise ValueError("'ratings' must be a list of objects with a 'rating' from 1 to 5")
        fields = {k: item[k] for k in ("id", "rating", "comment", "source", "created_at") if item.get(k) is not None}
        try:
            out.append(Feedback(prompt_id=prompt_id, **fields))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ValueError(
                f"invalid ratings.{'.'.join(str(x) for x in err['loc'])}: "
                f"{err['msg'].removeprefix('Value error, ')}"
            ) from None
    return out


def _finite32(x: float) -> bool:
    try:
        return math.isfinite(x) and abs(x) <= 3.4e38
    except OverflowError:
        return False


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("'tags' is not a valid JSON list") from None
        else:
            value = text.split(",")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError("'tags' must be a list of strings or a comma-separated string")
    return list(dict.fromkeys(t.strip() for t in value if t.strip()))


# ------------------------------------------------------------------------------------------------ writing


@dataclass
class Extras:
    """What an export writes beside a prompt's own fields: its context, the labels pointing at it, its name and
    version, and its ratings."""

    context: list[ContextItem] | None = None
    labels: list[str] | None = None
    named: tuple[str, int] | None = None
    ratings: list[Feedback] | None = None


def prompt_record(prompt: Prompt, extras: Extras | None = None) -> dict[str, Any]:
    """The full JSON form of a stored prompt: every field, the embedding as a list, its name and version, its
    context, the labels pointing at it and its ratings."""
    extras = extras or Extras()
    record = prompt.model_dump(mode="json")
    if extras.named:
        record["name"], record["version"] = extras.named
    if extras.context:
        record["context"] = [c.model_dump() for c in extras.context]
    if extras.labels:
        record["labels"] = list(extras.labels)
    if extras.ratings:
        record["ratings"] = [
            {
                "id": f.id,
                "rating": f.rating,
                "comment": f.comment,
                "source": f.source,
                "created_at": f.created_at.isoformat(),
            }
            for f in extras.ratings
        ]
    return record


class PromptWriter:
    """Writes prompts one by one in one export format to an open text stream."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        self.stream = stream
        self.fmt = fmt
        self.count = 0

    def __enter__(self) -> PromptWriter:
        if self.fmt == "json":
            self.stream.write("[")
        elif self.fmt == "markdown":
            self.stream.write("# Prompt library export\n")
        return self

    def write(self, prompt: Prompt, extras: Extras | None = None) -> None:
        out = self.stream
        if self.fmt == "jsonl":
            out.write(json.dumps(prompt_record(prompt, extras), ensure_ascii=False) + "\n")
        elif self.fmt == "json":
            out.write(
                ("," if self.count else "") + "\n  " + json.dumps(prompt_record(prompt, extras), ensure_ascii=False)
            )
        elif self.fmt == "markdown":
            out.write(_markdown(prompt, extras or Extras()))
        else:
            out.write(("\n" if self.count else "") + prompt.content.rstrip() + "\n")
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.count else "]\n")


def _markdown(p: Prompt, extras: Extras) -> str:
    heading = (p.title or p.content.splitlines()[0])[:80].strip() or p.id
    meta = [f"`{p.id}`"]
    if extras.named:
        meta.append(f"`{extras.named[0]}@{extras.named[1]}`")
    if p.phase:
        meta.append(p.phase.value)
    if p.provider:
        meta.append(f"{p.provider}/{p.model}" if p.model else p.provider)
    meta.append(p.created_at.strftime("%Y-%m-%d %H:%M UTC"))
    if p.tags:
        meta.append("tags: " + ", ".join(p.tags))
    if p.parent_id:
        meta.append(f"parent `{p.parent_id}`")
    if extras.labels:
        meta.append("labels: " + ", ".join(extras.labels))
    if extras.ratings:
        average = sum(f.rating or 0 for f in extras.ratings) / len(extras.ratings)
        meta.append(f"rated {average:.1f} ({len(extras.ratings)})")
    longest = max((len(run) for run in re.findall(r"`+", p.content)), default=0)
    fence = "`" * max(3, longest + 1)
    notes = f"\n*Notes:* {p.notes}\n" if p.notes else ""
    return f"\n## {heading}\n\n{' · '.join(meta)}\n{notes}\n{fence}\n{p.content.rstrip()}\n{fence}\n"
