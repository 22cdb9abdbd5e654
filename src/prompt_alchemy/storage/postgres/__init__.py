"""The PostgreSQL + pgvector store (the scale-out backend): see store.py."""

from prompt_alchemy.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
