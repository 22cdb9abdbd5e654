"""Access: API keys (created, listed, revoked, verified) and the audit log that every write appends to.

Who acts is a context variable (:data:`actor`): the HTTP server sets it to the name of the key that authenticated
a request; otherwise it is ``local`` (the CLI, stdio MCP, the server's own schedule). The writes of the other
capability services (generate with save, update, delete, rate, choose, train, import) are recorded here, in one
place, by overriding them and calling the capability's own method: a row holds the time, the actor, the action,
the ids written and the outcome, never the text written or any secret. Deletes, label changes and import batches
commit their rows with the write itself (an AuditNote handed to the store); for them only failures are added here.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prompt_alchemy.errors import AlchemyError, ConflictError, InputError, NotFoundError
from prompt_alchemy.observability import get_logger
from prompt_alchemy.services._common import check_page, in_thread
from prompt_alchemy.services.app import App

_log = get_logger("services.access")

SCOPES = ("read", "write", "admin")
KEY_PREFIX = "pa_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOKEN = re.compile(r"^pa_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
LOCAL_ACTOR = "local"
#: The rate-limit window: a key's limit counts requests per minute.
RATE_WINDOW = 60.0

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

    @in_thread
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
        self._record_audit("key.create", [key_id], detail=f"name={name} scope={scope}")
        row = {"id": key_id, "name": name, "scope": scope, "rate_limit": rate_limit,
               "created_at": now.isoformat(), "revoked_at": None}
        return f"{KEY_PREFIX}{key_id}_{secret}", row

    @in_thread
    def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        if not self.loaded.database_path.exists():
            return []
        return self.store.list_api_keys(include_revoked=include_revoked)

    @in_thread
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
        self._record_audit("key.revoke", [row["id"]], detail=f"name={row['name']}")
        return row

    @in_thread
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

    @in_thread
    def count_request(self, key: ApiKey, default_limit: int) -> float:
        """Count one request of `key` against its rate limit (its own, else `default_limit`) per minute: 0.0 when
        it is within, else the seconds until the key may send again. Shared by every server on a PostgreSQL
        library."""
        return self.store.count_request(key.id, key.rate_limit or default_limit, window=RATE_WINDOW)

    # ------------------------------------------------------------------ audit

    def _record_audit(self, action: str, targets: list[str], outcome: str = "ok",
                      detail: str | None = None) -> None:
        """Append one audit row for the current actor. A failure to record is logged, never raised: the write
        it describes has happened."""
        from prompt_alchemy.models import utcnow
        from prompt_alchemy.security import redact

        try:
            self.store.append_audit(actor=current_actor(), action=action, targets=[str(t) for t in targets],
                                    outcome=outcome, detail=redact(detail)[:500] if detail else None, when=utcnow())
        except Exception as exc:  # noqa: BLE001 - see the docstring
            _log.warning("could not record the audit row for %s: %s", action, exc)

    @in_thread
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

    @in_thread
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
            self._record_audit(action, targets, outcome=f"error:{type(exc).__name__}", detail=str(exc)[:300])

    async def _audited(self, action: str, targets: list[str], write: Any, describe: Any, *,
                       record_failure: bool = True) -> Any:
        """Await `write` and append its audit row: `describe(result)` gives (targets, detail), or None when the
        write changed nothing; a failure is recorded as `_audit_failure` says, and raised."""
        try:
            result = await write
        except Exception as exc:
            if record_failure:
                await asyncio.to_thread(self._audit_failure, action, targets, exc)
            raise
        described = describe(result)
        if described is not None:
            written, detail = described
            await asyncio.to_thread(self._record_audit, action, written, detail=detail)
        return result

    # ------------------------------------------------------------------ the audited writes

    async def generate(self, request, progress=None, *, session_id=None, on_token=None):  # type: ignore[no-untyped-def]
        return await self._audited(
            "generate", [session_id] if session_id else [],
            super().generate(request, progress, session_id=session_id, on_token=on_token),  # type: ignore[misc]
            lambda r: ([r.session_id, *(p.id for p in r.prompts)], f"{len(r.prompts)} prompt(s)") if r.saved
            else None, record_failure=request.save)

    async def update_prompt(self, prompt_id, **changes):  # type: ignore[no-untyped-def]
        fields = ",".join(k for k, v in changes.items() if v is not None)
        return await self._audited(
            "update", [prompt_id], super().update_prompt(prompt_id, **changes),  # type: ignore[misc]
            lambda new: ([new.id, new.parent_id or prompt_id], f"changed {fields}"))

    # Deletes, label changes and imports commit their audit rows in the write's own transaction (the library
    # service hands the store an AuditNote): one delete of many concurrent ones has a row, and a killed import
    # leaves no written row without one. Here only their failures are recorded.

    async def delete_prompt(self, prompt_id):  # type: ignore[no-untyped-def]
        return await self._audited("delete", [prompt_id], super().delete_prompt(prompt_id),  # type: ignore[misc]
                                   lambda _: None)

    async def set_label(self, prompt_id, name, *, source="cli"):  # type: ignore[no-untyped-def]
        return await self._audited("label.set", [prompt_id],
                                   super().set_label(prompt_id, name, source=source),  # type: ignore[misc]
                                   lambda _: None, record_failure=False)

    async def remove_label(self, name, *, source="cli"):  # type: ignore[no-untyped-def]
        return await self._audited("label.remove", [],
                                   super().remove_label(name, source=source),  # type: ignore[misc]
                                   lambda _: None, record_failure=False)

    async def rate(self, prompt_id, score, comment=None, source="cli"):  # type: ignore[no-untyped-def]
        return await self._audited(
            "rate", [prompt_id], super().rate(prompt_id, score, comment=comment, source=source),  # type: ignore[misc]
            lambda row: ([row.id, row.prompt_id], f"rating={row.rating} source={source}"), record_failure=False)

    async def record_choice(self, session_id, chosen_id, source="cli"):  # type: ignore[no-untyped-def]
        return await self._audited(
            "choose", [session_id], super().record_choice(session_id, chosen_id, source=source),  # type: ignore[misc]
            lambda out: ([session_id, out["chosen"], *out["skipped"]], f"source={source}"), record_failure=False)

    async def train(self, dry_run=False, *, trigger="cli", now=None):  # type: ignore[no-untyped-def]
        return await self._audited(
            "train", [], super().train(dry_run, trigger=trigger, now=now),  # type: ignore[misc]
            lambda report: None if dry_run else (
                [f"model-v{report.version}"] if report.version else [],
                f"trigger={trigger} adopted={report.adopted} stored={report.stored}"), record_failure=not dry_run)

    async def import_prompts(self, path, fmt=None, progress=None):  # type: ignore[no-untyped-def]
        return await self._audited("import", [], super().import_prompts(path, fmt, progress),  # type: ignore[misc]
                                   lambda _: None)

    async def optimize(self, prompt_id=None, prompt=None, **options):  # type: ignore[no-untyped-def]
        save = options.get("save", True)
        return await self._audited(
            "optimize", [prompt_id] if prompt_id else [],
            super().optimize(prompt_id, prompt, **options),  # type: ignore[misc]
            lambda result: ([step.prompt_id for step in result.steps if step.prompt_id],
                            f"metric={result.metric} iterations={result.iterations} improved={result.improved}")
            if save and result.saved else None, record_failure=save)
