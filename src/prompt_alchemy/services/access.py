"""Access: API keys (created, listed, revoked, verified) and the audit log that every write appends to.

Who acts is a context variable (:data:`actor`): the HTTP server sets it to the name of the key that authenticated
a request; otherwise it is ``local`` (the CLI, stdio MCP, the server's own schedule). It is read in one place,
:meth:`AuditLog.actor`. The writes of the other capability services (generate with save, update, delete, rate,
choose, train, import, optimize) carry the decorator :func:`audited`, which records each in the audit log: a row
holds the time, the actor, the action, the ids written and the outcome, never the text written or any secret.
Deletes, label changes and import batches commit their rows with the write itself (an AuditNote handed to the
store); for them the decorator records only failures.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import inspect
import re
import secrets
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from prompt_alchemy.errors import AlchemyError, ConflictError, InputError, NotFoundError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.services._common import check_page, in_thread
from prompt_alchemy.services.app import App
from prompt_alchemy.storage.base import AuditNote

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


#: The arguments of an audited call by name (defaults filled in), as the decorator hands them to its functions.
Call = Mapping[str, Any]
#: What a write wrote: (the ids, a detail line), or None when it changed nothing (no row is added).
Written = tuple[list[str], str | None] | None


class AuditLog:
    """The audit log: rows appended for the current actor, failures recorded, rows listed."""

    def __init__(self, app: App) -> None:
        self.app = app

    @staticmethod
    def actor() -> str:
        """Who the current request acts for: the one reader of the :data:`actor` context variable."""
        return current_actor()

    def note(self, action: str, detail: str | None = None) -> AuditNote:
        """The audit row of a write by the current actor, for the store to commit with the write itself."""
        return AuditNote(actor=self.actor(), action=action, detail=detail[:500] if detail else None)

    def record(self, action: str, targets: list[str], outcome: str = "ok", detail: str | None = None) -> None:
        """Append one audit row for the current actor. A failure to record is logged, never raised: the write
        it describes has happened."""
        from prompt_alchemy.models import utcnow
        from prompt_alchemy.security import redact

        try:
            self.app.store.append_audit(
                actor=self.actor(),
                action=action,
                targets=[str(t) for t in targets],
                outcome=outcome,
                detail=redact(detail)[:500] if detail else None,
                when=utcnow(),
            )
        except Exception as exc:  # noqa: BLE001 - see the docstring
            _log.warning("could not record the audit row for %s: %s", action, exc)

    def record_failure(self, action: str, targets: list[str], exc: BaseException) -> None:
        """A write that failed after its input was accepted is recorded with its error class; bad input (which
        changes nothing), a library that does not exist yet and one that cannot be written (damaged, read-only,
        newer: the audit row could not be written either, and the error already says why) are not."""
        from prompt_alchemy.errors import StorageError

        if (
            isinstance(exc, AlchemyError)
            and not isinstance(exc, (InputError, StorageError))
            and self.app.library_exists()
        ):
            self.record(action, targets, outcome=f"error:{type(exc).__name__}", detail=str(exc)[:300])

    @in_thread
    def list_audit(
        self,
        *,
        actor_name: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: Any = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Audit rows, newest first."""
        from prompt_alchemy.models import parse_when

        check_page(limit, offset)
        try:
            when = parse_when(since)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if not self.app.library_exists():
            return []
        return self.app.store.list_audit(
            actor=actor_name, action=action, target=target, since=when, limit=limit, offset=offset
        )

    @in_thread
    def creators(self, ids: list[str]) -> dict[str, str]:
        """Who created each of `ids` (prompts, feedback rows), where the audit log records it."""
        if not ids or not self.app.library_exists():
            return {}
        return self.app.store.creators(ids)


class Audited(Protocol):
    """A service whose writes are audited: it holds the audit log."""

    @property
    def audit(self) -> AuditLog: ...


_S = TypeVar("_S", bound=Audited)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _no_targets(call: Call) -> list[str]:
    return []


def _nothing_written(result: Any, call: Call) -> Written:
    return None


def audited(
    action: str,
    *,
    targets: Callable[[Call], list[str]] = _no_targets,
    written: Callable[[Any, Call], Written] = _nothing_written,
    failures: Callable[[Call], bool] | bool = True,
) -> Callable[
    [Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]], Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]
]:
    """Record each call of a service's write in its audit log as `action`. `written(result, call)` gives the ids
    written and a detail line (None: the write changed nothing, or the store committed the row with the write);
    a failure is recorded against `targets(call)` when `failures` (or `failures(call)`) is true, as
    :meth:`AuditLog.record_failure` says, and raised. `call` is the call's arguments by name."""

    def decorate(
        method: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]],
    ) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
        signature = inspect.signature(method)

        @functools.wraps(method)
        async def write(self: _S, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            call = bound.arguments
            try:
                result = await method(self, *args, **kwargs)
            except Exception as exc:
                if failures if isinstance(failures, bool) else failures(call):
                    await asyncio.to_thread(self.audit.record_failure, action, targets(call), exc)
                raise
            described = written(result, call)
            if described is not None:
                ids, detail = described
                await asyncio.to_thread(self.audit.record, action, ids, detail=detail)
            return result

        return write

    return decorate


class AccessService:
    """API keys: created, listed, revoked, verified, and counted against their rate limits."""

    def __init__(self, app: App, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    # ------------------------------------------------------------------ keys

    @in_thread
    def create_key(self, name: str, scope: str, rate_limit: int | None = None) -> tuple[str, dict[str, Any]]:
        """A new key: (the secret, shown once; its stored row). Only a salted SHA-256 of the secret is stored."""
        import sqlite3

        from prompt_alchemy.models import utcnow

        name = (name or "").strip()
        if not _NAME.match(name):
            raise InputError(
                f"invalid key name '{name}': use 1-64 letters, digits, '.', '_', '@' or '-', starting "
                f"with a letter or digit"
            )
        if scope not in SCOPES:
            raise InputError(f"unknown scope '{scope}'; use one of: {', '.join(SCOPES)}")
        if rate_limit is not None and not 1 <= rate_limit <= 1_000_000:
            raise InputError(f"--rate-limit must be between 1 and 1000000 requests per minute, got {rate_limit}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        now = utcnow()
        try:
            self.app.store.insert_api_key(
                key_id=key_id,
                name=name,
                scope=scope,
                salt=salt,
                secret_hash=_hash(salt, secret),
                rate_limit=rate_limit,
                created_at=now,
            )
        except sqlite3.IntegrityError:
            raise ConflictError(
                f"an active key named '{name}' exists; revoke it first or choose another " f"name"
            ) from None
        self.audit.record("key.create", [key_id], detail=f"name={name} scope={scope}")
        row = {
            "id": key_id,
            "name": name,
            "scope": scope,
            "rate_limit": rate_limit,
            "created_at": now.isoformat(),
            "revoked_at": None,
        }
        return f"{KEY_PREFIX}{key_id}_{secret}", row

    @in_thread
    def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        if not self.app.library_exists():
            return []
        return self.app.store.list_api_keys(include_revoked=include_revoked)

    @in_thread
    def revoke_key(self, name_or_id: str) -> dict[str, Any]:
        from prompt_alchemy.models import utcnow

        name_or_id = (name_or_id or "").strip()
        if not name_or_id:
            raise InputError("no key name or id given")
        if not self.app.library_exists():
            raise NotFoundError(f"no active key named '{name_or_id}' (see 'prompt-alchemy api-keys list')")
        row = self.app.store.revoke_api_key(name_or_id, utcnow())
        if row is None:
            raise NotFoundError(f"no active key named '{name_or_id}' (see 'prompt-alchemy api-keys list')")
        self.audit.record("key.revoke", [row["id"]], detail=f"name={row['name']}")
        return row

    @in_thread
    def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key whose secret `token` is, or None (unknown, malformed, wrong secret or revoked)."""
        match = _TOKEN.match((token or "").strip())
        if match is None:
            return None
        row = self.app.store.api_key_secret(match.group(1))
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(_hash(row["salt"], match.group(2)), row["secret_hash"]):
            return None
        return ApiKey(id=row["id"], name=row["name"], scope=row["scope"], rate_limit=row["rate_limit"])

    @in_thread
    def count_request(self, key: ApiKey, default_limit: int) -> float:
        """Count one request of `key` against its rate limit (its own, else `default_limit`) per minute: 0.0 when
        it is within, else the seconds until the key may send again. Shared by every server on a PostgreSQL
        library (or one Redis: cache.url)."""
        return self.app.rate_windows.count_request(key.id, key.rate_limit or default_limit, window=RATE_WINDOW)
