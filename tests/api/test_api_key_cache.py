"""The server's key check remembers the keys it verified (services.access.VerifiedKeys), on SQLite and PostgreSQL:
a key revoked, or a user disabled or demoted, on the same server stops working at once; revoked by another process
(the CLI: another service on the same library) it stops at once on SQLite, whose change counter every commit moves,
and once KEY_CACHE_SECONDS have passed on PostgreSQL; a lookup still under way when keys are forgotten is not
remembered. The clock of the cache is the test's, so nothing here waits."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.api.auth import ApiKeyBackend
from prompt_alchemy.api.errors import ApiError
from prompt_alchemy.models import utcnow
from prompt_alchemy.services.access import KEY_CACHE_SECONDS, VerifiedKeys
from prompt_alchemy.services.people import Refused


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def check(service):
    """The server's key check on `service`, its cache on a clock the test moves."""
    backend = ApiKeyBackend(service)
    clock = Clock()
    service.access.verified.clock = clock
    return backend


def caller(backend: ApiKeyBackend, token: str, project: str | None = None):
    return asyncio.run(backend.key_caller(token, project))


def refused(backend: ApiKeyBackend, token: str) -> str:
    with pytest.raises(ApiError) as err:
        caller(backend, token)
    return err.value.code


def test_a_remembered_key_stops_working_once_revoked_on_the_same_server(backend, service, check):
    token, _ = asyncio.run(service.create_key("alice", "write"))
    assert caller(check, token).key.name == "alice"
    assert caller(check, token).key.name == "alice"  # remembered
    asyncio.run(service.revoke_key("alice"))
    assert refused(check, token) == "unauthorized"


def test_a_key_revoked_by_another_process_stops_working_within_the_documented_bound(backend, service, check, home):
    from prompt_alchemy.services import AlchemyService

    token, _ = asyncio.run(service.create_key("bob", "read"))
    assert caller(check, token).key.name == "bob"
    cli = AlchemyService.from_environment()  # the CLI: its own store and cache on the same library
    try:
        asyncio.run(cli.revoke_key("bob"))
    finally:
        asyncio.run(cli.aclose())
    if backend == "sqlite":
        assert refused(check, token) == "unauthorized"  # the commit moved the change counter: at once
        return
    assert caller(check, token).key.name == "bob"  # PostgreSQL's counter does not follow keys: the TTL bounds it
    service.access.verified.clock.now += KEY_CACHE_SECONDS
    assert refused(check, token) == "unauthorized"


def test_a_users_key_follows_their_role_and_account_at_once(backend, service, check):
    service.store.upsert_user(
        user_id="u-vera",
        issuer="https://id.example",
        subject="vera",
        handle="vera",
        email="vera@example.org",
        display_name=None,
        when=utcnow(),
    )
    asyncio.run(service.people.set_role("vera", "default", "member"))
    token, _ = asyncio.run(service.people.create_project_key("default", "vera-key", "write", user_ref="vera"))
    assert caller(check, token).key.scope == "write"
    asyncio.run(service.people.set_role("vera", "default", "viewer"))
    assert caller(check, token).key.scope == "read"
    asyncio.run(service.people.set_disabled("vera", True))
    with pytest.raises(Refused, match="disabled"):
        caller(check, token)


def test_a_wrong_key_is_never_remembered(service, check):
    token, _ = asyncio.run(service.create_key("carol", "read"))
    wrong = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    assert refused(check, wrong) == "unauthorized"
    assert caller(check, token).key.name == "carol"
    assert refused(check, wrong) == "unauthorized"


def test_keys_are_remembered_for_their_project_within_ttl_size_and_counter():
    clock = Clock()
    keys: VerifiedKeys[str] = VerifiedKeys(ttl=5.0, size=2, clock=clock)
    counter = [7]
    keys.put("pa_a", None, "a", 7, keys.epoch)
    assert keys.get("pa_a", None, lambda: counter[0]) == "a"
    assert keys.get("pa_a", "other", lambda: counter[0]) is None  # the project asked for is part of the entry
    counter[0] = 8  # a commit somewhere: everything remembered before it is looked up again
    assert keys.get("pa_a", None, lambda: counter[0]) is None
    keys.put("pa_b", None, "b", None, keys.epoch)  # no counter to follow: the TTL alone bounds it
    clock.now += 4.9
    assert keys.get("pa_b", None, lambda: counter[0]) == "b"
    clock.now += 0.1
    assert keys.get("pa_b", None, lambda: counter[0]) is None
    for name in ("c", "d", "e"):
        keys.put(f"pa_{name}", None, name, None, keys.epoch)
    assert [keys.get(f"pa_{n}", None, lambda: None) for n in ("c", "d", "e")] == [None, "d", "e"]  # at most 2


def test_a_lookup_under_way_when_keys_are_forgotten_is_not_remembered():
    keys: VerifiedKeys[str] = VerifiedKeys()
    started = keys.epoch
    keys.clear()  # a revocation lands while the lookup runs in its worker thread
    keys.put("pa_a", None, "a", None, started)
    assert keys.get("pa_a", None, lambda: None) is None
    keys.put("pa_a", None, "a", None, keys.epoch)
    assert keys.get("pa_a", None, lambda: None) == "a"
