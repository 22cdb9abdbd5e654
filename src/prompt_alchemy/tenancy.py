"""Who a request acts for, below the services: the project whose prompts it may see and the name it writes as.

The team server's authentication (api/auth.py) sets :data:`principal` for each request from the API key or the
signed-in user; it is ``None`` for the local user (the CLI, stdio MCP, a key-less server on loopback, the server's
own schedule), who sees every project and works in the default one, or in the one a CLI command names with
``--project`` (:data:`local_project`, set by ``PeopleService.work_in``). Storage reads it in one place
(:func:`project_scope`), so that every prompt query of a request is bounded by its project, and new prompts record
their project and creator (:class:`prompt_alchemy.models.Prompt` takes its defaults from here).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

#: The project every library has, that the local user writes to and every prompt before projects belonged to.
DEFAULT_PROJECT = "default"
#: A project's name (its id): lowercase letters, digits, '.', '_' or '-', starting with a letter or digit.
PROJECT_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
#: The name the local user writes as (the audit log's actor of the CLI).
LOCAL_USER = "local"
#: The roles in a project, least first (Langfuse's); services/people.py has what each may do.
ROLES = ("viewer", "member", "admin", "owner")


def role_at_least(role: str | None, needed: str) -> bool:
    """Whether `role` is `needed` or above it."""
    return role is not None and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Principal:
    """A request's caller: the project it acts in, its role there, and the name it writes as (`handle`)."""

    project_id: str
    role: str
    handle: str
    user_id: str | None = None


#: The caller of the current request, or None for the local user.
principal: ContextVar[Principal | None] = ContextVar("prompt_alchemy_principal", default=None)


#: The project the local user works in: names and labels resolve there and new prompts go there.
local_project: ContextVar[str] = ContextVar("prompt_alchemy_local_project", default=DEFAULT_PROJECT)


def project_scope() -> str | None:
    """The project the current caller is bounded to, or None (the local user: every project)."""
    caller = principal.get()
    return caller.project_id if caller is not None else None


def current_project() -> str:
    """The project new prompts of the current caller belong to, and whose names and labels it reads: the caller's
    project, else the one the local user works in."""
    return project_scope() or local_project.get()


def current_handle() -> str:
    """The name new prompts of the current caller record as their creator."""
    caller = principal.get()
    return caller.handle if caller is not None else LOCAL_USER
