"""NUL and the other control characters (C0 but tab, line feed and carriage return; DEL) are refused at input
validation on every interface (CLI, REST, MCP, import files), the same on SQLite and PostgreSQL, with one error
naming the field; an idea made only of control characters is empty. `db copy` into PostgreSQL names the rows of an
old library that hold NUL, and `--strip-nul` copies them without it."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid

import pytest
from safety_kit import library_state, run_inproc
from testkit import SCRIPTED, Server, run_cli


@pytest.fixture
def scripted(monkeypatch):
    for key, value in SCRIPTED.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("idea", ["\x00", "\x00\x01 \x7f", " \x1b "])
def test_an_idea_of_only_control_characters_is_empty(home, scripted, idea):
    before = library_state(home)
    run = run_inproc("generate", idea, "--output", "json")
    assert run.code == 2 and "the idea is empty" in run.err and run.out == ""
    assert library_state(home) == before


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["generate", "plan a\x00 trip"], "invalid idea"),
        (["generate", "plan a trip", "--tags", "ok,b\x07ad"], "invalid tags"),
        (["generate", "plan a\x7f trip"], "invalid idea"),
    ],
)
def test_cli_refuses_control_characters_naming_the_field(home, scripted, args, field):
    before = library_state(home)
    run = run_inproc(*args)
    assert run.code == 2, run.err
    assert run.err.startswith(f"error: {field}") and run.err.count("\n") == 1
    assert ": contains the control character U+00" in run.err
    assert library_state(home) == before


def test_tabs_and_line_breaks_are_text(home, scripted):
    run = run_inproc("generate", "plan a trip\twith\r\nline breaks", "--count", "1", "--output", "json")
    assert run.code == 0, run.err


def _server(home, backend) -> Server:
    extra = {"PROMPT_ALCHEMY_DATABASE_URL": os.environ["PROMPT_ALCHEMY_DATABASE_URL"]} if backend == "postgres" else {}
    return Server(home, extra)


@pytest.mark.e2e
async def test_rest_and_mcp_refuse_control_characters_on_both_backends(home, backend):
    from mcp import Client

    server = _server(home, backend)
    try:
        with server.client() as http:
            good = {"content": "A valid prompt about hot weather", "tags": ["ok"]}
            bad = {"content": "A prompt with a NUL \x00 inside"}
            body = {"format": "jsonl", "content": json.dumps(bad) + "\n" + json.dumps(good) + "\n"}
            report = http.post("/api/v1/import", json=body)
            assert report.status_code == 200, report.text
            data = report.json()
            assert data["imported"] == 1 and data["failed"] == 1
            assert "line 1: invalid content: contains the control character U+0000" in data["errors"][0]
            listed = http.get("/api/v1/prompts").json()
            assert [p["content"] for p in listed["prompts"]] == [good["content"]]
            pid = listed["prompts"][0]["id"]

            for method, path, payload, field in [
                ("POST", "/api/v1/generate", {"idea": "\u0000"}, "the idea is empty"),
                ("POST", "/api/v1/generate", {"idea": "plan\u0000 a trip"}, "invalid idea: contains"),
                ("PATCH", f"/api/v1/prompts/{pid}", {"content": "new\u0000text"}, "invalid content: contains"),
                ("PATCH", f"/api/v1/prompts/{pid}", {"tags": ["a\u0001"]}, "invalid tags: contains"),
                ("PATCH", f"/api/v1/prompts/{pid}", {"notes": "n\u007f"}, "invalid notes: contains"),
                (
                    "POST",
                    f"/api/v1/prompts/{pid}/ratings",
                    {"score": 4, "comment": "c\u0000"},
                    "invalid comment: contains",
                ),
                ("GET", "/api/v1/search?q=hot%00weather", None, "invalid search query: contains"),
                ("GET", "/api/v1/prompts/ab%00cd", None, "invalid prompt id: contains"),
            ]:
                response = http.request(method, path, json=payload)
                assert response.status_code == 400, (path, response.status_code, response.text)
                assert response.json()["error"]["code"] == "bad_input"
                assert field in response.json()["error"]["message"], response.text
            assert [p["content"] for p in http.get("/api/v1/prompts").json()["prompts"]] == [good["content"]]

        async with Client(f"{server.url}/mcp") as client:
            result = await client.call_tool("update_prompt", {"id": pid, "content": "mcp\u0000text"})
            assert (
                result.is_error and "invalid content: contains the control character U+0000" in result.content[0].text
            )
            result = await client.call_tool("generate_prompts", {"idea": "\u0000\u0000"})
            assert result.is_error and "the idea is empty" in result.content[0].text
    finally:
        log = server.stop()
    assert "Traceback" not in log


def test_import_file_names_the_bad_row_and_keeps_the_good_one(home, backend, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        json.dumps({"content": "first good prompt"})
        + "\n"
        + json.dumps({"content": "tagged", "tags": ["x\u0002y"]})
        + "\n"
        + json.dumps({"content": "ctx", "context": [{"source": "s", "content": "c\u0000"}]})
        + "\n",
        encoding="utf-8",
    )
    proc = run_cli("import", str(path), "--output", "json")
    data = json.loads(proc.stdout)
    assert data["imported"] == 1 and data["failed"] == 2
    assert data["errors"][0].startswith("line 2: invalid tags[0]: contains the control character U+0002")
    assert data["errors"][1].startswith("line 3: invalid context[0].content: contains the control character U+0000")


def _old_library_with_nul(home) -> str:
    """A SQLite library holding a NUL in one prompt's content, written directly as an old version could."""
    source = home / "clean.jsonl"
    source.write_text(json.dumps({"content": "a clean prompt"}) + "\n", encoding="utf-8")
    proc = run_cli("import", str(source))
    assert proc.returncode == 0, proc.stderr
    bad_id = str(uuid.uuid4())
    with contextlib.closing(sqlite3.connect(home / "prompts.db")) as db:
        row = db.execute("SELECT * FROM prompts LIMIT 1").fetchone()
        names = [d[0] for d in db.execute("SELECT * FROM prompts LIMIT 1").description]
        values = dict(zip(names, row))
        values.update(id=bad_id, content="old\x00prompt", content_hash="h" * 64)
        db.execute(
            f"INSERT INTO prompts ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
            list(values.values()),
        )
        db.commit()
    return bad_id


def test_db_copy_names_rows_with_nul_and_strip_nul_copies_them(home, postgres_url):
    import psycopg

    bad_id = _old_library_with_nul(home)
    refused = run_cli("db", "copy", "--to", postgres_url)
    assert refused.returncode == 2, refused.stderr
    assert f"prompts '{bad_id}' (content)" in refused.stderr and "--strip-nul" in refused.stderr
    assert "which postgresql://" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 0  # nothing was written

    copied = run_cli("db", "copy", "--to", postgres_url, "--strip-nul", "--output", "json")
    assert copied.returncode == 0, copied.stderr
    data = json.loads(copied.stdout)
    assert data["prompts"] == 2 and data["nul_stripped"] == 1
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT content FROM prompts WHERE id = %s", (bad_id,)).fetchone()[0] == "oldprompt"


def test_db_copy_between_sqlite_libraries_keeps_nul(home, tmp_path):
    bad_id = _old_library_with_nul(home)
    target = tmp_path / "copy.db"
    proc = run_cli("db", "copy", "--to", str(target), "--output", "json")
    assert proc.returncode == 0, proc.stderr
    with contextlib.closing(sqlite3.connect(target)) as db:
        assert db.execute("SELECT content FROM prompts WHERE id = ?", (bad_id,)).fetchone()[0] == "old\x00prompt"
