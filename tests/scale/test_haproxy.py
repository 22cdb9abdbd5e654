"""Three replicas (`serve --role all`: the API and a job worker each) behind Debian's HAProxy on 127.0.0.1, all on
one PostgreSQL, the scripted provider. Clients send REST reads, generates and async generates (jobs) through
HAProxy while one replica is killed with SIGKILL, or while every replica is restarted in turn. Nothing accepted is
lost: every 200 generate is stored, every 202 job ends `succeeded`, and no request fails, because HAProxy sends a
request whose replica is gone (refused, or reset before answering) to another one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest
from scalekit import HAProxy, Replica, shared_env

pytest.importorskip("procrastinate")

CLIENTS = 4
#: seconds without a heartbeat before a killed replica's running job items go back on the queue (default 10)
STALLED_AFTER = 3


@pytest.fixture(scope="module")
def library_url(pg_server):
    """One migrated PostgreSQL database for the module's cluster (the tests add to it; each checks its own)."""
    import psycopg
    from pg_testkit import _TEMPLATE

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE haproxy_library TEMPLATE {_TEMPLATE}")
    yield pg_server.get_uri("haproxy_library")
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS haproxy_library WITH (FORCE)")


@pytest.fixture(scope="module")
def replicas_and_proxy(tmp_path_factory, library_url, haproxy_binary):
    """Three replicas behind HAProxy, started once for the module (their start-ups overlap)."""
    root = tmp_path_factory.mktemp("haproxy")
    env = shared_env(library_url, latency=0.05, stalled_after=STALLED_AFTER)
    replicas = Replica.many([root / f"r{i}" for i in range(3)], env)
    proxy = HAProxy(haproxy_binary, root / "haproxy", [r.port for r in replicas])
    yield replicas, proxy
    proxy.stop()
    Replica.stop_all(replicas)


@pytest.fixture
def cluster(replicas_and_proxy):
    """The module's cluster with every replica running and in HAProxy's rotation (a test before may have killed
    one)."""
    replicas, proxy = replicas_and_proxy
    for i, replica in enumerate(replicas):
        if replica.proc is None or replica.proc.poll() is not None:
            replica.start()
        proxy.wait_up(f"r{i}")
    return replicas, proxy


def drive(url: str, stop: threading.Event, results: list[tuple[str, int, dict]], tag: str) -> None:
    """One client: a read, a generate, an async generate, again, until `stop`; every answer recorded."""
    n = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            n += 1
            idea = f"{tag}-{n}: a checklist for reviewing a pull request"
            calls: list[tuple[str, Callable[[], httpx.Response]]] = [
                ("read", lambda: client.get("/api/v1/prompts", params={"limit": 5})),
                ("generate", lambda i=idea: client.post("/api/v1/generate", json={"idea": i, "count": 1})),
                (
                    "job",
                    lambda i=idea: client.post(
                        "/api/v1/generate", json={"idea": i + " (job)", "count": 1}, headers={"Prefer": "respond-async"}
                    ),
                ),
            ]
            for kind, call in calls:
                try:
                    answer = call()
                except httpx.HTTPError as exc:
                    results.append((kind, 0, {"error": repr(exc)}))
                    continue
                try:
                    body = answer.json()
                except ValueError:  # HAProxy's own error page, say
                    body = {"text": answer.text[:200]}
                results.append((kind, answer.status_code, body))


def run_load(url: str, during: Callable[[], None], settle: float = 1.0) -> list[tuple[str, int, dict]]:
    results: list[tuple[str, int, dict]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=drive, args=(url, stop, results, f"c{i}")) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        time.sleep(settle)
        during()
        time.sleep(settle)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    return results


def check_nothing_lost(
    proxy: HAProxy, postgres_url: str, results: list[tuple[str, int, dict]], *, cut_off: int = 0
) -> None:
    """Every accepted request kept: each 200 generate stored, each 202 job succeeded. At most `cut_off` requests
    may have failed, each with HAProxy's 502 or a closed connection: those in flight on a killed replica (never
    accepted, so nothing to lose; retrying them could store a generate twice)."""
    import psycopg

    url = proxy.url
    failed = [(kind, code, body) for kind, code, body in results if code not in (200, 202)]
    refused = [line for line in proxy.log.read_text().splitlines() if " 200 " not in line and " 202 " not in line]
    assert len(failed) <= cut_off and all(code in (0, 502) for _, code, _ in failed), (failed[:5], refused[-10:])
    generated = [body for kind, code, body in results if kind == "generate" and code == 200]
    jobs = [body["job"] for kind, code, body in results if kind == "job" and code == 202]
    assert generated and jobs
    with psycopg.connect(postgres_url) as conn:
        sessions = {row[0] for row in conn.execute("SELECT DISTINCT session_id FROM prompts")}
    assert {body["session_id"] for body in generated} <= sessions  # every answered generate is stored
    deadline = time.monotonic() + 180
    with httpx.Client(base_url=url, timeout=30) as client:
        pending = set(jobs)
        while pending and time.monotonic() < deadline:
            for job in list(pending):
                status = client.get(f"/api/v1/jobs/{job}").json()["status"]
                assert status not in ("failed", "cancelled"), (job, status)
                if status == "succeeded":
                    pending.discard(job)
            time.sleep(0.1)
    assert not pending, f"jobs not finished: {sorted(pending)}"


def test_killing_a_replica_mid_run_loses_no_accepted_request_or_job(cluster, library_url):
    replicas, proxy = cluster
    results = run_load(proxy.url, replicas[0].kill)
    assert replicas[0].proc.returncode == -9
    check_nothing_lost(proxy, library_url, results, cut_off=CLIENTS)  # one request in flight per client at most


def test_a_rolling_restart_drops_no_request(cluster, library_url):
    replicas, proxy = cluster

    def restart_each() -> None:
        for i, replica in enumerate(replicas):
            replica.stop()  # SIGTERM: stops accepting, finishes what it holds
            time.sleep(0.5)  # requests meanwhile meet a refused port: HAProxy retries them elsewhere
            replica.start()
            proxy.wait_up(f"r{i}")  # back in HAProxy's rotation before the next one goes

    results = run_load(proxy.url, restart_each)
    assert all(r.proc.poll() is None for r in replicas)
    check_nothing_lost(proxy, library_url, results)
