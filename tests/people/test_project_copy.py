"""The local user in another project, and a team library copied between SQLite and PostgreSQL, on both backends:
a label set by id on another project's prompt is protected by that project's list; `db copy` carries projects,
users and roles, joins the `default` project (and the people who signed in already) the target holds, and two
users in two projects keep their prompts, names and labels apart after the copy."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import pytest

from prompt_alchemy.errors import ForbiddenError, InputError
from prompt_alchemy.models import utcnow
from prompt_alchemy.services.access import actor
from prompt_alchemy.tenancy import Principal, principal

ISSUER = "https://id.example"


@contextmanager
def acting(project: str | None, handle: str = "local", role: str = "owner", user_id: str | None = None):
    """Act as a team server request of `handle` in `project` (None: the local user)."""
    bound = principal.set(Principal(project, role, handle, user_id) if project else None)
    named = actor.set(handle)
    try:
        yield
    finally:
        actor.reset(named)
        principal.reset(bound)


def _run(coro):
    return asyncio.run(coro)


def _user(store, user_id: str, handle: str, subject: str | None = None) -> None:
    store.upsert_user(
        user_id=user_id,
        issuer=ISSUER,
        subject=subject or handle,
        handle=handle,
        email=f"{handle}@example.org",
        display_name=None,
        when=utcnow(),
    )


def test_a_label_set_by_id_is_protected_by_its_prompts_project(backend, service):
    """The local user (the CLI) sets a label on team-a's prompt by its id: team-a's protected labels decide, not
    the default project's."""
    _run(service.people.create_project("team-a"))
    with acting("team-a"):
        a1 = _run(service.save_version("critic", "Review {movie} for team A."))
        a2 = _run(service.save_version("critic", "Review {movie} for team A, briefly."))
        _run(service.set_label("critic", "production", version=1, source="api"))
        _run(service.protect_label("production"))
    with acting(None):
        _run(service.protect_label("staging"))  # protected in default only
        with pytest.raises(ForbiddenError, match="protected"):
            _run(service.set_label(a2["prompt_id"], "production", source="cli"))
        moved = _run(service.set_label(a2["prompt_id"], "staging", source="cli"))  # not protected in team-a
        assert (moved["prompt_name"], moved["version"]) == ("critic", 2)
        assert _run(service.set_label(a2["prompt_id"], "production", source="cli", force=True))["changed"]
    with acting("team-a"):
        assert _run(service.resolve_id("critic@staging")) == a2["prompt_id"]
        assert _run(service.resolve_id("critic@production")) == a2["prompt_id"] != a1["prompt_id"]


def test_the_local_user_works_in_a_project_through_the_service(backend, service):
    """work_in: names and labels resolve in the chosen project and saves go there; an unknown project is bad
    input."""
    _run(service.people.create_project("team-a"))

    async def in_team_a():
        assert await service.people.work_in("team-a") == "team-a"
        saved = await service.save_version("critic", "Review {movie} for team A.")
        return saved, await service.resolve_id("critic")

    saved, resolved = _run(in_team_a())
    assert resolved == saved["prompt_id"] and service.store.get_prompt(saved["prompt_id"]).project_id == "team-a"
    with pytest.raises(InputError, match="no project 'nowhere'"):
        _run(service.people.work_in("nowhere"))
    with pytest.raises(InputError, match="invalid project name"):
        _run(service.people.work_in("Team A"))
    assert service.store.list_names() == []  # the default project (this context never left it) has no names


# ---------------------------------------------------------------------------------------------------- db copy


def _team_library(service) -> dict[str, str]:
    """Alice in team-a and Bob in team-b, each with their own `critic` versions, `production` label (protected in
    team-a only) and a key."""
    store = service.store
    _run(service.people.create_project("team-a"))
    _run(service.people.create_project("team-b"))
    _user(store, "u-alice", "alice")
    _user(store, "u-bob", "bob")
    _run(service.people.set_role("alice", "team-a", "owner"))
    _run(service.people.set_role("bob", "team-b", "member"))
    _run(service.people.create_project_key("team-a", "alice-ci", "write", user_ref="alice"))
    ids = {}
    with acting("team-a", "alice", user_id="u-alice"):
        ids["a1"] = _run(service.save_version("critic", "Alice reviews {movie}."))["prompt_id"]
        ids["a2"] = _run(service.save_version("critic", "Alice reviews {movie} in {words} words."))["prompt_id"]
        _run(service.set_label("critic", "production", version=1, source="api"))
        _run(service.protect_label("production"))
    with acting("team-b", "bob", role="member", user_id="u-bob"):
        ids["b1"] = _run(service.save_version("critic", "Bob critiques {movie}."))["prompt_id"]
        _run(service.set_label("critic", "production", source="api"))
    return ids


def _check_apart(store, ids: dict[str, str], alice: tuple[str, str]) -> None:
    """In the copy, each project holds its own name, versions, labels and protections, and its creator."""
    alice_id, alice_handle = alice
    with acting("team-a", alice_handle, user_id=alice_id):
        assert store.count_matching() == 2
        assert [v["prompt_id"] for v in store.name_versions("critic")] == [ids["a1"], ids["a2"]]
        assert store.get_label("production", "critic") == ids["a1"]
        assert store.protected_labels() == ["production"]
    with acting("team-b", "bob", user_id="u-bob"):
        assert store.count_matching() == 1
        assert store.resolve_name("critic") == ids["b1"] == store.get_label("production", "critic")
        assert store.protected_labels() == []
    prompts = {i: store.get_prompt(i) for i in ids.values()}
    assert {i: (p.project_id, p.created_by) for i, p in prompts.items()} == {
        ids["a1"]: ("team-a", alice_handle),
        ids["a2"]: ("team-a", alice_handle),
        ids["b1"]: ("team-b", "bob"),
    }
    assert {p["id"] for p in store.list_projects()} == {"default", "team-a", "team-b"}
    assert store.memberships(alice_id) == {"team-a": {"role": "owner", "source": "admin"}}
    assert store.memberships("u-bob") == {"team-b": {"role": "member", "source": "admin"}}
    key = store.query("SELECT id FROM api_keys WHERE name = 'alice-ci'")[0][0]
    assert store.key_binding(key) == {
        "project_id": "team-a",
        "user_id": alice_id,
        "handle": alice_handle,
        "disabled_at": None,
        "role": "owner",
    }
    with acting(None):
        assert store.list_names() == []  # nothing leaked into the default project


def test_db_copy_carries_projects_users_and_roles_and_keeps_two_teams_apart(backend, service, postgres_url, tmp_path):
    """SQLite -> PostgreSQL (or PostgreSQL -> SQLite): into a target that already has the `default` project, Alice
    signed in under another id and handle, and, at first, another person holding Bob's handle (refused, nothing
    written). Then copied back again: every row as in the source."""
    from prompt_alchemy.storage.copy import open_library, table_counts

    ids = _team_library(service)
    target_at = postgres_url if backend == "sqlite" else str(tmp_path / "copy.db")
    target = open_library(target_at)
    try:
        _user(target, "t-alice", "alice.smith", subject="alice")  # Alice signed in to the target first
        _user(target, "t-other", "bob", subject="someone-else")  # another person who took the handle 'bob'
        before = table_counts(target)
        with pytest.raises(InputError, match="another user with the handle 'bob'"):
            _run(service.copy_database(target_at))
        assert table_counts(target) == before  # nothing written
    finally:
        target.close()
    _delete_user(target_at, "t-other")

    copied = _run(service.copy_database(target_at))
    assert copied["rows"]["projects"] == 2 and copied["rows"]["users"] == 1  # default and Alice were there
    target = open_library(target_at)
    try:
        assert {u["id"] for u in target.list_users()} == {"t-alice", "u-bob"}
        _check_apart(target, ids, ("t-alice", "alice.smith"))
    finally:
        target.close()


def _delete_user(location: str, user_id: str) -> None:
    """Remove a user row from a library directly (what an admin would erase), committed."""
    from prompt_alchemy.storage.copy import open_library

    store = open_library(location)
    try:
        with store.transaction() as db:
            db.execute("DELETE FROM users WHERE id = ?", (user_id,))
    finally:
        store.close()


def test_db_copy_round_trip_keeps_people_rows_equal(backend, service, postgres_url, tmp_path):
    """Copied to the other backend, and from there into a new SQLite library: projects, users and roles are the
    same rows, and the teams stay apart."""
    from prompt_alchemy.storage.copy import open_library

    ids = _team_library(service)
    there = postgres_url if backend == "sqlite" else str(tmp_path / "there.db")
    _run(service.copy_database(there))
    back = str(tmp_path / "back.db")
    _run(service.copy_database(back, source=there))
    store = open_library(back)
    try:
        for table, order in (("projects", "id"), ("users", "id"), ("memberships", "user_id, project_id")):
            rows = [dict(r) for r in store.query(f"SELECT * FROM {table} ORDER BY {order}")]
            assert rows == [dict(r) for r in service.store.query(f"SELECT * FROM {table} ORDER BY {order}")]
        _check_apart(store, ids, ("u-alice", "alice"))
    finally:
        store.close()
