"""Projects, users and data rights through the service, on SQLite and PostgreSQL: two projects cannot see or change
each other's prompts; a person's export holds their rows and the erase leaves none; the retention purge."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

import pytest

from prompt_alchemy.errors import ForbiddenError, InputError, NotFoundError
from prompt_alchemy.models import utcnow
from prompt_alchemy.services.access import actor
from prompt_alchemy.tenancy import Principal, principal


@contextmanager
def acting(project: str, handle: str, role: str = "member", user_id: str | None = None):
    """Act as a team server request of `handle` in `project` would (api/auth.py sets the same two variables)."""
    bound, named = principal.set(Principal(project, role, handle, user_id)), actor.set(handle)
    try:
        yield
    finally:
        actor.reset(named)
        principal.reset(bound)


def _import(service, tmp_path, rows: list[dict], name: str) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = asyncio.run(service.import_prompts(path))
    assert report.imported == len(rows), report


def _user(service, handle: str, project: str, role: str) -> dict:
    user, created = service.store.upsert_user(
        user_id=f"u-{handle}",
        issuer="https://id.example",
        subject=handle,
        handle=handle,
        email=f"{handle}@example.org",
        display_name=None,
        when=utcnow(),
    )
    assert created
    asyncio.run(service.people.set_role(handle, project, role))
    return user


def test_two_projects_cannot_see_or_change_each_others_prompts(backend, service, tmp_path):
    asyncio.run(service.people.create_project("team-b"))
    with acting("default", "alice"):
        _import(
            service,
            tmp_path,
            [
                {"id": "alpha-1", "content": "Summarise the quarterly sales memo for the board."},
                {"id": "alpha-2", "content": "Write a haiku about green tea and rain."},
            ],
            "a",
        )
    with acting("team-b", "bob"):
        _import(
            service, tmp_path, [{"id": "beta-1", "content": "Draft a polite reminder about the sales invoice."}], "b"
        )
        assert [p.id for p in asyncio.run(service.list_prompts(limit=10))] == ["beta-1"]
        assert asyncio.run(service.count_prompts()) == 1
        with pytest.raises(NotFoundError):
            asyncio.run(service.get_prompt("alpha-1"))
        with pytest.raises(NotFoundError):
            asyncio.run(service.get_prompt("alph"))  # a prefix does not find the other project's ids either
        with pytest.raises(NotFoundError):
            asyncio.run(service.delete_prompt("alpha-1"))
        hits = asyncio.run(service.search("sales memo", mode="text", limit=10))
        assert [h.prompt.id for h in hits] == ["beta-1"]
        assert asyncio.run(service.get_prompts(["alpha-1", "beta-1"])).keys() == {"beta-1"}
    with acting("default", "alice"):
        assert {p.id for p in asyncio.run(service.list_prompts(limit=10))} == {"alpha-1", "alpha-2"}
        with pytest.raises(NotFoundError):
            asyncio.run(service.get_prompt("beta-1"))
    # the local user (the CLI) sees every project; each prompt records its project and creator
    stored = {p.id: p for p in asyncio.run(service.list_prompts(limit=10))}
    assert {i: (p.project_id, p.created_by) for i, p in stored.items()} == {
        "alpha-1": ("default", "alice"),
        "alpha-2": ("default", "alice"),
        "beta-1": ("team-b", "bob"),
    }
    projects = {p["id"]: p["prompts"] for p in asyncio.run(service.people.list_projects())}
    assert projects == {"default": 2, "team-b": 1}


def test_roles_bound_what_a_users_key_holds(backend, service):
    asyncio.run(service.people.create_project("team-b"))
    _user(service, "vera", "team-b", "viewer")
    with pytest.raises(InputError, match="at most the scope 'read'"):
        asyncio.run(service.people.create_project_key("team-b", "vera-w", "write", user_ref="vera"))
    secret, row = asyncio.run(service.people.create_project_key("team-b", "vera-r", "read", user_ref="vera"))
    key = asyncio.run(service.authenticate(secret))
    caller = asyncio.run(service.people.key_caller(key))
    assert (caller.principal.project_id, caller.principal.role, caller.key.scope) == ("team-b", "viewer", "read")
    # promoted to member, an admin-scoped key of theirs still holds only write; demoted, only read
    asyncio.run(service.people.set_role("vera", "team-b", "member"))
    secret2, _ = asyncio.run(service.people.create_project_key("team-b", "vera-w", "write", user_ref="vera"))
    assert asyncio.run(service.people.key_caller(asyncio.run(service.authenticate(secret2)))).key.scope == "write"
    asyncio.run(service.people.set_role("vera", "team-b", "viewer"))
    assert asyncio.run(service.people.key_caller(asyncio.run(service.authenticate(secret2)))).key.scope == "read"
    # an admin of team-b may not make owners, nor act in another project
    admin = Principal("team-b", "admin", "ada")
    with pytest.raises(ForbiddenError):
        asyncio.run(service.people.set_role("vera", "team-b", "owner", caller=admin))
    with pytest.raises(ForbiddenError):
        asyncio.run(service.people.set_role("vera", "default", "member", caller=admin))
    asyncio.run(service.people.set_disabled("vera", True))
    from prompt_alchemy.services.people import Refused

    with pytest.raises(Refused, match="disabled"):
        asyncio.run(service.people.key_caller(key))


def test_export_holds_a_persons_rows_and_erase_leaves_none(backend, service, tmp_path):
    user = _user(service, "erin", "default", "member")
    _user(service, "other", "default", "member")
    secret, key_row = asyncio.run(service.people.create_project_key("default", "erin-key", "write", user_ref="erin"))
    with acting("default", "erin", user_id=user["id"]):
        _import(
            service,
            tmp_path,
            [
                {"id": "e-1", "content": "Plan a week of vegetarian dinners."},
                {"id": "e-2", "content": "Explain compound interest to a teenager."},
            ],
            "e",
        )
        asyncio.run(service.rate("e-1", 5, "great"))
    with acting("default", "other"):
        _import(service, tmp_path, [{"id": "o-1", "content": "List five icebreakers for a team meeting."}], "o")
        other_rating = asyncio.run(service.rate("e-1", 3))
        asyncio.run(service.rate("o-1", 4))

    data = asyncio.run(service.people.export_user("erin@example.org"))
    assert {p["id"] for p in data["prompts"]} == {"e-1", "e-2"}
    assert [(r["prompt_id"], r["rating"]) for r in data["ratings"]] == [("e-1", 5)]
    assert [k["name"] for k in data["keys"]] == ["erin-key"]
    assert not any("salt" in k or "secret_hash" in k for k in data["keys"])
    assert secret.split("_")[-1] not in json.dumps(data, default=str)
    assert {r["action"] for r in data["audit"]} >= {"import", "rate"}
    assert all(r["actor"] in ("erin", "erin-key") for r in data["audit"])

    counts = asyncio.run(service.people.erase_user("erin"))
    assert counts["users"] == 1 and counts["keys"] == 1 and counts["ratings"] == 1 and counts["prompts"] == 2
    store = service.store
    assert store.find_user("erin") is None and store.memberships(user["id"]) == {}
    assert store.query("SELECT COUNT(*) FROM prompts WHERE created_by IN ('erin', 'erin-key')")[0][0] == 0
    assert store.query("SELECT COUNT(*) FROM audit_log WHERE actor IN ('erin', 'erin-key')")[0][0] == 0
    assert store.query("SELECT COUNT(*) FROM api_keys WHERE user_id = ?", (user["id"],))[0][0] == 0
    assert store.query("SELECT COUNT(*) FROM feedback WHERE comment = 'great'")[0][0] == 0
    assert asyncio.run(service.authenticate(secret)) is None
    # the other person's rows stay; their rating of erin's prompt went with the prompt
    assert store.get_prompt("o-1") is not None and store.find_user("other") is not None
    assert store.query("SELECT COUNT(*) FROM feedback WHERE id = ?", (other_rating.id,))[0][0] == 0
    erase = store.list_audit(action="user.erase")
    assert len(erase) == 1 and erase[0]["targets"] == [user["id"]] and erase[0]["detail"] == "prompts=deleted"
    with pytest.raises(NotFoundError):
        asyncio.run(service.people.export_user("erin"))


def test_erase_can_keep_prompts_anonymised(backend, service, tmp_path):
    user = _user(service, "kim", "default", "member")
    with acting("default", "kim", user_id=user["id"]):
        _import(service, tmp_path, [{"id": "k-1", "content": "Describe a lighthouse at dawn."}], "k")
    counts = asyncio.run(service.people.erase_user("kim", keep_prompts=True))
    assert counts["prompts_anonymised"] == 1
    assert service.store.get_prompt("k-1").created_by == "erased-user"
    assert service.store.query("SELECT COUNT(*) FROM audit_log WHERE actor = 'kim'")[0][0] == 0


def test_retention_purges_old_sessions_and_audit_rows(backend, service, tmp_path):
    old, new = "2020-01-01T00:00:00+00:00", utcnow().isoformat()
    rows = [
        {"id": "s-old-1", "content": "Old essence of an idea.", "session_id": "old", "created_at": old},
        {
            "id": "s-old-2",
            "content": "Old final prompt of an idea.",
            "session_id": "old",
            "created_at": old,
            "parent_id": "s-old-1",
        },
        {"id": "s-rated", "content": "Old but rated prompt.", "session_id": "old2", "created_at": old},
        {"id": "s-new", "content": "A recent generation.", "session_id": "new", "created_at": new},
        {"id": "saved", "content": "A hand-saved prompt without a session.", "created_at": old},
    ]
    _import(service, tmp_path, rows, "r")
    asyncio.run(service.rate("s-rated", 4))
    service.store.append_audit(
        actor="local", action="generate", targets=["x"], outcome="ok", when=utcnow().replace(year=2020)
    )
    assert asyncio.run(service.people.purge()) == {"prompts": 0, "metrics": 0, "audit_rows": 0}  # nothing set
    counts = asyncio.run(service.people.purge(sessions_days=30, audit_days=30))
    assert counts["prompts"] == 2 and counts["audit_rows"] == 1
    left = {p.id for p in asyncio.run(service.list_prompts(limit=20))}
    assert left == {"s-rated", "s-new", "saved"}
    assert service.store.list_audit(action="retention.purge")
