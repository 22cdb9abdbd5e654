"""Named prompts on both backends: versions 1..n per name, labels per name (moving one never touches another name's),
protected labels, and the audit rows of label moves."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.errors import ForbiddenError, InputError, NotFoundError


def _run(coro):
    return asyncio.run(coro)


def test_saving_under_a_name_makes_the_next_version(backend, service):
    first = _run(service.save_version("movie-critic", "Review {movie} in one paragraph."))
    second = _run(service.save_version("movie-critic", "Review {movie} in {words} words."))
    other = _run(service.save_version("linux-terminal", "Act as a Linux terminal."))
    assert (first["version"], second["version"], other["version"]) == (1, 2, 1)
    assert second["previous_id"] == first["prompt_id"]
    versions = _run(service.name_versions("movie-critic"))
    assert [v["version"] for v in versions["versions"]] == [1, 2] and versions["latest"] == 2
    assert _run(service.resolve_id("movie-critic")) == second["prompt_id"]  # latest is implicit
    assert _run(service.resolve_id("movie-critic@latest")) == second["prompt_id"]
    assert _run(service.resolve_id("movie-critic@1")) == first["prompt_id"]
    with pytest.raises(NotFoundError, match="has no version 3"):
        _run(service.resolve_id("movie-critic@3"))
    # an edit of a named prompt is its next version
    edited = _run(service.update_prompt("movie-critic@1", content="Review {movie} briefly."))
    assert _run(service.names_for([edited.id]))[edited.id] == ("movie-critic", 3)
    with pytest.raises(InputError, match="invalid prompt name"):
        _run(service.save_version("cafe", "x"))  # could be read as an id prefix


def test_setting_production_on_another_name_no_longer_moves_this_one(backend, service):
    """The reported bug: `label set production` on a cover letter moved the label away from "Linux Terminal"."""
    terminal = _run(service.save_version("linux-terminal", "I want you to act as a Linux terminal."))
    letter = _run(service.save_version("cover-letter", "Write a cover letter for {job}."))
    _run(service.set_label("linux-terminal", "production"))
    moved = _run(service.set_label("cover-letter", "production"))
    assert moved["previous_id"] is None and moved["prompt_name"] == "cover-letter"
    assert _run(service.resolve_id("linux-terminal@production")) == terminal["prompt_id"]
    assert _run(service.resolve_id("cover-letter@production")) == letter["prompt_id"]
    # an unnamed prompt labelled by id gets a name of its own; the other names keep their labels
    from prompt_alchemy.models import Prompt, content_hash

    bare = Prompt(
        content="Act as a travel guide.", title="Travel Guide", content_hash=content_hash("Act as a " "travel guide.")
    )
    service.store.save_prompts([bare])
    named = _run(service.set_label(bare.id, "production"))
    assert (named["prompt_name"], named["version"], named["previous_id"]) == ("travel-guide", 1, None)
    assert _run(service.resolve_id("linux-terminal@production")) == terminal["prompt_id"]
    with pytest.raises(InputError, match="on several prompt names"):
        _run(service.resolve_id("production"))


def test_label_moves_within_a_name_are_audited_in_their_transaction(backend, service):
    ids = [_run(service.save_version("greeter", f"Greet the guest, take {i}."))["prompt_id"] for i in range(3)]
    for version in (1, 3, 2):
        _run(service.set_label("greeter", "production", version=version))
    history = list(reversed(_run(service.label_history("production", prompt_name="greeter"))))
    assert [(h["action"], h["prompt_id"], h["previous_id"]) for h in history] == [
        ("set", ids[0], None),
        ("move", ids[2], ids[0]),
        ("move", ids[1], ids[2]),
    ]
    audited = list(reversed(service.store.list_audit(action="label.set")))
    assert [r["targets"] for r in audited] == [[ids[0]], [ids[2], ids[0]], [ids[1], ids[2]]]
    assert all("label=production" in r["detail"] for r in audited)
    removed = _run(service.remove_label("production", prompt_name="greeter"))
    assert removed["prompt_id"] == ids[1]
    assert service.store.list_audit(action="label.remove")[0]["detail"].startswith("label=production name=greeter")


def test_concurrent_moves_of_one_label_keep_one_history_chain(backend, service):
    ids = [_run(service.save_version("guide", f"Guide version {i}: answer briefly."))["prompt_id"] for i in range(12)]

    async def moves():
        return await asyncio.gather(*(service.set_label("guide", "production", version=v) for v in range(1, 13)))

    _run(moves())
    history = list(reversed(service.store.label_history("production", prompt_name="guide")))
    assert len(history) == 12 and history[0]["previous_id"] is None
    assert all(row["previous_id"] == prev["prompt_id"] for prev, row in zip(history, history[1:])), history
    assert sorted(h["prompt_id"] for h in history) == sorted(ids)


def test_protected_labels_need_force_locally_and_an_admin_key_remotely(backend, service):
    from prompt_alchemy.services.access import actor

    _run(service.save_version("critic", "Critique {thing}."))
    _run(service.save_version("critic", "Critique {thing} kindly."))
    _run(service.set_label("critic", "production", version=1))
    assert _run(service.protect_label("production"))["changed"] is True
    with pytest.raises(ForbiddenError, match="needs --force"):
        _run(service.set_label("critic", "production"))
    assert _run(service.resolve_id("critic@production")) == _run(service.resolve_id("critic@1"))
    _, writer = _run(service.create_key("writer", "write"))
    _, admin = _run(service.create_key("boss", "admin"))
    token = actor.set("writer")
    try:
        with pytest.raises(ForbiddenError, match="only an admin key"):
            _run(service.set_label("critic", "production", source="api"))
    finally:
        actor.reset(token)
    token = actor.set("boss")
    try:
        assert _run(service.set_label("critic", "production", source="api"))["version"] == 2
    finally:
        actor.reset(token)
    assert _run(service.set_label("critic", "production", version=1, force=True))["version"] == 1
    assert _run(service.set_label("critic", "staging"))["version"] == 2  # other labels move freely
