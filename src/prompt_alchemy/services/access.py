"""Access: API keys (created, listed, revoked, verified) and the audit log that every write appends to.

Who acts is a context variable (:data:`actor`): the HTTP server sets it to the name of the key that authenticated
a request; otherwise it is ``local`` (the CLI, stdio MCP, the server's own schedule). It is read in one place,
:meth:`AuditLog.actor`. The writes of the other capability services (generate with save, update, delete, rate,
choose, train, import, optimize) carry the decorator :func:`audited`, which records each in the audit log: a row
holds the time, the actor, the action, the ids written and the outcome, never the text written or any secret.
Deletes, label changes and import batches commit their rows with the write itself (an AuditNote handed to the
store); for them the decorator records only failures.

A server verifies a key once and then trusts it for a moment (:class:`VerifiedKeys`): a request with a key seen
recently takes no worker-thread trip and no database read to be authenticated. A revocation (or a user disabled,
or a role changed) takes effect at once on SQLite, where every commit moves the library's change counter, and on
the server that made it; elsewhere (another PostgreSQL replica, the CLI against a PostgreSQL library) within
:data:`KEY_CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import inspect
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

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
#: How long a verified key is trusted without being looked up again: the longest a revocation can take to reach a
#: server where the library's change counter cannot tell (see the module docstring).
KEY_CACHE_SECONDS = 5.0
#: Verified keys remembered at once (the least recently used are forgotten first).
KEY_CACHE_SIZE = 1024

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


_V = TypeVar("_V")


class VerifiedKeys(Generic[_V]):
    """What a recently verified key stands for (its caller), by a digest of the key and the project asked for, so
    that its next requests are authenticated without a database read. An entry holds while it is younger than
    `ttl` seconds and the library's change counter, when it can be read for free, is what it was before the key
    was looked up (any commit, a revocation by another process included, moves it); :meth:`clear` (a revocation
    on this server) forgets every entry and every lookup still under way. Only keys that passed are remembered.
    Used from the event loop; the secret itself is never kept."""

    def __init__(
        self, ttl: float = KEY_CACHE_SECONDS, size: int = KEY_CACHE_SIZE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        #: Moves on every clear(): a lookup that started before it is not remembered.
        self.epoch = 0
        self._entries: OrderedDict[bytes, tuple[_V, int | None, float]] = OrderedDict()

    @staticmethod
    def _digest(token: str, project: str | None) -> bytes:
        return hashlib.sha256(f"{project or ''}\n{token}".encode()).digest()

    def get(self, token: str, project: str | None, generation: Callable[[], int | None]) -> _V | None:
        """The remembered value of `token` in `project`, or None (never seen, expired or the library changed)."""
        digest = self._digest(token, project)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        value, seen, expires = entry
        if self.clock() >= expires or (seen is not None and generation() != seen):
            self._entries.pop(digest, None)
            return None
        return value

    def put(self, token: str, project: str | None, value: _V, generation: int | None, epoch: int) -> None:
        """Remember `value`, looked up when the change counter was `generation` (None: unknown, the TTL alone
        bounds it) and :attr:`epoch` was `epoch`."""
        if epoch != self.epoch:
            return
        digest = self._digest(token, project)
        self._entries[digest] = (value, generation, self.clock() + self.ttl)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()


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
        #: The callers of recently verified keys (filled and read by the HTTP server's key check).
        self.verified: VerifiedKeys[Any] = VerifiedKeys()

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
        self.verified.clear()
        self.audit.record("key.revoke", [row["id"]], detail=f"name={row['name']}")
        return row

    @in_thread
    def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key whose secret `token` is, or None (unknown, malformed, wrong secret or revoked)."""
        return self.verify_token(token)

    def verify_token(self, token: str | None) -> ApiKey | None:
        """:meth:`authenticate`, here in the calling thread (it reads the database)."""
        match = _TOKEN.match((token or "").strip())
        if match is None:
            return None
        row = self.app.store.api_key_secret(match.group(1))
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(_hash(row["salt"], match.group(2)), row["secret_hash"]):
            return None
        return ApiKey(id=row["id"], name=row["name"], scope=row["scope"], rate_limit=row["rate_limit"])

    def generation(self) -> int | None:
        """The library's change counter where reading it costs no round trip (a SQLite file: every commit of any
        process moves it), else None (PostgreSQL, whose counter does not follow the keys; no library yet)."""
        if self.app.loaded.database_url:
            return None
        if self.app.is_built("store") or self.app.library_exists():  # a stat only until the store is open
            return self.app.store.generation()
        return None

    @property
    def counts_in_process(self) -> bool:
        """Whether requests are counted in this process's memory (a SQLite library without cache.url): then
        counting is a dictionary update, done without a worker thread."""
        return not self.app.loaded.database_url and not self.app.settings.cache.url

    async def count_request(self, key: ApiKey, default_limit: int) -> float:
        """Count one request of `key` against its rate limit (its own, else `default_limit`) per minute: 0.0 when
        it is within, else the seconds until the key may send again. Shared by every server on a PostgreSQL
        library (or one Redis: cache.url); counted in memory, without a worker thread, on a SQLite library."""
        if self.counts_in_process:
            return self._count(key, default_limit)
        return await asyncio.to_thread(self._count, key, default_limit)

    def _count(self, key: ApiKey, default_limit: int) -> float:
        return self.app.rate_windows.count_request(key.id, key.rate_limit or default_limit, window=RATE_WINDOW)
