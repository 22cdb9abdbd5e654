"""Helpers for the viewer's tests: a real `prompt-alchemy view` process on 127.0.0.1 (scripted providers) over a
small seeded library, a client that writes the way the viewer's own page does, and the error-shape check."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
from testkit import CLI, ROOT, SCRIPTED

#: A prompt, another one, and an imported id built to walk out of `/api/prompts/<id>/rate` into another prompt's
#: rate route when a page puts it unencoded into a fetch path.
TARGET = "aaaa0001-release"
OTHER = "bbbb0001-other"
CRAFTED = "cccc0001/../bbbb0001-other/rate?"
SCRATCH = "dddd0001-scratch"  # the tests' own accepted writes go here; TARGET and OTHER stay unrated
ROWS = [
    {"id": TARGET, "title": "Release notes writer", "content": "Write release notes for {product}."},
    {"id": OTHER, "title": "Meal planner", "content": "Plan a week of vegetarian dinners for {people}."},
    {"id": CRAFTED, "title": "Crafted id", "content": "An imported prompt whose id holds a path."},
    {"id": SCRATCH, "title": "Scratch", "content": "A prompt the tests may rate."},
]


@dataclass
class Viewer:
    url: str
    port: int
    proc: subprocess.Popen

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")

    def client(self) -> httpx.Client:
        """A client that sends what the viewer's page sends on a write: its Origin and the CSRF header."""
        return httpx.Client(base_url=self.origin, timeout=60, headers={"Origin": self.origin, "X-Prompt-Alchemy": "1"})

    def get(self, path: str) -> dict:
        with httpx.Client(base_url=self.origin, timeout=60) as client:
            response = client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    def ratings(self, ref: str) -> list[dict]:
        return self.get(f"/api/prompts/{ref}")["feedback"]

    def prompt_ids(self) -> set[str]:
        return {r["id"] for r in self.get("/api/search?limit=100")["results"]}


def start_viewer(home: Path):
    """Seed a library in `home`, start the viewer on a free port; yields a Viewer, stops the process after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
    env.update(SCRIPTED, PROMPT_ALCHEMY_HOME=str(home))
    seed = home / "seed.jsonl"
    seed.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    for args in (["import", str(seed), "-o", "json"], ["label", "set", TARGET, "production"]):
        done = subprocess.run(CLI + args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(
        CLI + ["view", "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Prompt Alchemy viewer: http://127.0.0.1:"), (
            line,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        url = line.split(": ", 1)[1].strip()
        yield Viewer(url=url, port=int(url.rstrip("/").rsplit(":", 1)[1]), proc=proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def error_of(response: httpx.Response, status: int) -> dict:
    """The body of a refusal: `status`, JSON, the REST API's error shape; its `error` object."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], dict), body
    assert set(body["error"]) == {"code", "message", "request_id"}, body
    assert body["error"]["message"] and body["error"]["request_id"], body
    assert response.headers["x-request-id"] == body["error"]["request_id"]
    return body["error"]
