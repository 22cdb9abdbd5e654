"""The two stores share their portable reads and writes: nothing is borrowed from the other store, and the shared
methods exist once."""

from __future__ import annotations

import inspect

from prompt_alchemy.storage.postgres import PostgresStore
from prompt_alchemy.storage.prompts import PromptRecords
from prompt_alchemy.storage.sqlite import SQLiteStore


def test_no_store_borrows_the_other_ones_methods():
    for store, other in ((PostgresStore, "SQLiteStore."), (SQLiteStore, "PostgresStore.")):
        borrowed = [
            name
            for name, value in inspect.getmembers(store, inspect.isfunction)
            if value.__qualname__.startswith(other)
        ]
        assert borrowed == [], (store.__name__, borrowed)


def test_the_portable_methods_exist_once():
    for name in (
        "schema_version",
        "save_prompts",
        "save_session",
        "record_metrics",
        "embedding_counts",
        "library_counts",
        "metrics_summary",
        "iter_prompts",
    ):
        assert getattr(SQLiteStore, name) is getattr(PromptRecords, name), name
        assert getattr(PostgresStore, name) is getattr(PromptRecords, name), name
