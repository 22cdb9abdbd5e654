"""Projects over REST against a real server process: keys of two projects cannot see or change each other's
prompts, a read key cannot write, and the CLI (the local user) sees both projects with no setup."""

from __future__ import annotations

import json

import pytest
from testkit import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("teams"), {"PROMPT_ALCHEMY_SERVER__REQUIRE_AUTH": "true"})
    yield server
    server.stop()


def project_key(server: Server, project: str, name: str, scope: str) -> str:
    proc = server.cli("projects", "key", project, "--name", name, "--scope", scope, "--output", "json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["project_id"] == project and "secret_hash" not in row
    return row["key"]


def _import(client, *contents: str) -> None:
    body = "\n".join(json.dumps({"content": c}) for c in contents)
    r = client.post("/api/v1/import", json={"format": "jsonl", "content": body})
    assert r.status_code == 200 and r.json()["imported"] == len(contents), r.text


def test_two_projects_are_isolated_over_rest(server):
    assert server.cli("projects", "create", "team-b").returncode == 0
    a = server.client(project_key(server, "default", "a-writer", "write"))
    b = server.client(project_key(server, "team-b", "b-writer", "write"))
    b_read = server.client(project_key(server, "team-b", "b-reader", "read"))
    _import(a, "Summarise the quarterly sales memo for the board.", "Write a haiku about green tea.")
    _import(b, "Draft a polite reminder about the unpaid sales invoice.")

    a_ids = [p["id"] for p in a.get("/api/v1/prompts").json()["prompts"]]
    b_list = b.get("/api/v1/prompts").json()
    assert len(a_ids) == 2 and b_list["total"] == 1
    b_id = b_list["prompts"][0]["id"]
    assert b_list["prompts"][0]["project_id"] == "team-b" and b_list["prompts"][0]["created_by"] == "b-writer"

    for other in a_ids:  # team-b cannot read, edit, rate, label or delete team default's prompts
        assert b.get(f"/api/v1/prompts/{other}").status_code == 404
        assert b.get(f"/api/v1/prompts/{other[:8]}").status_code == 404
        assert b.patch(f"/api/v1/prompts/{other}", json={"tags": ["stolen"]}).status_code == 404
        rated = b.post(f"/api/v1/prompts/{other}/ratings", json={"score": 1})  # as for an id that does not exist
        assert rated.status_code == 400 and "no prompt" in rated.json()["error"]["message"], rated.text
        assert b.delete(f"/api/v1/prompts/{other}").status_code == 404
    assert a.get(f"/api/v1/prompts/{b_id}").status_code == 404
    hits = b.get("/api/v1/search", params={"q": "sales", "mode": "text"}).json()["results"]
    assert [h["prompt"]["id"] if "prompt" in h else h["id"] for h in hits] == [b_id]
    exported = b.get("/api/v1/export", params={"format": "jsonl"})
    assert exported.headers["x-prompt-count"] == "1" and "quarterly" not in exported.text
    assert len(a.get("/api/v1/prompts").json()["prompts"]) == 2  # nothing of default's changed
    assert a.get("/api/v1/feedback").json()["count"] == 0
    assert (
        a.post(f"/api/v1/prompts/{a_ids[0]}/ratings", json={"score": 4, "comment": "default's note"}).status_code == 201
    )
    assert b.post(f"/api/v1/prompts/{b_id}/ratings", json={"score": 2}).status_code == 201
    b_feedback = b.get("/api/v1/feedback").json()  # ratings of another project's prompts are not listed
    assert [f["prompt_id"] for f in b_feedback["feedback"]] == [b_id] and "default's note" not in json.dumps(b_feedback)
    assert a.get("/api/v1/feedback").json()["count"] == 1
    assert all("stolen" not in p["tags"] for p in a.get("/api/v1/prompts").json()["prompts"])

    # a read key of team-b reads its project and cannot write; a key cannot act in another project
    assert b_read.get(f"/api/v1/prompts/{b_id}").status_code == 200
    refused = b_read.post("/api/v1/import", json={"format": "jsonl", "content": json.dumps({"content": "x y z"})})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    other_project = b.get("/api/v1/prompts", headers={"X-Project": "default"})
    assert other_project.status_code == 403 and "team-b" in other_project.json()["error"]["message"]

    # the CLI, the local user, sees every project with nothing set up
    listed = server.cli("list", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    rows = rows["prompts"] if isinstance(rows, dict) else rows
    assert {r["id"] for r in rows} == {*a_ids, b_id}
    projects = json.loads(server.cli("projects", "list", "--output", "json").stdout)
    assert {p["id"]: p["prompts"] for p in projects} == {"default": 2, "team-b": 1}
