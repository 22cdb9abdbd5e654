"""The SQLite store implements the whole Store protocol, and the layers above hold it by that type."""

from __future__ import annotations

import inspect

from prompt_alchemy.storage import base
from prompt_alchemy.storage.base import Store
from prompt_alchemy.storage.sqlite import SQLiteStore


def test_sqlite_store_implements_every_part_of_the_protocol(tmp_path):
    store = SQLiteStore(tmp_path / "prompts.db")
    try:
        assert isinstance(store, Store)
        for part in (base.PromptRepository, base.FeedbackStore, base.CacheStore, base.MaintenanceStore):
            members = [n for n, v in vars(part).items() if inspect.isfunction(v) and not n.startswith("_")]
            assert members, part
            for name in members:
                assert callable(getattr(store, name)), f"{part.__name__}.{name}"
    finally:
        store.close()


def test_the_service_layer_is_typed_by_the_protocol():
    from prompt_alchemy.services.app import App

    assert inspect.signature(App.store.func).return_annotation in ("Store", Store)
