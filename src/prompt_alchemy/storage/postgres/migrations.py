"""The PostgreSQL dialect of every migration in ``storage/sqlite/migrations.py``: the same names in the same order,
each the statements that give PostgreSQL the same tables (times stay ISO 8601 text in UTC, JSON stays text, so both
stores hold the same values). Full text is a generated `tsvector` column with a GIN index; vectors live in pgvector
tables, one per (model, dimensions), registered in `vector_spaces` and created on first use (see store.py). Every
write to prompts, feedback or models moves the `library_changes` sequence on: the store's data_version, which every
process sees (sequences are not transactional, so writers never wait on it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompt_alchemy.storage.sqlite.migrations import PEOPLE_SQL

#: The text search configuration: English stemming and stop words, like FTS5's porter tokenizer.
TEXT_CONFIG = "english"

_PROMPTS = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SEQUENCE IF NOT EXISTS library_changes;
CREATE OR REPLACE FUNCTION library_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('library_changes');
    RETURN NULL;
END $$;

CREATE TABLE prompts (
    id TEXT PRIMARY KEY,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT,
    phase TEXT,
    variant INTEGER,
    provider TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    temperature DOUBLE PRECISION,
    max_tokens INTEGER,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    actual_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    parent_id TEXT REFERENCES prompts(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    session_id TEXT,
    source_type TEXT NOT NULL DEFAULT 'generated',
    enhancement_method TEXT,
    relevance_score DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    score DOUBLE PRECISION,
    usage_count INTEGER NOT NULL DEFAULT 0,
    generation_count INTEGER NOT NULL DEFAULT 0,
    last_used_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    embedding BYTEA,
    embedding_model TEXT,
    embedding_provider TEXT,
    embedding_dim INTEGER,
    original_input TEXT,
    generation_request TEXT,
    generation_context TEXT,
    persona_used TEXT,
    target_model_family TEXT,
    target_model TEXT,
    notes TEXT
);
CREATE INDEX idx_prompts_phase ON prompts(phase);
CREATE INDEX idx_prompts_provider ON prompts(provider);
CREATE INDEX idx_prompts_model ON prompts(model);
CREATE INDEX idx_prompts_content_hash ON prompts(content_hash);
CREATE INDEX idx_prompts_session ON prompts(session_id);
CREATE INDEX idx_prompts_parent ON prompts(parent_id);
CREATE INDEX idx_prompts_created ON prompts(created_at, id);
CREATE INDEX idx_prompts_persona ON prompts(persona_used);
CREATE INDEX idx_prompts_embedding_model ON prompts(embedding_model, embedding_dim);
CREATE TRIGGER prompts_changed AFTER INSERT OR UPDATE OR DELETE ON prompts
    FOR EACH STATEMENT EXECUTE FUNCTION library_changed();

CREATE TABLE vector_spaces (
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    table_name TEXT NOT NULL UNIQUE,
    PRIMARY KEY (model, dimensions)
);

CREATE TABLE prompt_context (
    id TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    session_id TEXT,
    context_type TEXT NOT NULL,
    source TEXT,
    content TEXT NOT NULL,
    relevance_score DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX idx_context_prompt ON prompt_context(prompt_id);

CREATE TABLE metrics (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    prompt_id TEXT REFERENCES prompts(id) ON DELETE CASCADE,
    session_id TEXT,
    phase TEXT,
    provider TEXT,
    model TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    success INTEGER NOT NULL DEFAULT 1,
    detail TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_metrics_prompt ON metrics(prompt_id);
CREATE INDEX idx_metrics_session ON metrics(session_id);
CREATE INDEX idx_metrics_kind_created ON metrics(kind, created_at);

CREATE TABLE feedback (
    id TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    session_id TEXT,
    rating INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    chosen INTEGER,
    comment TEXT,
    source TEXT NOT NULL DEFAULT 'cli',
    created_at TEXT NOT NULL
);
CREATE INDEX idx_feedback_prompt ON feedback(prompt_id);
CREATE TRIGGER feedback_changed AFTER INSERT OR UPDATE OR DELETE ON feedback
    FOR EACH STATEMENT EXECUTE FUNCTION library_changed();
"""

_FTS = f"""
ALTER TABLE prompts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('{TEXT_CONFIG}', coalesce(title, '')), 'A') ||
    setweight(to_tsvector('{TEXT_CONFIG}', content), 'B') ||
    setweight(to_tsvector('{TEXT_CONFIG}', coalesce(tags, '')), 'B')) STORED;
CREATE INDEX idx_prompts_search ON prompts USING gin (search);

CREATE TABLE maintenance (
    task TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL,
    detail TEXT
);
"""

_CACHE = """
CREATE TABLE response_cache (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_response_cache_expires ON response_cache(expires_at);

CREATE TABLE embedding_cache (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    vector BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX idx_embedding_cache_expires ON embedding_cache(expires_at);
"""

_LEARNING = """
CREATE TABLE models (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    feature_names TEXT NOT NULL,
    weights TEXT NOT NULL,
    normalization TEXT NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    training_size INTEGER NOT NULL,
    train_pairs INTEGER NOT NULL,
    validation_pairs INTEGER NOT NULL,
    trigger TEXT NOT NULL DEFAULT 'cli',
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX idx_models_one_active ON models(active) WHERE active = 1;
CREATE INDEX idx_feedback_session ON feedback(session_id);
CREATE INDEX idx_feedback_created ON feedback(created_at);
CREATE TRIGGER models_changed AFTER INSERT OR UPDATE OR DELETE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION library_changed();
"""

_ACCESS = """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    salt TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    rate_limit INTEGER,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE UNIQUE INDEX idx_api_keys_active_name ON api_keys(name) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    targets TEXT NOT NULL DEFAULT '[]',
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX idx_audit_created ON audit_log(created_at);
CREATE INDEX idx_audit_actor ON audit_log(actor);
CREATE TABLE audit_targets (
    audit_id BIGINT NOT NULL REFERENCES audit_log(id) ON DELETE CASCADE,
    target_id TEXT NOT NULL
);
CREATE INDEX idx_audit_targets_target ON audit_targets(target_id);
"""

_LABELS = """
CREATE TABLE labels (
    name TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    updated_at TEXT NOT NULL
);
CREATE INDEX idx_labels_prompt ON labels(prompt_id);
CREATE TABLE label_history (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    prompt_id TEXT,
    previous_id TEXT,
    action TEXT NOT NULL CHECK (action IN ('set', 'move', 'remove', 'deleted')),
    actor TEXT NOT NULL DEFAULT 'local',
    source TEXT NOT NULL DEFAULT 'cli',
    created_at TEXT NOT NULL
);
CREATE INDEX idx_label_history_name ON label_history(name);
CREATE OR REPLACE FUNCTION labels_prompt_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO label_history (name, prompt_id, previous_id, action, source, created_at)
        SELECT name, NULL, OLD.id, 'deleted', 'delete',
               to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        FROM labels WHERE prompt_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER labels_prompt_deleted BEFORE DELETE ON prompts
    FOR EACH ROW EXECUTE FUNCTION labels_prompt_deleted();
"""

#: m007 declared SQLite's FTS table in the form Datasette detects; PostgreSQL's text index needs no such form.
_FTS_DATASETTE = ""

#: The API keys' rate-limit windows, shared by every replica: one row per key (the window's start in epoch seconds
#: on the database's clock, and the requests counted in it), updated by one UPSERT per request. UNLOGGED: no WAL
#: flush per request; after a crash the table is empty, which only restarts the windows.
_RATE_WINDOWS = """
CREATE UNLOGGED TABLE rate_windows (
    key_id TEXT PRIMARY KEY,
    window_start DOUBLE PRECISION NOT NULL,
    hits INTEGER NOT NULL
);
"""

#: m009: named prompts (see storage/sqlite/migrations.py). The old labels table is renamed aside (with its key
#: and index) for the data step, which moves every global label to a name (`storage.labels.migrate_global_labels`).
_NAMED_PROMPTS = """
ALTER TABLE prompts ADD COLUMN name TEXT, ADD COLUMN version INTEGER;
CREATE UNIQUE INDEX idx_prompts_name_version ON prompts(name, version);
ALTER TABLE labels RENAME TO labels_m008;
ALTER TABLE labels_m008 RENAME CONSTRAINT labels_pkey TO labels_m008_pkey;
ALTER INDEX idx_labels_prompt RENAME TO idx_labels_m008_prompt;
CREATE TABLE labels (
    prompt_name TEXT NOT NULL,
    name TEXT NOT NULL,
    prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (prompt_name, name)
);
CREATE INDEX idx_labels_prompt ON labels(prompt_id);
CREATE INDEX idx_labels_name ON labels(name);
ALTER TABLE label_history ADD COLUMN prompt_name TEXT;
CREATE INDEX idx_label_history_prompt_name ON label_history(prompt_name);
CREATE TABLE protected_labels (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE OR REPLACE FUNCTION labels_prompt_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO label_history (prompt_name, name, prompt_id, previous_id, action, source, created_at)
        SELECT prompt_name, name, NULL, OLD.id, 'deleted', 'delete',
               to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        FROM labels WHERE prompt_id = OLD.id;
    RETURN OLD;
END $$;
"""


#: m011: names and labels per project (see storage/sqlite/migrations.py). PostgreSQL changes the keys in place.
_PROJECT_NAMES = """
DROP INDEX IF EXISTS idx_prompts_name_version;
CREATE UNIQUE INDEX idx_prompts_project_name_version ON prompts(project_id, name, version);
ALTER TABLE labels ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default';
UPDATE labels l SET project_id = p.project_id FROM prompts p WHERE p.id = l.prompt_id;
ALTER TABLE labels DROP CONSTRAINT labels_pkey;
ALTER TABLE labels ADD PRIMARY KEY (project_id, prompt_name, name);
DROP INDEX IF EXISTS idx_labels_name;
CREATE INDEX idx_labels_name ON labels(project_id, name);
ALTER TABLE label_history ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default';
UPDATE label_history h SET project_id = p.project_id FROM prompts p WHERE p.id = COALESCE(h.prompt_id, h.previous_id);
CREATE INDEX idx_label_history_project ON label_history(project_id, prompt_name);
ALTER TABLE protected_labels ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE protected_labels DROP CONSTRAINT protected_labels_pkey;
INSERT INTO protected_labels (project_id, name, created_at)
    SELECT pr.id, x.name, x.created_at FROM protected_labels x CROSS JOIN projects pr WHERE pr.id <> 'default';
ALTER TABLE protected_labels ADD PRIMARY KEY (project_id, name);
CREATE OR REPLACE FUNCTION labels_prompt_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO label_history (project_id, prompt_name, name, prompt_id, previous_id, action, source, created_at)
        SELECT project_id, prompt_name, name, NULL, OLD.id, 'deleted', 'delete',
               to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        FROM labels WHERE prompt_id = OLD.id;
    RETURN OLD;
END $$;
"""


def _move_global_labels(db: Any) -> None:
    """m009's data step (after its statements, in the same transaction): the global labels move to names, and the
    old table goes."""
    from prompt_alchemy.models import utcnow
    from prompt_alchemy.storage.labels import migrate_global_labels
    from prompt_alchemy.storage.sqlite.migrations import log_label_moves

    log_label_moves(migrate_global_labels(db, utcnow()))
    db.execute("DROP TABLE labels_m008")


#: Data steps run after a migration's statements, in its transaction, by the migration's name.
POSTGRES_DATA_STEPS: dict[str, Callable[[Any], None]] = {
    "m009_named_prompts": _move_global_labels,
}

#: Each migration's PostgreSQL statements, by the migration's name, in MIGRATIONS order.
POSTGRES_DIALECT: dict[str, str] = {
    "m001_initial": _PROMPTS,
    "m002_fts": _FTS,
    "m003_response_cache": _CACHE,
    "m004_learning": _LEARNING,
    "m005_access": _ACCESS,
    "m006_labels": _LABELS,
    "m007_fts_datasette": _FTS_DATASETTE,
    "m008_rate_windows": _RATE_WINDOWS,
    "m009_named_prompts": _NAMED_PROMPTS,
    "m010_people": PEOPLE_SQL,
    "m011_project_names": _PROJECT_NAMES,
}
