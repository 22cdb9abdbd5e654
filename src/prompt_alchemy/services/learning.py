"""Learning from feedback: ratings and choices, training, the learned model and its schedule."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_alchemy.errors import InputError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import Prompt
from prompt_alchemy.security import check_length, check_text
from prompt_alchemy.services._common import (
    _MAX_COMMENT,
    _MAX_LIMIT,
    check_page,
    in_thread,
)
from prompt_alchemy.services.access import AuditLog, Call, Written, audited
from prompt_alchemy.services.app import App
from prompt_alchemy.services.ranking import RankingService

if TYPE_CHECKING:
    from prompt_alchemy.models import Feedback, ModelVersion
    from prompt_alchemy.ranking.features import FeatureContext
    from prompt_alchemy.ranking.learning import TrainingReport

_log = get_logger("schedule")


def _rated(row: Feedback, call: Call) -> Written:
    return [row.id, row.prompt_id], f"rating={row.rating} source={call['source']}"


def _chosen(out: dict[str, Any], call: Call) -> Written:
    return [call["session_id"], out["chosen"], *out["skipped"]], f"source={call['source']}"


def _trained(report: TrainingReport, call: Call) -> Written:
    if call["dry_run"]:
        return None
    return (
        [f"model-v{report.version}"] if report.version else [],
        f"trigger={call['trigger']} adopted={report.adopted} stored={report.stored}",
    )


class LearningService:
    """Record feedback and learn the user's taste from it."""

    def __init__(self, app: App, ranking: RankingService, audit: AuditLog) -> None:
        self.app = app
        self.ranking = ranking
        self.audit = audit

    # Feedback and model rows live in storage/feedback.py; training in ranking/learning.py; when training is due
    # in ranking/schedule.py, and the server's loop in server/schedule.py. This block validates and orchestrates.

    @audited("rate", targets=lambda call: [call["prompt_id"]], written=_rated, failures=False)
    @in_thread
    def rate(self, prompt_id: str, score: int, comment: str | None = None, source: str = "cli") -> Feedback:
        """Record a 1-5 rating of a stored prompt (with an optional comment). Bad input writes nothing."""
        from prompt_alchemy.models import Feedback

        rating = self._check_score(score)
        source = self._check_source(source)
        comment = (comment or "").strip() or None
        if comment is not None:
            check_length("the comment", comment, _MAX_COMMENT)
            check_text("comment", comment)
        prompt = self._feedback_prompt(prompt_id)
        row = Feedback(prompt_id=prompt.id, session_id=prompt.session_id, rating=rating, comment=comment, source=source)
        self.app.store.insert_feedback([row])
        return row

    @audited("choose", targets=lambda call: [call["session_id"]], written=_chosen, failures=False)
    @in_thread
    def record_choice(self, session_id: str, chosen_id: str, source: str = "cli") -> dict[str, Any]:
        """The user picked `chosen_id` as the best final prompt of a session: chosen=1 for it, chosen=0 (skipped)
        for each of its sibling variants of the same phase, in one transaction."""
        from prompt_alchemy.models import Feedback

        source = self._check_source(source)
        if not (session_id or "").strip():
            raise InputError("no session id given")
        chosen = self._feedback_prompt(chosen_id)
        if chosen.session_id != session_id:
            raise InputError(f"prompt {chosen.id} is not part of session {session_id}")
        siblings = [
            p
            for p in self.app.store.list_prompts(session_id=session_id, limit=_MAX_LIMIT)
            if p.phase == chosen.phase and p.id != chosen.id
        ]
        rows = [Feedback(prompt_id=chosen.id, session_id=session_id, chosen=True, source=source)]
        rows += [Feedback(prompt_id=p.id, session_id=session_id, chosen=False, source=source) for p in siblings]
        self.app.store.insert_feedback(rows)
        return {"session_id": session_id, "chosen": chosen.id, "skipped": [p.id for p in siblings]}

    @in_thread
    def average_ratings(self, ids: list[str]) -> dict[str, tuple[float, int]]:
        """Each rated prompt of `ids`: (its average rating, the number of ratings)."""
        return self.app.store.average_ratings(list(ids)) if ids else {}

    @in_thread
    def list_feedback(
        self,
        prompt_id: str | None = None,
        *,
        session_id: str | None = None,
        source: str | None = None,
        kind: str | None = None,
        since: Any = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list:
        """Feedback rows (ratings and choices), newest first."""
        from prompt_alchemy.models import parse_when

        check_page(limit, offset)
        if source is not None:
            source = self._check_source(source)
        if kind not in (None, "rating", "choice"):
            raise InputError(f"unknown feedback kind '{kind}'; use rating or choice")
        try:
            when = parse_when(since)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if not self.app.library_exists():
            if prompt_id is not None:
                raise InputError(f"no prompt with id '{prompt_id}' (the library is empty)")
            return []
        full = self.ranking.prompt_argument(prompt_id).id if prompt_id is not None else None
        return self.app.store.list_feedback(
            prompt_id=full, session_id=session_id, source=source, since=when, kind=kind, limit=limit, offset=offset
        )

    @audited("train", written=_trained, failures=lambda call: not call["dry_run"])
    async def train(
        self, dry_run: bool = False, *, trigger: str = "cli", now: datetime | None = None, run_id: str | None = None
    ) -> TrainingReport:
        """Fit a learning-to-rank model on all feedback, validate it against the current ranker, and adopt it only
        if it is better (never with `dry_run`). Too little feedback is bad input (exit 2) and changes nothing.
        `run_id`: a train job's, kept with the stored version (see `trained_by`)."""
        from prompt_alchemy.ranking.learning import run_training

        self.check_training()
        report = await run_training(
            self.app.store,
            self.app.settings,
            self.stored_feature_contexts,
            dry_run=dry_run,
            trigger=trigger,
            now=now,
            run_id=run_id,
        )
        if report.adopted:
            await self.refresh_learned_model()
        return report

    def check_training(self) -> None:
        """What `train` refuses before training (learning disabled, too little feedback): bad input, exit 2."""
        from prompt_alchemy.ranking.learning import check_enough, training_feedback

        if not self.app.library_exists():
            check_enough(0, self.app.settings.learning.min_feedback)
        training_feedback(self.app.store, self.app.settings)

    def trained_by(self, run_id: str) -> ModelVersion | None:
        """The model version a training run with `run_id` stored, if it stored one (among the recent ones)."""
        if not self.app.library_exists():
            return None
        return next((m for m in self.app.store.list_models(limit=50) if m.params.get("run") == run_id), None)

    @in_thread
    def learning_status(self) -> dict[str, Any]:
        """The active model (version, metrics, training-set size, the features that matter most), recent versions,
        feedback counts and the schedule."""
        from prompt_alchemy.ranking.schedule import local_now, next_slot

        cfg = self.app.settings.learning
        exists = self.app.library_exists()
        models = self.app.store.list_models(limit=10) if exists else []
        active = next((m for m in models if m.active), None)
        if active is None and exists:
            active = self.app.store.active_model()

        def summary(m) -> dict[str, Any]:
            metrics = {k: v for k, v in m.metrics.items() if k != "top_features"}
            params = {k: v for k, v in m.params.items() if k != "reweighting"}
            return {
                "version": m.version,
                "status": m.status,
                "active": m.active,
                "kind": m.kind,
                "created_at": m.created_at.isoformat(),
                "trigger": m.trigger,
                "training_size": m.training_size,
                "train_pairs": m.train_pairs,
                "validation_pairs": m.validation_pairs,
                "metrics": metrics,
                "params": params,
            }

        counts = (
            self.app.store.feedback_counts()
            if exists
            else {"total": 0, "ratings": 0, "choices": 0, "rated_prompts": 0, "choice_sessions": 0}
        )
        return {
            "enabled": cfg.enabled,
            "schedule": cfg.schedule,
            "next_run": next_slot(local_now(), cfg.schedule).isoformat(timespec="minutes")
            if cfg.enabled and cfg.schedule
            else None,
            "feedback": {**counts, "needed": cfg.min_feedback},
            "active": {**summary(active), "top_features": active.metrics.get("top_features", [])} if active else None,
            "versions": [summary(m) for m in models],
            "last_attempt": self.app.store.last_training() if exists else None,
        }

    @in_thread
    def learning_patterns(self, *, now: datetime | None = None):
        """Which characteristics of a prompt go with high and with low ratings (counts, 95% intervals); nothing
        where the evidence is thin."""
        from prompt_alchemy.models import utcnow
        from prompt_alchemy.ranking.patterns import detect, rated_prompts

        half_life = self.app.settings.learning.half_life_days
        if not self.app.library_exists():
            return detect([], 0, half_life_days=half_life)
        feedback = self.app.store.training_feedback()
        prompts = self.app.store.get_prompts(sorted({f.prompt_id for f in feedback if f.rating is not None}))
        rated, ratings = rated_prompts(feedback, prompts, half_life_days=half_life, now=now or utcnow())
        return detect(rated, ratings, half_life_days=half_life)

    @in_thread
    def install_training_schedule(self, crontab_file: str | Path | None = None) -> dict[str, Any]:
        """Add (or replace) a crontab entry that runs `prompt-alchemy train` daily at `learning.schedule`; every
        other crontab line is kept. `crontab_file` edits that file instead of the user's crontab."""
        import sys

        from prompt_alchemy.ranking.schedule import cron_line, install_cron

        cfg = self.app.settings.learning
        if not cfg.enabled:
            raise InputError("learning is disabled (learning.enabled: false); enable it before scheduling training")
        if not cfg.schedule:
            raise InputError("learning.schedule is not set; set it to a time such as 02:00 first")
        env = {k: os.environ[k] for k in ("PROMPT_ALCHEMY_HOME",) if os.environ.get(k)}
        url = self.app.loaded.database_url
        if url:  # the same library for cron, without writing a password into the crontab
            from prompt_alchemy.storage.url import url_password

            if url_password(url):
                raise InputError(
                    "the library's URL holds a password, which a crontab line would show in plain "
                    "text: keep the password in PostgreSQL's password file (~/.pgpass) and drop it "
                    "from storage.url, or let 'prompt-alchemy serve' train on schedule"
                )
            env["PROMPT_ALCHEMY_DATABASE_URL"] = url
        command = [sys.executable, "-m", "prompt_alchemy"]
        if self.app.loaded.paths.config_file.exists():
            command += ["--config", str(self.app.loaded.paths.config_file.resolve())]
        command += ["train", "--trigger", "cron"]
        log_file = self.app.loaded.database_path.parent / "training.log"
        line = cron_line(cfg.schedule, command, env, log_file)
        return {
            **install_cron(line, Path(crontab_file) if crontab_file else None),
            "schedule": cfg.schedule,
            "log_file": str(log_file),
        }

    @in_thread
    def uninstall_training_schedule(self, crontab_file: str | Path | None = None) -> dict[str, Any]:
        from prompt_alchemy.ranking.schedule import uninstall_cron

        return uninstall_cron(Path(crontab_file) if crontab_file else None)

    @in_thread
    def last_training_attempt(self) -> datetime | None:
        """When training last ran here or in any process sharing the library (None: never)."""
        from prompt_alchemy.ranking.learning import MAINTENANCE_TASK

        if not self.app.library_exists():
            return None
        return self.app.store.last_maintenance(MAINTENANCE_TASK)

    async def scheduled_train(self, now: datetime, still_due: Callable[[datetime | None], bool] | None = None) -> None:
        """The scheduled run: train once, holding the store's training lock, so that with several servers on one
        database (replicas) only one trains; another that wakes at the same time sees the lock taken, or (after
        it) the night's run recorded (`still_due` says whether a run recorded since is enough). Too little
        feedback, or a failure, is logged and recorded as the night's attempt; it is never raised."""
        from prompt_alchemy.ranking.learning import MAINTENANCE_TASK

        try:
            with self.app.store.exclusive(MAINTENANCE_TASK) as mine:
                if not mine:
                    _log.info("scheduled training: another server is training now; its model will be used")
                    return
                if still_due is not None:
                    fresh = await self.last_training_attempt()
                    if not still_due(fresh):
                        _log.info("scheduled training: another server already trained at %s", fresh)
                        return
                try:
                    report = await self.train(trigger="schedule", now=now)
                    _log.info("scheduled training: %s", report.reason)
                except InputError as exc:
                    _log.info("scheduled training skipped: %s", exc)
                    await asyncio.to_thread(self._record_attempt, now, f"skipped: {exc}")
                except Exception as exc:  # noqa: BLE001 - the server keeps serving; the previous model stays
                    _log.warning("scheduled training failed: %s", exc)
                    await asyncio.to_thread(self._record_attempt, now, f"failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - the lock itself failed (the database is away): try next time
            _log.warning("scheduled training failed: %s", exc)

    def _record_attempt(self, now: datetime, detail: str) -> None:
        """Count an unsuccessful run as the night's attempt, so it is not retried in a loop."""
        from prompt_alchemy.ranking.learning import MAINTENANCE_TASK

        try:
            self.app.store.record_maintenance(MAINTENANCE_TASK, now, detail[:500])
        except Exception as exc:  # noqa: BLE001
            _log.warning("scheduled training: cannot record the attempt: %s", exc)

    @in_thread
    def refresh_learned_model(self) -> None:
        """Make the ranker use the model that is active in the database now (another process may have trained)."""
        if self.app.is_built("engine"):
            self.ranking.ranker.learned = self.app.learned_model()

    async def stored_feature_contexts(self, prompts: list[Prompt]) -> dict[str, FeatureContext]:
        """Each stored prompt's ranking context, computed as `score_prompts` does: against its original idea and its
        sibling variants (the same session and phase)."""
        from prompt_alchemy.ranking.ranker import feature_contexts, prompt_meta

        out: dict[str, FeatureContext] = {}
        sessions: dict[str, list[Prompt]] = {}
        for p in prompts:
            group = [p]
            if p.session_id and p.phase is not None:
                if p.session_id not in sessions:
                    sessions[p.session_id] = self.app.store.list_prompts(session_id=p.session_id, limit=200)
                group += [s for s in sessions[p.session_id] if s.phase == p.phase and s.id != p.id]
            metas = [prompt_meta(g) for g in group]
            if len(group) == 1 and not p.original_input:  # nothing to compare with: no embedding needed
                out[p.id] = feature_contexts([p.content], metas=metas)[0]
            else:
                out[p.id] = (await self.ranking.feature_contexts([g.content for g in group], p.original_input, metas))[
                    0
                ]
        return out

    @staticmethod
    def _check_score(score: Any) -> int:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or score != int(score) or not 1 <= score <= 5:
            raise InputError(f"the score must be a whole number from 1 to 5, got {score!r}")
        return int(score)

    @staticmethod
    def _check_source(source: str) -> str:
        from prompt_alchemy.models import FEEDBACK_SOURCES

        if source not in FEEDBACK_SOURCES:
            raise InputError(f"unknown feedback source '{source}'; use one of: {', '.join(FEEDBACK_SOURCES)}")
        return source

    def _feedback_prompt(self, prompt_id: str) -> Prompt:
        """The stored prompt that feedback is about; an unknown one is bad input and creates no database."""
        if not self.app.library_exists():
            raise InputError(f"no prompt with id '{prompt_id}' (the library is empty)")
        return self.ranking.prompt_argument(prompt_id)
