"""Export and import carry names, versions, labels and ratings: a JSONL (or JSON) round trip into an empty library
keeps each version's number and each label on its name, on SQLite and PostgreSQL; a version taken in the target
becomes the name's next one; ratings are not stored twice; Markdown shows NAME@VERSION; `show` and the MCP resource
name the version."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

_dbs = itertools.count()


def _run(coro):
    return asyncio.run(coro)


@pytest.fixture
def second_library(backend, request, tmp_path, monkeypatch):
    """Build a service over another empty library on the same backend (a new home, or a new PostgreSQL database)."""
    from prompt_alchemy.services import AlchemyService

    made = []

    def make():
        home = tmp_path / f"other{len(made)}"
        home.mkdir()
        monkeypatch.setenv("PROMPT_ALCHEMY_HOME", str(home))
        if backend == "postgres":
            import psycopg

            server = request.getfixturevalue("pg_server")
            name = f"rt{next(_dbs)}_{id(made)}"
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE alchemy_template")
            monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", server.get_uri(name))
        svc = AlchemyService.from_environment()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        _run(svc.aclose())


def _seed(service):
    v1 = _run(service.save_version("movie-critic", "Review {movie}."))
    v2 = _run(service.save_version("movie-critic", "Review {movie} in {words} words."))
    v3 = _run(service.save_version("movie-critic", "Review {movie} harshly."))
    other = _run(service.save_version("linux-terminal", "Act as a Linux terminal."))
    _run(service.set_label("movie-critic", "production", version=2))
    _run(service.set_label("movie-critic", "staging", version=3))
    _run(service.set_label("linux-terminal", "production"))
    _run(service.rate(v2["prompt_id"], 5, "crisp", "cli"))
    _run(service.rate(v2["prompt_id"], 3, None, "cli"))
    return v1, v2, v3, other


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_a_round_trip_keeps_names_versions_labels_and_ratings(backend, service, second_library, tmp_path, fmt):
    v1, v2, v3, other = _seed(service)
    path = tmp_path / f"library.{fmt}"
    assert _run(service.export_prompts(path)) == 4
    rows = json.loads(path.read_text()) if fmt == "json" else [json.loads(x) for x in path.read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert (by_id[v2["prompt_id"]]["name"], by_id[v2["prompt_id"]]["version"]) == ("movie-critic", 2)
    assert sorted(r["rating"] for r in by_id[v2["prompt_id"]]["ratings"]) == [3, 5]

    target = second_library()
    _run(target.save_version("unrelated", "Something else."))
    report = _run(target.import_prompts(path))
    assert report.imported == 4 and not report.errors, report
    assert _run(target.names_for([v1["prompt_id"], v2["prompt_id"], v3["prompt_id"], other["prompt_id"]])) == {
        v1["prompt_id"]: ("movie-critic", 1),
        v2["prompt_id"]: ("movie-critic", 2),
        v3["prompt_id"]: ("movie-critic", 3),
        other["prompt_id"]: ("linux-terminal", 1),
    }
    assert _run(target.resolve_id("movie-critic@production")) == v2["prompt_id"]
    assert _run(target.resolve_id("movie-critic@staging")) == v3["prompt_id"]
    assert _run(target.resolve_id("linux-terminal@production")) == other["prompt_id"]
    ratings = _run(target.list_feedback(v2["prompt_id"], kind="rating", limit=10))
    assert sorted((f.rating, f.comment) for f in ratings) == [(3, None), (5, "crisp")]

    again = _run(target.import_prompts(path))  # the same file again: nothing doubles
    assert again.duplicates == 4
    assert len(_run(target.list_feedback(v2["prompt_id"], kind="rating", limit=10))) == 2


def test_a_version_taken_in_the_target_becomes_the_next_one(backend, service, second_library, tmp_path):
    _, v2, _, _ = _seed(service)
    path = tmp_path / "library.jsonl"
    _run(service.export_prompts(path))
    line = next(x for x in path.read_text().splitlines() if json.loads(x)["id"] == v2["prompt_id"])
    one = tmp_path / "one.jsonl"
    one.write_text(line + "\n")

    target = second_library()
    mine = [_run(target.save_version("movie-critic", f"Mine {i}.")) for i in (1, 2)]
    report = _run(target.import_prompts(one))
    assert report.imported == 1
    assert any("movie-critic@2 is another prompt here; imported as movie-critic@3" in w for w in report.warnings)
    assert _run(target.names_for([v2["prompt_id"]]))[v2["prompt_id"]] == ("movie-critic", 3)
    assert _run(target.resolve_id("movie-critic@2")) == mine[1]["prompt_id"]
    assert _run(target.resolve_id("movie-critic@production")) == v2["prompt_id"]  # the label stays on its name


def test_bad_name_fields_are_one_error_per_row_and_nothing_written(service, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"content": "A", "version": 2},
                {"content": "B", "name": "x", "version": 0},
                {"content": "C", "name": "x", "version": True},
                {"content": "D", "name": 5},
                {"content": "E", "ratings": [{"rating": 9}]},
                {"content": "F", "ratings": "five"},
            ]
        )
        + "\n"
    )
    report = _run(service.import_prompts(path))
    assert report.imported == 0 and report.failed == 6
    assert [e.split(": ", 1)[1][:25] for e in report.errors] == [
        "'version' needs a 'name'",
        "'version' must be a whole",
        "'version' must be a whole",
        "'name' must be text",
        "invalid ratings.rating: I",
        "'ratings' must be a list ",
    ]


def test_markdown_export_and_show_name_the_version(service, cli, tmp_path):
    _, v2, _, _ = _seed(service)
    _run(service.aclose())
    md = tmp_path / "library.md"
    done = cli("export", str(md))
    assert done.returncode == 0, done.stderr
    text = md.read_text()
    assert f"`{v2['prompt_id']}` · `movie-critic@2`" in text
    assert "labels: production" in text and "rated 4.0 (2)" in text
    shown = cli("show", "movie-critic@production")
    assert shown.returncode == 0, shown.stderr
    lines = [line.split() for line in shown.stdout.splitlines()]
    assert ["name", "movie-critic"] in lines and ["version", "2"] in lines, shown.stdout
    as_json = json.loads(cli("show", "movie-critic@staging", "-o", "json").stdout)
    assert (as_json["prompt"]["name"], as_json["prompt"]["version"]) == ("movie-critic", 3)
