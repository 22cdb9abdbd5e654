"""The real CLI in another project: `--project` (or PROMPT_ALCHEMY_PROJECT) makes save, label, use and show work
with that project's names and labels, beside the default project's of the same name; an unknown project is one
`error:` line, exit 2, and nothing changed. SQLite here; test_project_copy.py runs the same service path
(PeopleService.work_in) on PostgreSQL too."""

from __future__ import annotations

import pytest
from testkit import parse_json

pytestmark = pytest.mark.e2e


def test_the_cli_works_in_another_project(cli, home):
    unknown = cli("save", "critic", "Review {movie}.", "--project", "team-a")
    assert unknown.returncode == 2, unknown.stderr
    assert unknown.stderr.startswith("error: no project 'team-a'") and len(unknown.stderr.strip().splitlines()) == 1
    assert not any(home.rglob("*.db"))  # not even a library

    assert cli("projects", "create", "team-a").returncode == 0
    assert cli("save", "critic", "Review {movie} for the default project.").returncode == 0
    team = {"PROMPT_ALCHEMY_PROJECT": "team-a"}
    saved = parse_json(cli("save", "critic", "Review {movie} for team A.", "-l", "production", "-o", "json", env=team))
    assert (saved["name"], saved["version"]) == ("critic", 1)  # version 1 of team-a's own name
    assert cli("label", "protect", "production", "--project", "team-a").returncode == 0

    used = parse_json(cli("use", "critic@production", "-p", "movie", "Up", "--project", "team-a", "-o", "json"))
    assert used["text"] == "Review Up for team A." and used["id"] == saved["prompt_id"]
    assert cli("use", "critic", "-p", "movie", "Up").stdout.strip() == "Review Up for the default project."
    shown = parse_json(cli("show", "critic", "--project", "team-a", "-o", "json"))
    assert (shown["prompt"]["project_id"], shown["labels"]) == ("team-a", ["production"])
    labels = parse_json(cli("label", "list", "-o", "json", env=team))["labels"]
    assert [(lb["prompt_name"], lb["name"], lb["protected"]) for lb in labels] == [("critic", "production", True)]
    assert parse_json(cli("label", "list", "-o", "json"))["labels"] == []  # the default project's

    before = parse_json(cli("list", "-o", "json"))["total"]
    bad = cli("label", "set", "critic", "staging", "--project", "nowhere")
    assert bad.returncode == 2 and bad.stderr.startswith("error: no project 'nowhere'")
    invalid = cli("use", "critic", "--project", "Team A")
    assert invalid.returncode == 2 and invalid.stderr.startswith("error:")
    assert parse_json(cli("list", "-o", "json"))["total"] == before == 2
