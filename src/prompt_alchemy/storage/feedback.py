"""The feedback and models part of the SQLite store: the `feedback` table (ratings and choices) and the `models`
table (every trained model version; at most one active). Every write is one transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prompt_alchemy.models import Feedback, ModelVersion
from prompt_alchemy.storage.timefmt import to_iso
from prompt_alchemy.tenancy import project_scope

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager


#: The `maintenance` task under which every training attempt (CLI, cron or the server's schedule) is recorded.
TRAINING_TASK = "train"


def _iso(value: datetime) -> str:
    return to_iso(value) or ""


def _row_to_feedback(row: Any) -> Feedback:
    data = dict(row)
    data["chosen"] = None if data["chosen"] is None else bool(data["chosen"])
    return Feedback(**data)


def _where(
    *, prompt_id: str | None, session_id: str | None, source: str | None, since: datetime | None, kind: str | None
) -> tuple[str, list[Any]]:
    clauses, params = ["1 = 1"], []  # true in both dialects
    for column, value in (("prompt_id", prompt_id), ("session_id", session_id), ("source", source)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("created_at >= ?")
        params.append(_iso(since))
    if kind == "rating":
        clauses.append("rating IS NOT NULL")
    elif kind == "choice":
        clauses.append("chosen IS NOT NULL")
    project = project_scope()
    if project is not None:  # a caller bounded to a project reads the feedback on that project's prompts only
        clauses.append("prompt_id IN (SELECT p.id FROM prompts p WHERE p.project_id = ?)")
        params.append(project)
    return " AND ".join(clauses), params


_JSON_FIELDS = ("feature_names", "weights", "normalization", "params", "metrics")


def _row_to_model(row: Any) -> ModelVersion:
    data = dict(row)
    for name in _JSON_FIELDS:
        data[name] = json.loads(data[name])
    data["active"] = bool(data["active"])
    return ModelVersion(**data)


class FeedbackRepository:
    """Ratings, choices and learned models: a part of each store, whose `transaction()` and `query()` it
    uses."""

    transaction: Callable[[], AbstractContextManager[Any]]
    query: Callable[..., list[Any]]

    def insert_feedback(self, rows: list[Feedback]) -> None:
        """Write feedback rows, all or none."""
        with self.transaction() as db:
            for f in rows:
                db.execute(
                    "INSERT INTO feedback (id, prompt_id, session_id, rating, chosen, comment, source, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        f.id,
                        f.prompt_id,
                        f.session_id,
                        f.rating,
                        None if f.chosen is None else int(f.chosen),
                        f.comment,
                        f.source,
                        _iso(f.created_at),
                    ),
                )

    def list_feedback(
        self,
        *,
        prompt_id: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Feedback]:
        """Feedback rows, newest first. `kind` is "rating" or "choice"."""
        clauses, params = _where(prompt_id=prompt_id, session_id=session_id, source=source, since=since, kind=kind)
        rows = self.query(
            f"SELECT * FROM feedback WHERE {clauses} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
            params + [limit, offset],
        )
        return [_row_to_feedback(r) for r in rows]

    def training_feedback(self) -> list[Feedback]:
        """Every rating and choice, oldest first: what a model is trained on."""
        rows = self.query(
            "SELECT * FROM feedback WHERE rating IS NOT NULL OR chosen IS NOT NULL " "ORDER BY created_at, id"
        )
        return [_row_to_feedback(r) for r in rows]

    def feedback_counts(self) -> dict[str, int]:
        row = self.query(
            "SELECT COUNT(*) AS total, COUNT(rating) AS ratings, COUNT(chosen) AS choices, "
            "COUNT(DISTINCT CASE WHEN rating IS NOT NULL THEN prompt_id END) AS rated_prompts, "
            "COUNT(DISTINCT CASE WHEN chosen IS NOT NULL THEN session_id END) AS choice_sessions FROM feedback"
        )[0]
        return {key: int(row[key] or 0) for key in row.keys()}

    def average_ratings(self, ids: list[str]) -> dict[str, tuple[float, int]]:
        """(average rating, number of ratings) of each of `ids` that has been rated."""
        out: dict[str, tuple[float, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.query(
                f"SELECT prompt_id, AVG(rating) AS avg, COUNT(rating) AS n FROM feedback "
                f"WHERE rating IS NOT NULL AND prompt_id IN ({marks}) GROUP BY prompt_id",
                chunk,
            ):
                out[row["prompt_id"]] = (float(row["avg"]), int(row["n"]))
        return out

    def save_model(self, model: ModelVersion) -> ModelVersion:
        """Store a new model version (numbered here, in the same transaction). An `active` model replaces the active
        one in that transaction: if anything fails, nothing is written and the previous model stays active."""
        with self.transaction() as db:
            version = int(db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM models").fetchone()[0])
            saved = model.model_copy(update={"version": version})
            if saved.active:
                db.execute("UPDATE models SET active = 0 WHERE active = 1")
            db.execute(
                "INSERT INTO models (id, version, kind, status, active, feature_names, weights, normalization, params, "
                "metrics, training_size, train_pairs, validation_pairs, trigger, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    saved.id,
                    version,
                    saved.kind,
                    saved.status,
                    int(saved.active),
                    json.dumps(saved.feature_names),
                    json.dumps(saved.weights),
                    json.dumps(saved.normalization),
                    json.dumps(saved.params, default=str),
                    json.dumps(saved.metrics, default=str),
                    saved.training_size,
                    saved.train_pairs,
                    saved.validation_pairs,
                    saved.trigger,
                    _iso(saved.created_at),
                ),
            )
        return saved

    def active_model(self) -> ModelVersion | None:
        rows = self.query("SELECT * FROM models WHERE active = 1")
        return _row_to_model(rows[0]) if rows else None

    def list_models(self, limit: int = 20) -> list[ModelVersion]:
        """Model versions, newest first."""
        return [_row_to_model(r) for r in self.query("SELECT * FROM models ORDER BY version DESC LIMIT ?", (limit,))]

    def last_training(self) -> dict[str, Any] | None:
        """When training was last attempted (by any trigger) and what came of it."""
        rows = self.query("SELECT last_run_at, detail FROM maintenance WHERE task = ?", (TRAINING_TASK,))
        return {"at": rows[0]["last_run_at"], "detail": rows[0]["detail"]} if rows else None
