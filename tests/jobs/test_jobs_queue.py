"""Jobs on the PostgreSQL queue, with real processes: an API server (`serve --role api`) and worker processes
(`serve --role worker`) on one real PostgreSQL (pgserver), the scripted provider, real HTTP.

The batch test is the one that matters: 300 items submitted through REST, three workers, one killed with SIGKILL
while it runs items. Every item must be stored exactly once (one session of 3 prompts per idea, no idea twice)
and `jobs show` must report the job succeeded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from testkit import SCRIPT, SCRIPTED

pytest.importorskip("procrastinate")

#: seconds each provider call takes: long enough that a killed worker dies holding items
LATENCY = "0.06"
#: a killed worker's items go back on the queue after this many seconds without its heartbeat (default 10)
STALLED_AFTER = "3"


class Proc:
    """One `prompt-alchemy serve` process in its own home, logging to a file."""

    def __init__(self, home: Path, url: str, *args: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "serve.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
        self.env.update(
            SCRIPTED,
            PROMPT_ALCHEMY_HOME=str(home),
            PROMPT_ALCHEMY_DATABASE_URL=url,
            PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY=LATENCY,
            PROMPT_ALCHEMY_GENERATION__EMBEDDING_PROVIDER="scripted",
            PROMPT_ALCHEMY_LEARNING__ENABLED="false",
            PROMPT_ALCHEMY_SERVER__WORKER_STALLED_AFTER=STALLED_AFTER,
        )
        self.proc = subprocess.Popen(
            [str(SCRIPT), "serve", *args, "--log-file", str(self.log)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
            if match := re.search(pattern, text):
                return match
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.proc.stderr.read()}\n{text}")
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in {self.log}")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cluster(tmp_path, postgres_url):
    """`cluster(name, *args, ready=PATTERN)` starts a process and returns it once its log shows PATTERN;
    `cluster.many([(name, args, ready), ...])` starts several at once and waits for them all."""
    procs: list[Proc] = []

    def launch(name: str, *args: str) -> Proc:
        procs.append(Proc(tmp_path / name, postgres_url, *args))
        return procs[-1]

    def start(name: str, *args: str, ready: str) -> Proc:
        proc = launch(name, *args)
        proc.wait_for(ready)
        return proc

    def many(specs: list[tuple[str, tuple[str, ...], str]]) -> list[Proc]:
        started = [(launch(name, *args), ready) for name, args, ready in specs]
        for proc, ready in started:
            proc.wait_for(ready)
        return [proc for proc, _ in started]

    start.many = many  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        proc.stop()


API_ARGS = ("--role", "api", "--transport", "http", "--host", "127.0.0.1", "--port", "0")
API_READY = r"listening on http://127\.0\.0\.1:\d+/mcp"
WORKER_ARGS = ("--role", "worker", "--concurrency", "2")
WORKER_READY = r"job worker \S+: 2 item"


def api_client(api: Proc) -> httpx.Client:
    url = api.wait_for(r"listening on (http://127\.0\.0\.1:\d+)/mcp").group(1)
    return httpx.Client(base_url=url, timeout=60)


def start_api(cluster) -> tuple[Proc, httpx.Client]:
    api = cluster("api", *API_ARGS, ready=API_READY)
    return api, api_client(api)


def start_worker(cluster, name: str) -> Proc:
    return cluster(name, *WORKER_ARGS, ready=WORKER_READY)


def wait_job(client: httpx.Client, job: int, until, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get(f"/api/v1/jobs/{job}").json()
        if until(info):
            return info
        time.sleep(0.1)
    raise AssertionError(f"job {job} still {info['status']} {info['progress']}")


def stored_sessions(url: str) -> tuple[int, dict[str, int], dict[str, int]]:
    """(prompts, prompts per session, sessions per idea) straight from the library's tables."""
    import psycopg

    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0]
        per_session = dict(conn.execute("SELECT session_id, COUNT(*) FROM prompts GROUP BY session_id").fetchall())
        per_idea = dict(
            conn.execute(
                "SELECT original_input, COUNT(DISTINCT session_id) FROM prompts " "GROUP BY original_input"
            ).fetchall()
        )
    return total, per_session, per_idea


def queued_in_procrastinate(url: str, job: int) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'todo' AND (args->>'job_id')::bigint = %s", (job,)
        ).fetchone()[0]


def test_batch_of_300_over_rest_survives_a_killed_worker(cluster, postgres_url):
    api, *workers = cluster.many(
        [("api", API_ARGS, API_READY)] + [(f"worker{i}", WORKER_ARGS, WORKER_READY) for i in range(3)]
    )
    client = api_client(api)
    ideas = [f"write a short poem about the number {i} for a child" for i in range(300)]
    answer = client.post(
        "/api/v1/batch",
        json={"items": [{"idea": idea} for idea in ideas], "defaults": {"count": 1, "provider": "scripted"}},
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()["job"]
    assert answer.headers["location"] == f"/api/v1/jobs/{job}"
    assert answer.json()["progress"]["total"] == 300

    # kill one worker with SIGKILL once the batch is well under way and that worker is holding items
    wait_job(client, job, lambda i: i["progress"]["done"] >= 60)
    victim = workers[0]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    killed_at = client.get(f"/api/v1/jobs/{job}").json()["progress"]["done"]
    assert killed_at < 300, "the batch finished before the worker was killed: nothing was tested"

    info = wait_job(client, job, lambda i: i["status"] in ("succeeded", "failed", "cancelled"))
    assert info["status"] == "succeeded", info
    assert info["progress"] == {"done": 300, "total": 300, "succeeded": 300, "failed": 0, "running": 0}

    total, per_session, per_idea = stored_sessions(postgres_url)
    assert set(per_idea) == set(ideas)
    assert all(n == 1 for n in per_idea.values()), {k: v for k, v in per_idea.items() if v != 1}
    assert len(per_session) == 300 and set(per_session.values()) == {3}  # 3 phases x 1 variant, once
    assert total == 900

    shown = api.cli("jobs", "show", str(job), "--items", "--output", "json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["status"] == "succeeded" and data["result"]["generated"] == 300
    retried = [item for item in data["items"] if item["attempts"] > 1]
    assert retried, "no item was run again after the kill: the killed worker held none"
    # every item's result names the session that holds its prompts
    assert {item["result"]["session_id"] for item in data["items"]} == set(per_session)
    survivors = "".join(w.log.read_text() for w in workers[1:])
    assert "back on the queue" in survivors


def test_cancel_then_retry_and_async_generate(cluster, postgres_url):
    api, client = start_api(cluster)
    ideas = [{"idea": f"explain topic number {i} to a new engineer"} for i in range(20)]
    answer = client.post("/api/v1/batch", json={"items": ideas, "defaults": {"count": 1}})
    assert answer.status_code == 202
    job = answer.json()["job"]
    assert answer.json()["status"] == "queued"  # no worker yet: nothing runs

    cancelled = client.post(f"/api/v1/jobs/{job}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job}/cancel")
    assert again.status_code == 409

    assert queued_in_procrastinate(postgres_url, job) == 0  # the cancelled items left the queue: none runs
    assert client.get(f"/api/v1/jobs/{job}").json()["progress"]["done"] == 0

    # bad options of an async command are refused at submit, as the synchronous call refuses them: no job
    refused = client.post("/api/v1/learning/train", json={}, headers={"Prefer": "respond-async"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_input", refused.text
    assert "learning is disabled" in refused.json()["error"]["message"]

    worker = start_worker(cluster, "worker")
    assert stored_sessions(postgres_url)[0] == 0

    retried = api.cli("jobs", "retry", str(job), "--output", "json")
    assert retried.returncode == 0, retried.stderr
    info = wait_job(client, job, lambda i: i["status"] in ("succeeded", "failed", "cancelled"))
    assert info["status"] == "succeeded" and info["progress"]["done"] == 20
    assert stored_sessions(postgres_url)[0] == 60

    generate = client.post(
        "/api/v1/generate", json={"idea": "a haiku about queues", "count": 2}, headers={"Prefer": "respond-async"}
    )
    assert generate.status_code == 202 and generate.headers["preference-applied"] == "respond-async"
    done = wait_job(client, generate.json()["job"], lambda i: i["status"] in ("succeeded", "failed"))
    assert done["kind"] == "generate" and done["status"] == "succeeded"
    assert len(done["result"]["prompt_ids"]) == 6

    listed = api.cli("jobs", "list", "--output", "json")
    assert {j["job"] for j in json.loads(listed.stdout)["jobs"]} == {job, generate.json()["job"]}
    assert client.get("/api/v1/jobs/999999").status_code == 404
    metrics = client.get("/metrics").text
    assert re.search(r"^prompt_alchemy_job_queue_depth 0(\.0)?$", metrics, re.M), metrics[-2000:]
    worker.stop()
