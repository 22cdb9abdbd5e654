"""The library in one SQLite file: the store (store.py) and its ordered migrations (migrations.py)."""

from prompt_alchemy.storage.prompts import PROMPT_COLUMNS, prompt_to_row, vector_to_blob
from prompt_alchemy.storage.sqlite.store import (
    SQLiteStore,
    damaged_message,
    fts_query,
    integrity_check,
    restore_database,
)

__all__ = [
    "PROMPT_COLUMNS",
    "SQLiteStore",
    "damaged_message",
    "fts_query",
    "integrity_check",
    "prompt_to_row",
    "restore_database",
    "vector_to_blob",
]
