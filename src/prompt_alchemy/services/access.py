"""Access: API keys (created, listed, revoked, verified) and the audit log that every write appends to.

Who acts is a context variable (:data:`actor`): the HTTP server sets it to the name of the key that authenticated
a request; otherwise it is ``local`` (the CLI, stdio MCP, the server's own schedule). The writes of the other
capability services (generate with save, update, delete, rate, choose, train, import) are recorded here, in one
place, by overriding them and calling the capability's own method: a row holds the time, the actor, the action,
the ids written and the outcome, never the text written or any secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prompt_alchemy.errors import AlchemyError, ConflictError, InputError, NotFoundError
from prompt_alchemy.observability import get_logger
from prompt_alchemy.services._common import check_page
from prompt_alchemy.services.app import App

_log = get_logger("services.access")

SCOPES = ("read", "write", "admin")
KEY_PREFIX = "pa_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOKEN = re.compile(r"^pa_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
LOCAL_ACTOR = "local"

#: The name of whoever the current request acts for (an API key's name), or None for the local user.
actor: ContextVar[str | None] = ContextVar("prompt_alchemy_actor", default=None)


def current_actor() -> str:
    return actor.get() or LOCAL_ACTOR


def scope_allows(granted: str, needed: str) -> bool:
    """read < write < admin."""
    return SCOPES.index(granted) >= SCOPES.index(needed)


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A verified key: who it is and what it may do (never its secret)."""

    id: str
    name: str
    scope: str
    rate_limit: int | None


class AccessService(App):
    """API keys, the audit log, and the recording of every write of the other capabilities."""

    # ------------------------------------------------------------------ keys

    def create_key(self, name: str, scope: str, rate_limit: int | None = None) -> tuple[str, dict[str, Any]]:
        """A new key: (the secret, shown once; its stored row). Only a salted SHA-256 of the secret is stored."""
        import sqlite3

        from prompt_alchemy.models import utcnow

        name = (name or "").strip()
        if not _NAME.match(name):
            raise InputError(f"invalid key name '{name}': use 1-64 letters, digits, '.', '_', '@' or '-', starting "
                             f"with a letter or digit")
        if scope not in SCOPES:
            raise InputError(f"unknown scope '{scope}'; use one of: {', '.join(SCOPES)}")
        if rate_limit is not None and not 1 <= rate_limit <= 1_000_000:
            raise InputError(f"--rate-limit must be between 1 and 1000000 requests per minute, got {rate_limit}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        now = utcnow()
        try:
            self.store.insert_api_key(key_id=key_id, name=name, scope=scope, salt=salt,
                                      secret_hash=_hash(salt, secret), rate_limit=rate_limit, created_at=now)
        except sqlite3.IntegrityError:
            raise ConflictError(f"an active key named '{name}' exists; revoke it first or choose another "
                                f"name") from None
        self.record_audit("key.create", [key_id], detail=f"name={name} scope={scope}")
        row = {"id": key_id, "name": name, "scope": scope, "rate_limit": rate_limit,
               "created_at": now.isoformat(), "revoked_at": None}
        return f"{KEY_PREFIX}{key_id}_{secret}", row

    def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        if not self.loaded.database_path.exists():
            return []
        return self.store.list_api_keys(include_revoked=include_revoked)

    def revoke_key(self, name_or_id: str) -> dict[str, Any]:
        from prompt_alchemy.models import utcnow

        name_or_id = (name_or_id or "").strip()
        if not name_or_id:
            raise InputError("no key name or id given")
        if not self.loaded.database_path.exists():
            raise NotFoundError(f"no active key named '{name_or_id}' (see 'prompt-alchemy keys list')")
        row = self.store.revoke_api_key(name_or_id, utcnow())
        if row is None:
            raise NotFoundError(f"no active key named '{name_or_id}' (see 'prompt-alchemy keys list')")
        self.record_audit("key.revoke", [row["id"]], detail=f"name={row['name']}")
        return row

    def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key whose secret `token` is, or None (unknown, malformed, wrong secret or revoked)."""
        match = _TOKEN.match((token or "").strip())
        if match is None:
            return None
        row = self.store.api_key_secret(match.group(1))
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(_hash(row["salt"], match.group(2)), row["secret_hash"]):
            return None
        return ApiKey(id=row["id"], name=row["name"], scope=row["scope"], rate_limit=row["rate_limit"])

    # ------------------------------------------------------------------ audit

    def record_audit(self, action: str, targets: list[str], outcome: str = "ok", detail: str | None = None) -> None:
        """Append one audit row for the current actor. A failure to record is logged, never raised: the write
        it describes has happened."""
        from prompt_alchemy.models import utcnow
        from prompt_alchemy.security import redact

        try:
            self.store.append_audit(actor=current_actor(), action=action, targets=[str(t) for t in targets],
                                    outcome=outcome, detail=redact(detail)[:500] if detail else None, when=utcnow())
        except Exception as exc:  # noqa: BLE001 - see the docstring
            _log.warning("could not record the audit row for %s: %s", action, exc)

    def list_audit(self, *, actor_name: str | None = None, action: str | None = None, target: str | None = None,
                   since: Any = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Audit rows, newest first."""
        from prompt_alchemy.models import parse_when

        check_page(limit, offset)
        try:
            when = parse_when(since)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if not self.loaded.database_path.exists():
            return []
        return self.store.list_audit(actor=actor_name, action=action, target=target, since=when, limit=limit,
                                     offset=offset)

    def creators(self, ids: list[str]) -> dict[str, str]:
        """Who created each of `ids` (prompts, feedback rows), where the audit log records it."""
        if not ids or not self.loaded.database_path.exists():
            return {}
        return self.store.creators(ids)

    def _audit_failure(self, action: str, targets: list[str], exc: BaseException) -> None:
        """A write that failed after its input was accepted is recorded with its error class; bad input (which
        changes nothing), a library that does not exist yet and one that cannot be written (damaged, read-only,
        newer: the audit row could not be written either, and the error already says why) are not."""
        from prompt_alchemy.storage.sqlite import StorageError

        if isinstance(exc, AlchemyError) and not isinstance(exc, (InputError, StorageError)) \
                and self.loaded.database_path.exists():
            self.record_audit(action, targets, outcome=f"error:{type(exc).__name__}", detail=str(exc)[:300])

    # ------------------------------------------------------------------ the audited writes

    async def generate(self, request, progress=None, *, session_id=None):  # type: ignore[no-untyped-def]
        try:
            result = await super().generate(request, progress, session_id=session_id)  # type: ignore[misc]
        except Exception as exc:
            if request.save:
                self._audit_failure("generate", [session_id] if session_id else [], exc)
            raise
        if result.saved:
            self.record_audit("generate", [result.session_id, *(p.id for p in result.prompts)],
                              detail=f"{len(result.prompts)} prompt(s)")
        return result

    async def update_prompt(self, prompt_id, **changes):  # type: ignore[no-untyped-def]
        try:
            new = await super().update_prompt(prompt_id, **changes)  # type: ignore[misc]
        except Exception as exc:
            self._audit_failure("update", [prompt_id], exc)
            raise
        fields = ",".join(k for k, v in changes.items() if v is not None)
        self.record_audit("update", [new.id, new.parent_id or prompt_id], detail=f"changed {fields}")
        return new

    def delete_prompt(self, prompt_id):  # type: ignore[no-untyped-def]
        try:
            result = super().delete_prompt(prompt_id)  # type: ignore[misc]
        except Exception as exc:
            self._audit_failure("delete", [prompt_id], exc)
            raise
        self.record_audit("delete", [prompt_id])
        return result

    def set_label(self, prompt_id, name, *, source="cli"):  # type: ignore[no-untyped-def]
        out = super().set_label(prompt_id, name, source=source)  # type: ignore[misc]
        if out["changed"]:
            self.record_audit("label.set", [out["prompt_id"], *([out["previous_id"]] if out["previous_id"] else [])],
                              detail=f"label={out['name']}")
        return out

    def remove_label(self, name, *, source="cli"):  # type: ignore[no-untyped-def]
        out = super().remove_label(name, source=source)  # type: ignore[misc]
        self.record_audit("label.remove", [out["prompt_id"]], detail=f"label={out['name']}")
        return out

    def rate(self, prompt_id, score, comment=None, source="cli"):  # type: ignore[no-untyped-def]
        row = super().rate(prompt_id, score, comment=comment, source=source)  # type: ignore[misc]
        self.record_audit("rate", [row.id, row.prompt_id], detail=f"rating={row.rating} source={source}")
        return row

    def record_choice(self, session_id, chosen_id, source="cli"):  # type: ignore[no-untyped-def]
        out = super().record_choice(session_id, chosen_id, source=source)  # type: ignore[misc]
        self.record_audit("choose", [session_id, out["chosen"], *out["skipped"]], detail=f"source={source}")
        return out

    async def train(self, dry_run=False, *, trigger="cli", now=None):  # type: ignore[no-untyped-def]
        try:
            report = await super().train(dry_run, trigger=trigger, now=now)  # type: ignore[misc]
        except Exception as exc:
            if not dry_run:
                self._audit_failure("train", [], exc)
            raise
        if not dry_run:
            self.record_audit("train", [f"model-v{report.version}"] if report.version else [],
                              detail=f"trigger={trigger} adopted={report.adopted} stored={report.stored}")
        return report

    async def import_prompts(self, path, fmt=None, progress=None):  # type: ignore[no-untyped-def]
        try:
            report = await super().import_prompts(path, fmt, progress)  # type: ignore[misc]
        except Exception as exc:
            self._audit_failure("import", [], exc)
            raise
        self.record_audit("import", [], detail=f"imported={report.imported} duplicates={report.duplicates} "
                                               f"failed={report.failed} format={report.format}")
        return report

