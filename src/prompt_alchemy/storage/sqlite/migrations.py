"""Ordered schema migrations, each a small function applied once and recorded in `_migrations`.

Append new migrations to MIGRATIONS; never edit or reorder one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one inside the caller's transaction (`executescript` would commit it)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:80]}")


def m001_initial(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
    CREATE TABLE prompts (
        id TEXT PRIMARY KEY,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        title TEXT,
        phase TEXT,
        variant INTEGER,
        provider TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        temperature REAL,
        max_tokens INTEGER,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        actual_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        latency_ms REAL NOT NULL DEFAULT 0,
        tags TEXT NOT NULL DEFAULT '[]',
        parent_id TEXT REFERENCES prompts(id) ON DELETE SET NULL,
        session_id TEXT,
        source_type TEXT NOT NULL DEFAULT 'generated',
        enhancement_method TEXT,
        relevance_score REAL NOT NULL DEFAULT 1.0,
        score REAL,
        usage_count INTEGER NOT NULL DEFAULT 0,
        generation_count INTEGER NOT NULL DEFAULT 0,
        last_used_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        embedding BLOB,
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
    CREATE INDEX idx_prompts_created ON prompts(created_at);
    CREATE INDEX idx_prompts_persona ON prompts(persona_used);
    CREATE INDEX idx_prompts_embedding_model ON prompts(embedding_model, embedding_dim);

    CREATE TABLE prompt_context (
        id TEXT PRIMARY KEY,
        prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
        session_id TEXT,
        context_type TEXT NOT NULL,
        source TEXT,
        content TEXT NOT NULL,
        relevance_score REAL NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
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
        latency_ms REAL NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
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
    """,
    )


def m002_fts(db: sqlite3.Connection) -> None:
    """Full-text search: an FTS5 index over content, title and tags of `prompts`, kept in sync by
    triggers and backfilled from existing rows; plus `maintenance`, when backup and vacuum last ran."""
    run_script(
        db,
        """
    CREATE VIRTUAL TABLE prompts_fts USING fts5(
        content, title, tags,
        content='prompts', content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER prompts_fts_insert AFTER INSERT ON prompts BEGIN
        INSERT INTO prompts_fts(rowid, content, title, tags) VALUES (new.rowid, new.content, new.title, new.tags);
    END;
    CREATE TRIGGER prompts_fts_delete AFTER DELETE ON prompts BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, content, title, tags)
            VALUES ('delete', old.rowid, old.content, old.title, old.tags);
    END;
    CREATE TRIGGER prompts_fts_update AFTER UPDATE OF content, title, tags ON prompts BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, content, title, tags)
            VALUES ('delete', old.rowid, old.content, old.title, old.tags);
        INSERT INTO prompts_fts(rowid, content, title, tags) VALUES (new.rowid, new.content, new.title, new.tags);
    END;
    INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('rank', 'bm25(1.0, 2.0, 1.0)');
    INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild');

    CREATE TABLE maintenance (
        task TEXT PRIMARY KEY,
        last_run_at TEXT NOT NULL,
        detail TEXT
    );
    """,
    )


def m003_response_cache(db: sqlite3.Connection) -> None:
    """Provider response and embedding caches. Keys are hashes; no request text, no secrets."""
    run_script(
        db,
        """
    CREATE TABLE response_cache (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX idx_response_cache_expires ON response_cache(expires_at);

    CREATE TABLE embedding_cache (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        dimensions INTEGER NOT NULL,
        vector BLOB NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX idx_embedding_cache_expires ON embedding_cache(expires_at);
    """,
    )


def m004_learning(db: sqlite3.Connection) -> None:
    """Learning from feedback: every trained model version with its metrics, feature names and weights
    (JSON); at most one is active. No settings, no secrets. Plus feedback indexes for sessions and time."""
    run_script(
        db,
        """
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
    """,
    )


def m005_access(db: sqlite3.Connection) -> None:
    """API keys (only a salted hash of each secret) and the append-only audit log of every write."""
    run_script(
        db,
        """
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
        id INTEGER PRIMARY KEY AUTOINCREMENT,
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
        audit_id INTEGER NOT NULL REFERENCES audit_log(id) ON DELETE CASCADE,
        target_id TEXT NOT NULL
    );
    CREATE INDEX idx_audit_targets_target ON audit_targets(target_id);
    """,
    )


def m006_labels(db: sqlite3.Connection) -> None:
    """Labels: a name pointing at exactly one prompt version (`production` -> a version), and the append-only
    history of every set, move and removal. Deleting a labelled prompt removes its labels and records that."""
    run_script(
        db,
        """
    CREATE TABLE labels (
        name TEXT PRIMARY KEY,
        prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX idx_labels_prompt ON labels(prompt_id);
    CREATE TABLE label_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        prompt_id TEXT,
        previous_id TEXT,
        action TEXT NOT NULL CHECK (action IN ('set', 'move', 'remove', 'deleted')),
        actor TEXT NOT NULL DEFAULT 'local',
        source TEXT NOT NULL DEFAULT 'cli',
        created_at TEXT NOT NULL
    );
    CREATE INDEX idx_label_history_name ON label_history(name);
    CREATE TRIGGER labels_prompt_deleted BEFORE DELETE ON prompts BEGIN
        INSERT INTO label_history (name, prompt_id, previous_id, action, source, created_at)
            SELECT name, NULL, old.id, 'deleted', 'delete', strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
            FROM labels WHERE prompt_id = old.id;
    END;
    """,
    )


def m007_fts_datasette(db: sqlite3.Connection) -> None:
    """The full-text index declared as `content="prompts"` (double quotes), the form Datasette detects, so
    `datasette prompts.db` offers a search box on `prompts`. Same columns, tokenizer, ranking and triggers."""
    run_script(
        db,
        """
    DROP TRIGGER IF EXISTS prompts_fts_insert;
    DROP TRIGGER IF EXISTS prompts_fts_delete;
    DROP TRIGGER IF EXISTS prompts_fts_update;
    DROP TABLE IF EXISTS prompts_fts;
    CREATE VIRTUAL TABLE prompts_fts USING fts5(
        content, title, tags,
        content="prompts", content_rowid="rowid",
        tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER prompts_fts_insert AFTER INSERT ON prompts BEGIN
        INSERT INTO prompts_fts(rowid, content, title, tags) VALUES (new.rowid, new.content, new.title, new.tags);
    END;
    CREATE TRIGGER prompts_fts_delete AFTER DELETE ON prompts BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, content, title, tags)
            VALUES ('delete', old.rowid, old.content, old.title, old.tags);
    END;
    CREATE TRIGGER prompts_fts_update AFTER UPDATE OF content, title, tags ON prompts BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, content, title, tags)
            VALUES ('delete', old.rowid, old.content, old.title, old.tags);
        INSERT INTO prompts_fts(rowid, content, title, tags) VALUES (new.rowid, new.content, new.title, new.tags);
    END;
    INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('rank', 'bm25(1.0, 2.0, 1.0)');
    INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild');
    """,
    )


def m008_rate_windows(db: sqlite3.Connection) -> None:
    """The API keys' rate-limit windows. PostgreSQL only (an UNLOGGED table shared by every replica): SQLite counts
    in the serving process's memory, since a commit per request would move the library's data_version, which
    read caches and change notifications follow (see storage/access.py). Nothing to do here."""


def m009_named_prompts(db: sqlite3.Connection) -> None:
    """Named prompts: `prompts.name` and `prompts.version` (unique together: a name's versions 1..n), labels per
    name (`labels` keyed by (prompt_name, name)), the name in `label_history`, and `protected_labels`. Every label
    of the old global table moves to the name of the prompt it pointed at (named from the prompt when it had none);
    each move is written to the label history and the audit log, and logged."""
    from prompt_alchemy.models import utcnow
    from prompt_alchemy.storage.labels import migrate_global_labels

    run_script(
        db,
        """
    ALTER TABLE prompts ADD COLUMN name TEXT;
    ALTER TABLE prompts ADD COLUMN version INTEGER;
    CREATE UNIQUE INDEX idx_prompts_name_version ON prompts(name, version);
    DROP TRIGGER IF EXISTS labels_prompt_deleted;
    DROP INDEX IF EXISTS idx_labels_prompt;
    ALTER TABLE labels RENAME TO labels_m008;
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
    """,
    )
    log_label_moves(migrate_global_labels(db, utcnow()))
    run_script(
        db,
        """
    DROP TABLE labels_m008;
    CREATE TRIGGER labels_prompt_deleted BEFORE DELETE ON prompts BEGIN
        INSERT INTO label_history (prompt_name, name, prompt_id, previous_id, action, source, created_at)
            SELECT prompt_name, name, NULL, old.id, 'deleted', 'delete', strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
            FROM labels WHERE prompt_id = old.id;
    END;
    """,
    )


def log_label_moves(lines: list[str]) -> None:
    """The migration's log of how each global label moved (a warning: what `use production` means changed)."""
    from prompt_alchemy.logging_setup import get_logger

    log = get_logger("storage.migrations")
    if lines:
        log.warning("labels are now per prompt name (migration m009); %d moved:", len(lines))
    for line in lines:
        log.warning("  %s", line)


def m010_people(db: sqlite3.Connection) -> None:
    """Users, projects and roles: `projects` (with the `default` project every existing prompt and key joins),
    `users` (created on first sign-in; `disabled_at` refuses them), `memberships` (a user's role in a project:
    owner, admin, member or viewer, and whether it came from the sign-in claim or from an admin), and on
    `prompts` the project and the creator, on `api_keys` the project and the optional user."""
    run_script(db, PEOPLE_SQL)


#: m010's statements, in SQL both databases read (the PostgreSQL migration uses them too).
PEOPLE_SQL = """
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
INSERT INTO projects (id, created_at) VALUES ('default', '1970-01-01T00:00:00+00:00');
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    handle TEXT NOT NULL UNIQUE,
    email TEXT,
    display_name TEXT,
    created_at TEXT NOT NULL,
    last_seen_at TEXT,
    disabled_at TEXT,
    UNIQUE (issuer, subject)
);
CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'admin',
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);
CREATE INDEX idx_memberships_project ON memberships(project_id);
ALTER TABLE prompts ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE prompts ADD COLUMN created_by TEXT;
CREATE INDEX idx_prompts_project ON prompts(project_id, created_at);
CREATE INDEX idx_prompts_created_by ON prompts(created_by);
ALTER TABLE api_keys ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN user_id TEXT;
CREATE INDEX idx_api_keys_user ON api_keys(user_id);
"""


def m011_project_names(db: sqlite3.Connection) -> None:
    """Names and labels per project: a name is unique within its project (`prompts`: project_id, name, version),
    a label within its project and name (`labels` keyed by project_id, prompt_name, name), the label history names
    the project, and a label is protected per project (each protection of the whole library is kept in every
    project). Existing labels and history rows take the project of their prompt."""
    run_script(db, PROJECT_NAMES_SQL)


#: m011's statements for SQLite (a table's key cannot change in place: `labels` and `protected_labels` are built
#: anew and filled from the old ones).
PROJECT_NAMES_SQL = """
DROP INDEX IF EXISTS idx_prompts_name_version;
CREATE UNIQUE INDEX idx_prompts_project_name_version ON prompts(project_id, name, version);
DROP TRIGGER IF EXISTS labels_prompt_deleted;
CREATE TABLE labels_m011 (
    project_id TEXT NOT NULL DEFAULT 'default',
    prompt_name TEXT NOT NULL,
    name TEXT NOT NULL,
    prompt_id TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, prompt_name, name)
);
INSERT INTO labels_m011 (project_id, prompt_name, name, prompt_id, updated_at)
    SELECT p.project_id, l.prompt_name, l.name, l.prompt_id, l.updated_at
    FROM labels l JOIN prompts p ON p.id = l.prompt_id;
DROP TABLE labels;
ALTER TABLE labels_m011 RENAME TO labels;
CREATE INDEX idx_labels_prompt ON labels(prompt_id);
CREATE INDEX idx_labels_name ON labels(project_id, name);
ALTER TABLE label_history ADD COLUMN project_id TEXT NOT NULL DEFAULT 'default';
UPDATE label_history SET project_id = COALESCE(
    (SELECT p.project_id FROM prompts p WHERE p.id = COALESCE(label_history.prompt_id, label_history.previous_id)),
    'default');
CREATE INDEX idx_label_history_project ON label_history(project_id, prompt_name);
CREATE TABLE protected_labels_m011 (
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);
INSERT INTO protected_labels_m011 (project_id, name, created_at)
    SELECT pr.id, x.name, x.created_at FROM protected_labels x CROSS JOIN projects pr;
DROP TABLE protected_labels;
ALTER TABLE protected_labels_m011 RENAME TO protected_labels;
CREATE TRIGGER labels_prompt_deleted BEFORE DELETE ON prompts BEGIN
    INSERT INTO label_history (project_id, prompt_name, name, prompt_id, previous_id, action, source, created_at)
        SELECT project_id, prompt_name, name, NULL, old.id, 'deleted', 'delete',
               strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
        FROM labels WHERE prompt_id = old.id;
END;
"""


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_initial,
    m002_fts,
    m003_response_cache,
    m004_learning,
    m005_access,  # API keys and the audit log
    m006_labels,  # labels pointing at prompt versions, with their history
    m007_fts_datasette,  # the FTS table in the form Datasette detects
    m008_rate_windows,  # the API keys' rate-limit windows (PostgreSQL; SQLite counts in memory)
    m009_named_prompts,  # prompt names with versions; labels per name; protected labels
    m010_people,  # users, projects and roles; prompts and keys belong to a project
    m011_project_names,  # names, labels and protected labels per project
]
