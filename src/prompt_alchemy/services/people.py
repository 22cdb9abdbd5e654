"""People: users (created on first sign-in), projects, their roles, the keys of a project, and data rights (a
person's export and erase, the retention purge).

The role table is :data:`PERMISSIONS`, in this one place; docs/teams.md shows it. A role reaches the team server's
routes and MCP tools through the scope it allows (:data:`ROLE_SCOPE`): a viewer reads, a member writes, an admin or
an owner also administers. A key that belongs to a user never holds more than the user's role allows in the key's
project, checked on every request, so demoting or disabling a user bounds their keys at once.

With no users at all (the CLI, stdio MCP, a key-less server on loopback) the local user acts: every project is
visible, new prompts go to the default project, nothing is to be set up.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prompt_alchemy.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.services._common import in_thread
from prompt_alchemy.services.access import KEY_PREFIX, SCOPES, ApiKey, AuditLog, VerifiedKeys, _hash, scope_allows
from prompt_alchemy.services.app import App
from prompt_alchemy.tenancy import (
    DEFAULT_PROJECT,
    LOCAL_USER,
    PROJECT_SLUG,
    ROLES,
    Principal,
    local_project,
    role_at_least,
)

_log = get_logger("services.people")

#: The highest key scope each role allows (its routes and MCP tools).
ROLE_SCOPE = {"viewer": "read", "member": "write", "admin": "admin", "owner": "admin"}
#: What each role may do: (what, the least role that may). docs/teams.md shows this table.
PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("read, search and use the project's prompts; export them", "viewer"),
    ("generate, save, edit, rate, import and delete prompts; train; move labels that are not protected", "member"),
    ("move protected labels; read the audit log; create the project's keys", "admin"),
    ("give and take roles up to admin; create projects", "admin"),
    ("make or unmake owners", "owner"),
)
_SLUG = PROJECT_SLUG
_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def bounded_scope(scope: str, role: str | None) -> str | None:
    """The scope a key of `scope` holds for a user of `role` (the lesser of the two); None without a role."""
    if role is None:
        return None
    allowed = ROLE_SCOPE[role]
    return scope if scope_allows(allowed, scope) else allowed


def check_role(role: str) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'; use one of: {', '.join(ROLES)}")
    return role


def check_project(name: str) -> str:
    name = (name or "").strip()
    if not _SLUG.match(name):
        raise InputError(
            f"invalid project name '{name}': use 1-64 lowercase letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Caller:
    """A request's authenticated caller: who acts (`principal`, for storage and the audit) and the key the
    server's scope checks and rate limit read (for a signed-in user, a key-shaped stand-in without a secret)."""

    principal: Principal
    key: ApiKey


class Refused(Exception):
    """An authenticated caller that may not act (disabled, or without a role in the project): a 403."""


def roles_from_claim(value: Any) -> dict[str, str]:
    """project -> role from a token's role claim: 'admin' (the default project), ['team-a:member', 'viewer'] or
    {'team-a': 'member'}. Unknown roles are left out."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, list):
        for item in value:
            text = str(item)
            project, _, role = text.rpartition(":")
            pairs.append((project or DEFAULT_PROJECT, role))
    out: dict[str, str] = {}
    for project, role in pairs:
        role = role.strip().lower()
        if role in ROLES and _SLUG.match(project.strip()):
            current = out.get(project.strip())
            if current is None or ROLES.index(role) > ROLES.index(current):
                out[project.strip()] = role
    return out


class PeopleService:
    """Users, projects, roles and a project's keys; a person's export and erase; the retention purge."""

    def __init__(self, app: App, audit: AuditLog, verified: VerifiedKeys[Any] | None = None) -> None:
        self.app = app
        self.audit = audit
        #: The server's verified keys, forgotten when a role or a user changes (their callers change).
        self.verified = verified

    def _callers_changed(self) -> None:
        if self.verified is not None:
            self.verified.clear()

    def _now(self) -> Any:
        from prompt_alchemy.models import utcnow

        return utcnow()

    # ------------------------------------------------------------------ who calls

    @in_thread
    def key_caller(self, key: ApiKey, project: str | None = None) -> Caller:
        """The caller of a verified API key: its project and, for a user's key, the user with the scope bounded by
        their role there. Refused when the user is disabled or has no role in the key's project, or when the
        request asks for another project than the key's."""
        return self.caller_of_key(key, project)

    def caller_of_key(self, key: ApiKey, project: str | None = None) -> Caller:
        """:meth:`key_caller`, here in the calling thread (it reads the database)."""
        binding = self.app.store.key_binding(key.id) or {"project_id": DEFAULT_PROJECT, "user_id": None}
        project_id = binding["project_id"]
        if project and project != project_id:
            raise Refused(f"the key '{key.name}' belongs to the project '{project_id}', not '{project}'")
        if binding["user_id"] is None:
            role = next(r for r in ROLES if ROLE_SCOPE[r] == key.scope)
            return Caller(Principal(project_id=project_id, role=role, handle=key.name), key)
        if binding["disabled_at"]:
            raise Refused(f"the user of the key '{key.name}' is disabled")
        scope = bounded_scope(key.scope, binding["role"])
        if scope is None:
            raise Refused(f"the user of the key '{key.name}' has no role in the project '{project_id}'")
        bounded = ApiKey(id=key.id, name=key.name, scope=scope, rate_limit=key.rate_limit)
        return Caller(
            Principal(
                project_id=project_id, role=binding["role"], handle=binding["handle"], user_id=binding["user_id"]
            ),
            bounded,
        )

    @in_thread
    def sign_in(self, claims: dict[str, Any], project: str | None = None) -> Caller:
        """The caller of a verified access token: the user of its issuer and subject (created on first sign-in),
        their roles synced from the configured claim, acting in `project` (else their only project, else the
        default one). Refused when disabled or without a role there."""
        oidc = self.app.settings.auth.oidc
        issuer, subject = str(claims["iss"]), str(claims["sub"])
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        store = self.app.store
        now = self._now()
        handle = self._free_handle(email or subject)  # used only when the user is new
        user, created = store.upsert_user(
            user_id=secrets.token_hex(8),
            issuer=issuer,
            subject=subject,
            handle=handle,
            email=email,
            display_name=name,
            when=now,
            audit=self.audit.note("user.create", f"handle={handle}"),
        )
        if user["disabled_at"]:
            raise Refused(f"the user '{user['handle']}' is disabled")
        if oidc.role_claim and oidc.role_claim in claims:
            self._sync_claim_roles(user, roles_from_claim(claims[oidc.role_claim]))
        roles = {p: m["role"] for p, m in store.memberships(user["id"]).items()}
        if not roles and oidc.default_role:
            store.set_membership(user["id"], DEFAULT_PROJECT, oidc.default_role, "default", now)
            roles = {DEFAULT_PROJECT: oidc.default_role}
        chosen = project or (next(iter(roles)) if len(roles) == 1 else DEFAULT_PROJECT)
        role = roles.get(chosen)
        if role is None:
            raise Refused(
                f"the user '{user['handle']}' has no role in the project '{chosen}' (an admin gives one: "
                f"prompt-alchemy users role {user['handle']} {chosen} member)"
            )
        scope = ROLE_SCOPE[role]
        key = ApiKey(id=f"user:{user['id']}", name=user["handle"], scope=scope, rate_limit=None)
        if created:
            _log.info("new user %s signed in (%s)", user["handle"], issuer)
        return Caller(Principal(project_id=chosen, role=role, handle=user["handle"], user_id=user["id"]), key)

    def _free_handle(self, wanted: str) -> str:
        handle, n = wanted[:120], 1
        while self.app.store.handle_taken(handle):
            n += 1
            handle = f"{wanted[:110]}-{n}"
        return handle

    def _sync_claim_roles(self, user: dict[str, Any], wanted: dict[str, str]) -> None:
        store, now = self.app.store, self._now()
        current = store.memberships(user["id"])
        for project, role in wanted.items():
            if project in current and current[project]["source"] != "claim":
                continue  # an admin's grant stays
            if current.get(project, {}).get("role") == role:
                continue
            if not store.project_exists(project):
                store.create_project(project, now, audit=self.audit.note("project.create", "source=claim"))
            store.set_membership(
                user["id"],
                project,
                role,
                "claim",
                now,
                audit=self.audit.note("role.set", f"project={project} role={role} source=claim"),
            )
        for project, m in current.items():
            if m["source"] == "claim" and project not in wanted:
                store.remove_membership(
                    user["id"], project, now, audit=self.audit.note("role.remove", f"project={project} source=claim")
                )

    # ------------------------------------------------------------------ projects and roles

    def _require(self, caller: Principal | None, project: str, role: str) -> None:
        """The local user (None) may do anything; a caller needs `role` in `project`."""
        if caller is None:
            return
        if caller.project_id != project or not role_at_least(caller.role, role):
            raise ForbiddenError(f"this needs the role '{role}' in the project '{project}'")

    async def work_in(self, project: str | None = None) -> str:
        """Make the local user work in `project` (None: the `project` setting, PROMPT_ALCHEMY_PROJECT) for the rest
        of the current task (one CLI command): names and labels resolve there and new prompts go there; prompts of
        every project stay reachable by id. An unknown project is bad input, and nothing is created for it."""
        project = check_project(project or self.app.settings.project)
        if project != DEFAULT_PROJECT and not await asyncio.to_thread(self._known_project, project):
            raise InputError(
                f"no project '{project}' (see 'prompt-alchemy projects list'; create it with "
                f"'prompt-alchemy projects create {project}')"
            )
        local_project.set(project)
        return project

    def _known_project(self, project: str) -> bool:
        return self.app.library_exists() and self.app.store.project_exists(project)

    @in_thread
    def create_project(self, name: str, caller: Principal | None = None) -> dict[str, Any]:
        name = check_project(name)
        if caller is not None and not role_at_least(caller.role, "admin"):
            raise ForbiddenError("creating a project needs the role 'admin'")
        if not self.app.store.create_project(name, self._now(), audit=self.audit.note("project.create")):
            raise ConflictError(f"the project '{name}' exists")
        return {"id": name}

    @in_thread
    def list_projects(self) -> list[dict[str, Any]]:
        return self.app.store.list_projects() if self.app.library_exists() else []

    @in_thread
    def user_projects(self, user_id: str) -> dict[str, str]:
        """project -> the user's role there."""
        return {p: m["role"] for p, m in self.app.store.memberships(user_id).items()}

    @in_thread
    def list_users(self) -> list[dict[str, Any]]:
        return self.app.store.list_users() if self.app.library_exists() else []

    def _user(self, ref: str, *, local: bool = False) -> dict[str, Any]:
        """The user `ref` names; with `local`, 'local' is the CLI's own user, who has no row (nothing is set up)."""
        ref = (ref or "").strip()
        user = self.app.store.find_user(ref) if ref and self.app.library_exists() else None
        if user is None and local and ref == LOCAL_USER and self.app.library_exists():
            return {
                "id": LOCAL_USER,
                "handle": LOCAL_USER,
                "issuer": None,
                "subject": None,
                "email": None,
                "display_name": "the local user (the CLI)",
                "created_at": None,
                "disabled_at": None,
            }
        if user is None:
            raise NotFoundError(f"no user '{ref}' (see 'prompt-alchemy users list')")
        return user

    def _project(self, name: str) -> str:
        name = check_project(name)
        if not self.app.store.project_exists(name):
            raise NotFoundError(f"no project '{name}' (see 'prompt-alchemy projects list')")
        return name

    @in_thread
    def set_role(
        self,
        user_ref: str,
        project: str,
        role: str | None,
        caller: Principal | None = None,
    ) -> dict[str, Any]:
        """Give `user_ref` `role` in `project` (None: take their role away). An admin may give up to admin; only an
        owner makes or unmakes owners."""
        user, project = self._user(user_ref), self._project(project)
        current = self.app.store.memberships(user["id"]).get(project, {}).get("role")
        needed = "owner" if "owner" in (role, current) else "admin"
        if role is not None:
            role = check_role(role)
        self._require(caller, project, needed)
        now = self._now()
        if role is None:
            self.app.store.remove_membership(
                user["id"], project, now, audit=self.audit.note("role.remove", f"project={project}")
            )
        else:
            self.app.store.set_membership(
                user["id"],
                project,
                role,
                "admin",
                now,
                audit=self.audit.note("role.set", f"project={project} role={role}"),
            )
        self._callers_changed()
        return {"user": user["handle"], "project": project, "role": role}

    @in_thread
    def set_disabled(self, user_ref: str, disabled: bool) -> dict[str, Any]:
        user = self._user(user_ref)
        self.app.store.set_user_disabled(
            user["id"], disabled, self._now(), audit=self.audit.note("user.disable" if disabled else "user.enable")
        )
        self._callers_changed()
        return {"user": user["handle"], "disabled": disabled}

    @in_thread
    def create_project_key(
        self,
        project: str,
        name: str,
        scope: str,
        *,
        user_ref: str | None = None,
        rate_limit: int | None = None,
        caller: Principal | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A new key of `project` (and of a user, whose role bounds its scope): (the secret, shown once; its row)."""
        project = self._project(project)
        self._require(caller, project, "admin")
        name = (name or "").strip()
        if not _KEY_NAME.match(name):
            raise InputError(f"invalid key name '{name}': use 1-64 letters, digits, '.', '_', '@' or '-'")
        if scope not in SCOPES:
            raise InputError(f"unknown scope '{scope}'; use one of: {', '.join(SCOPES)}")
        if rate_limit is not None and not 1 <= rate_limit <= 1_000_000:
            raise InputError(f"--rate-limit must be between 1 and 1000000 requests per minute, got {rate_limit}")
        user_id = None
        if user_ref:
            user = self._user(user_ref)
            role = self.app.store.memberships(user["id"]).get(project, {}).get("role")
            if role is None:
                raise InputError(f"the user '{user['handle']}' has no role in the project '{project}'")
            if not scope_allows(ROLE_SCOPE[role], scope):
                raise InputError(
                    f"the user '{user['handle']}' is a {role} in '{project}': their keys may hold at "
                    f"most the scope '{ROLE_SCOPE[role]}'"
                )
            user_id = user["id"]
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
        now = self._now()
        try:
            self.app.store.insert_project_key(
                key_id=key_id,
                name=name,
                scope=scope,
                salt=salt,
                secret_hash=_hash(salt, secret),
                rate_limit=rate_limit,
                created_at=now,
                project_id=project,
                user_id=user_id,
                audit=self.audit.note("key.create", f"name={name} scope={scope} project={project}"),
            )
        except Exception as exc:
            if "unique" in str(exc).lower() or "integrity" in type(exc).__name__.lower():
                raise ConflictError(
                    f"an active key named '{name}' exists; revoke it first or choose another " f"name"
                ) from None
            raise
        row = {
            "id": key_id,
            "name": name,
            "scope": scope,
            "project_id": project,
            "user_id": user_id,
            "rate_limit": rate_limit,
            "created_at": now.isoformat(),
        }
        return f"{KEY_PREFIX}{key_id}_{secret}", row

    # ------------------------------------------------------------------ data rights

    @in_thread
    def export_user(self, user_ref: str) -> dict[str, Any]:
        """Everything stored about a person: their user row and roles, prompts, ratings, keys (without secrets) and
        the audit rows of what they did."""
        user = self._user(user_ref, local=True)
        data = self.app.store.person_data(user)
        self.audit.record("user.export", [user["id"]])
        return data

    @in_thread
    def erase_user(self, user_ref: str, *, keep_prompts: bool = False) -> dict[str, int]:
        """Delete everything of a person in one transaction (their prompts too, unless `keep_prompts`: then kept
        without their name); the audit rows they acted in stay, anonymised. The erase itself is audited."""
        user = self._user(user_ref, local=True)
        detail = "prompts=kept-anonymised" if keep_prompts else "prompts=deleted"
        erased = self.app.store.erase_person(
            user, self._now(), keep_prompts=keep_prompts, audit=self.audit.note("user.erase", detail)
        )
        self._callers_changed()
        return erased

    def maintenance_poll_seconds(self, longest: float) -> float:
        """How often the server looks for due maintenance: `longest`, or the retention interval when shorter."""
        from prompt_alchemy.models import parse_duration

        retention = self.app.settings.retention
        return min(longest, parse_duration(retention.interval)) if retention.active() else longest

    @in_thread
    def purge_if_due(self, now: Any = None) -> dict[str, Any] | None:
        """The server's scheduled purge: when `retention` sets a limit and `retention.interval` has passed since the
        last one (recorded in the library, so replicas share it), purge and record it; None when not due."""
        from prompt_alchemy.models import parse_duration

        retention = self.app.settings.retention
        if not retention.active() or not self.app.library_exists():
            return None
        now = now or self._now()
        last = self.app.store.last_maintenance("retention")
        if last is not None and (now - last).total_seconds() < parse_duration(retention.interval):
            return None
        counts = self._purge(None, None, now)
        self.app.store.record_maintenance("retention", now, ", ".join(f"{k}={v}" for k, v in counts.items()))
        return counts

    @in_thread
    def purge(self, *, sessions_days: int | None = None, audit_days: int | None = None) -> dict[str, int]:
        """The retention purge: the days given, else `retention` in the settings; nothing set, nothing purged."""
        for label, days in (("--sessions-days", sessions_days), ("--audit-days", audit_days)):
            if days is not None and days < 1:
                raise InputError(f"{label} must be at least 1, got {days}")
        return self._purge(sessions_days, audit_days, self._now())

    def _purge(self, sessions_days: int | None, audit_days: int | None, now: Any) -> dict[str, int]:
        """Purge by the days given (None: the setting's), in one transaction with its audit row."""
        retention = self.app.settings.retention
        sessions_days = retention.sessions_days if sessions_days is None else sessions_days
        audit_days = retention.audit_days if audit_days is None else audit_days
        if not self.app.library_exists() or (sessions_days is None and audit_days is None):
            return {"prompts": 0, "metrics": 0, "audit_rows": 0}
        return self.app.store.purge_before(
            sessions_before=now - timedelta(days=sessions_days) if sessions_days else None,
            audit_before=now - timedelta(days=audit_days) if audit_days else None,
            when=now,
            audit=self.audit.note("retention.purge", f"sessions_days={sessions_days} audit_days={audit_days}"),
        )
