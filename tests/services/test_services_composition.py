"""The capability services stand alone: each is a plain class built from what it uses, and the facade only
forwards. A generate can be run (and is audited) without the facade, and every public operation of the facade
belongs to exactly one capability service."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from prompt_alchemy.config import load_settings
from prompt_alchemy.services import AlchemyService, App
from prompt_alchemy.services.access import AccessService, AuditLog, actor
from prompt_alchemy.services.batch import BatchService
from prompt_alchemy.services.generation import GenerationService
from prompt_alchemy.services.learning import LearningService
from prompt_alchemy.services.library import LibraryService
from prompt_alchemy.services.maintenance import MaintenanceService
from prompt_alchemy.services.ranking import RankingService

SERVICES = (
    AccessService,
    AuditLog,
    GenerationService,
    LibraryService,
    MaintenanceService,
    RankingService,
    BatchService,
    LearningService,
)
SCRIPTED = {f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}


@pytest.mark.parametrize("cls", SERVICES, ids=lambda c: c.__name__)
def test_each_service_is_a_plain_class_built_from_what_it_uses(cls):
    assert cls.__mro__ == (cls, object), cls.__mro__  # no mixin, no App base
    params = list(inspect.signature(cls.__init__).parameters)[1:]
    assert params and params[0] == "app"


def test_the_facade_forwards_every_operation_to_one_owner(home):
    service = AlchemyService.from_environment()
    owners = {
        name: [
            type(s).__name__
            for s in (
                service.access,
                service.audit,
                service.generation,
                service.library_service,
                service.maintenance,
                service.ranking,
                service.batch,
                service.learning,
                service.people,
                service.jobs,
            )
            if hasattr(s, name)
        ]
        for name in dir(AlchemyService)
        if not name.startswith("_") and inspect.isfunction(getattr(AlchemyService, name))
    }
    forwarded = {
        name: found
        for name, found in owners.items()
        if name not in ("aclose", "from_environment", "library_exists", "persona_names", "validate_configuration")
    }
    assert len(forwarded) >= 60
    assert all(len(found) == 1 for found in forwarded.values()), {n: f for n, f in forwarded.items() if len(f) != 1}
    assert not (home / "data").exists() or not any((home / "data").glob("*.db"))  # building opened nothing


def test_a_generate_without_the_facade_is_saved_and_audited_for_its_actor(home):
    app = App(load_settings(overrides=SCRIPTED))
    audit = AuditLog(app)
    library = LibraryService(app, audit)
    generation = GenerationService(app, library, audit)

    async def run():
        token = actor.set("alice")
        try:
            return await generation.generate(generation.build_request("a haiku about the sea", count=1))
        finally:
            actor.reset(token)

    result = asyncio.run(run())
    rows = asyncio.run(audit.list_audit(action="generate"))
    asyncio.run(app.aclose())
    assert result.saved and len(rows) == 1
    assert rows[0]["actor"] == "alice" and result.session_id in rows[0]["targets"]
    assert set(rows[0]["targets"]) >= {p.id for p in result.prompts}


def test_a_refused_write_is_audited_as_a_failure_and_bad_input_is_not(home):
    service = AlchemyService.from_environment(overrides=SCRIPTED)

    async def run():
        await service.generate(service.build_request("seed the library", count=1))
        with pytest.raises(Exception) as missing:
            await service.delete_prompt("0123456789abcdef")
        with pytest.raises(Exception) as bad:
            await service.delete_prompt("")
        rows = await service.list_audit(action="delete")
        await service.aclose()
        return missing.value, bad.value, rows

    missing, bad, rows = asyncio.run(run())
    assert type(missing).__name__ == "NotFoundError" and type(bad).__name__ == "InputError"
    assert [r["outcome"] for r in rows] == ["error:NotFoundError"]
    assert rows[0]["targets"] == ["0123456789abcdef"]
