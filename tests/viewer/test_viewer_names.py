"""Named prompts in the viewer, over real HTTP against a real `prompt-alchemy view` process: a prompt page names its
version, the name's other versions and its labels; an unprotected label moves to this version through the guarded
PUT; a protected one is refused (403) and stays; moves need the page's Origin and CSRF header like any write."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from testkit import CLI, ROOT, SCRIPTED
from viewer_kit import error_of, start_viewer


def _cli(home, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
    env.update(SCRIPTED, PROMPT_ALCHEMY_HOME=str(home))
    done = subprocess.run(CLI + list(args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    home = tmp_path_factory.mktemp("viewer-names")
    for text in ("Review {movie}.", "Review {movie} in {words} words.", "Review {movie} harshly."):
        _cli(home, "save", "movie-critic", text)
    _cli(home, "label", "set", "movie-critic", "production", "1")
    _cli(home, "label", "set", "movie-critic", "staging", "2")
    running = start_viewer(home)  # the kit labels its own seed row production first
    viewer = next(running)
    _cli(home, "label", "protect", "production")
    yield viewer
    running.close()


def _ids(viewer) -> dict[int, str]:
    search = viewer.get("/api/search?limit=100")["results"]
    first = next(r for r in search if r["content"] == "Review {movie}.")
    return {v["version"]: v["prompt_id"] for v in viewer.get(f"/api/prompts/{first['id']}")["named"]["versions"]}


def test_the_prompt_page_names_its_version_the_other_versions_and_the_labels(named):
    ids = _ids(named)
    page = named.get(f"/api/prompts/{ids[3]}")["named"]
    assert (page["name"], page["version"], page["latest"]) == ("movie-critic", 3, 3)
    assert [v["version"] for v in page["versions"]] == [1, 2, 3]
    assert {(lb["name"], lb["version"], lb["protected"]) for lb in page["labels"]} == {
        ("production", 1, True),
        ("staging", 2, False),
    }
    assert named.get(f"/api/prompts/{ids[1]}")["named"]["version"] == 1
    unnamed = named.get("/api/prompts/bbbb0001-other")  # seeded by the kit, never labelled: no name
    assert unnamed["named"] is None


def test_staging_moves_to_this_version_and_production_cannot(named):
    ids = _ids(named)
    with named.client() as client:
        moved = client.put("/api/names/movie-critic/labels/staging", json={"version": 3})
        assert moved.status_code == 200, moved.text
        assert (moved.json()["previous_version"], moved.json()["version"]) == (2, 3)
        refused = client.put("/api/names/movie-critic/labels/production", json={"version": 3})
        assert error_of(refused, 403)["code"] == "forbidden" and "protected" in refused.json()["error"]["message"]
        bad = client.put("/api/names/movie-critic/labels/staging", json={"version": "3"})
        assert error_of(bad, 422)["code"] == "invalid_field"
    labels = {lb["name"]: lb["version"] for lb in named.get(f"/api/prompts/{ids[3]}")["named"]["labels"]}
    assert labels == {"production": 1, "staging": 3}
    history = named.get("/api/labels")["history"]
    assert history[0]["name"] == "staging" and history[0]["source"] == "viewer"


def test_a_move_without_the_pages_headers_is_refused_and_changes_nothing(named):
    ids = _ids(named)
    before = named.get(f"/api/prompts/{ids[1]}")["named"]["labels"]
    with httpx.Client(base_url=named.origin, timeout=60) as client:
        no_csrf = client.put(
            "/api/names/movie-critic/labels/staging", json={"version": 1}, headers={"Origin": named.origin}
        )
        error_of(no_csrf, 403)
        form = client.put(
            "/api/names/movie-critic/labels/staging",
            content=b"version=1",
            headers={
                "Origin": named.origin,
                "X-Prompt-Alchemy": "1",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        error_of(form, 415)
        crafted = client.put(
            "/api/names/movie-critic/labels/sta%2F..%2Fging",
            json={"version": 1},
            headers={"Origin": named.origin, "X-Prompt-Alchemy": "1"},
        )
        assert crafted.status_code in (400, 404), crafted.text
    assert named.get(f"/api/prompts/{ids[1]}")["named"]["labels"] == before


def test_removing_a_label_of_a_name(named):
    with named.client() as client:
        assert client.put("/api/names/movie-critic/labels/review", json={}).status_code == 200
        gone = client.delete("/api/names/movie-critic/labels/review")
        assert gone.status_code == 200 and gone.json()["prompt_name"] == "movie-critic"
        assert error_of(client.delete("/api/names/movie-critic/labels/review"), 404)["code"] == "not_found"
        assert error_of(client.delete("/api/names/movie-critic/labels/production"), 403)["code"] == "forbidden"
