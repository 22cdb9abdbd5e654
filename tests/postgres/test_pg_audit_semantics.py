"""The same delete, label and audit semantics on both backends, through the service (many threads of one process:
SQLite's BEGIN IMMEDIATE serializes them; PostgreSQL's pool runs them on several connections at once)."""

from __future__ import annotations

import asyncio
import json

import pytest

from prompt_alchemy.errors import NotFoundError


def _import(service, tmp_path, rows: list[dict], name: str = "rows.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({"embedding": None, **r}) + "\n" for r in rows), encoding="utf-8")
    return asyncio.run(service.import_prompts(path))


def test_concurrent_deletes_one_succeeds_with_one_audit_row(backend, service, tmp_path):
    _import(service, tmp_path, [{"id": "gone-1", "content": "Delete me once: summarise the memo."}])

    async def race():
        return await asyncio.gather(*(service.delete_prompt("gone-1") for _ in range(6)), return_exceptions=True)

    results = asyncio.run(race())
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, NotFoundError) for r in results if r is not None), results
    ok = [r for r in service.store.list_audit(action="delete", target="gone-1") if r["outcome"] == "ok"]
    assert len(ok) == 1 and ok[0]["targets"] == ["gone-1"]


def test_parent_and_child_deleted_at_once_relink_the_grandchild(backend, service, tmp_path):
    rows = []
    for t in range(5):
        chain = [f"c{t}-{g}" for g in range(4)]
        rows += [
            {
                "id": pid,
                "content": f"Chain {t} generation {g}: tidy the wording.",
                "parent_id": chain[g - 1] if g else None,
            }
            for g, pid in enumerate(chain)
        ]
    _import(service, tmp_path, rows)

    async def both(t: int):
        order = [f"c{t}-1", f"c{t}-2"] if t % 2 else [f"c{t}-2", f"c{t}-1"]
        return await asyncio.gather(*(service.delete_prompt(pid) for pid in order))

    for t in range(5):
        assert asyncio.run(both(t)) == [None, None]
        assert service.store.get_prompt(f"c{t}-3").parent_id == f"c{t}-0"


def test_concurrent_label_moves_keep_one_history_chain(backend, service, tmp_path):
    async def versions():  # a label moves between the versions of one name
        return [
            (await service.save_version("greeter", f"Version {i}: greet the guest warmly."))["prompt_id"]
            for i in range(20)
        ]

    ids = asyncio.run(versions())

    async def moves():
        return await asyncio.gather(*(service.set_label(pid, "production") for pid in ids))

    asyncio.run(moves())
    history = list(reversed(service.store.label_history("production")))
    assert len(history) == 20 and history[0]["previous_id"] is None
    assert all(row["previous_id"] == prev["prompt_id"] for prev, row in zip(history, history[1:])), history
    audited = service.store.list_audit(action="label.set", limit=100)
    assert len(audited) == 20
    assert {r["targets"][0]: r["targets"][1:] for r in audited} == {
        row["prompt_id"]: [row["previous_id"]] if row["previous_id"] else [] for row in history
    }


@pytest.mark.parametrize("with_labels", [False, True])
def test_import_audit_rows_name_the_ids_and_the_labels(backend, service, tmp_path, with_labels):
    rows = [
        {
            "id": f"imp-{i}",
            "content": f"Imported {i}: outline the talk.",
            **({"labels": ["production"]} if with_labels and i == 1 else {}),
        }
        for i in range(3)
    ]
    report = _import(service, tmp_path, rows)
    assert report.imported == 3
    imports = service.store.list_audit(action="import")
    batch = [r for r in imports if r["detail"].startswith("batch ")]
    assert len(batch) == 1 and sorted(batch[0]["targets"]) == ["imp-0", "imp-1", "imp-2"]
    done = [r for r in imports if r["detail"].startswith("done ")]
    assert len(done) == 1 and ("labels=production" in done[0]["detail"]) == with_labels
    moves = service.store.list_audit(action="label.set")
    assert len(moves) == with_labels
    if with_labels:
        assert moves[0]["targets"] == ["imp-1"] and "source=import" in moves[0]["detail"]
        assert service.store.label_history("production")[0]["source"] == "import"
