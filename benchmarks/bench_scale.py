"""Scale-out figures in one run, all on 127.0.0.1 (Debian's redis-server and haproxy, PostgreSQL 16 from pgserver):

- `cache`: a cached answer read and a rate-limit check, on Redis (`cache.url`) against PostgreSQL (the default
  with a PostgreSQL library): per call, p50/p99 in microseconds, sequential, from this process;
- `baseline`: one replica (`serve --role all`) hit directly, no HAProxy, generates answered in the request (no
  queue): REST reads and generates from CLIENTS concurrent clients for SECONDS, requests/s and p50/p99 in ms;
- `replicas`: 1, 2 and 3 replicas (`--role all`: API and job worker each) behind HAProxy: the same REST mix through
  HAProxy (requests/s, p50/p99), and JOBS async generates (`Prefer: respond-async`) through HAProxy, run by the
  replicas' workers (2 at a time each): jobs/s from the first submit to the last `succeeded`.

The provider is the scripted one with LATENCY seconds per call (3 calls per generate), so a worker's throughput is
bounded by its job slots, not by the cores. The REST mix is CPU-bound here (2 shared cores): more replicas cannot
add cores. Timings are noisy when other work runs on the machine. Prints one JSON object.

    .venv/bin/python benchmarks/bench_scale.py      # about 3 minutes; BENCH_SECONDS, BENCH_JOBS, BENCH_CALLS
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))

from scalekit import HAProxy, RedisServer, Replica, find_binary, shared_env  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
JOBS = int(os.environ.get("BENCH_JOBS", "40"))
CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
CLIENTS = 8
LATENCY = 0.1


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timed(fn, n: int) -> dict:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return {
        "p50_us": round(_pct(samples, 50) * 1e6, 1),
        "p99_us": round(_pct(samples, 99) * 1e6, 1),
        "mean_us": round(statistics.fmean(samples) * 1e6, 1),
    }


def cache_figures(redis_url: str, pg_url: str) -> dict:
    from prompt_alchemy.storage.postgres import PostgresStore
    from prompt_alchemy.storage.redis_cache import RedisCache

    out: dict = {}
    payload = json.dumps({"text": "x" * 1500, "provider": "openai", "model": "m"})
    now = time.time()
    for name, backing in (("postgresql", PostgresStore(pg_url)), ("redis", RedisCache(redis_url))):
        backing.cache_response("bench-key", "openai", "m", payload, now, now + 3600)
        assert backing.cached_response("bench-key", now) is not None
        out[name] = {
            "cached_answer": _timed(lambda b=backing: b.cached_response("bench-key", time.time()), CALLS),
            "rate_check": _timed(lambda b=backing: b.count_request("bench", 10**9, window=60.0), CALLS),
        }
        backing.close()
    return out


def rest_mix(url: str) -> dict:
    """CLIENTS clients, each alternating a read and a generate, for SECONDS."""
    import httpx

    samples: list[float] = []
    errors = [0]
    stop = threading.Event()

    def client(i: int) -> None:
        n = 0
        with httpx.Client(base_url=url, timeout=60) as c:
            while not stop.is_set():
                n += 1
                for call in (
                    lambda: c.get("/api/v1/prompts", params={"limit": 5}),
                    lambda k=n: c.post("/api/v1/generate", json={"idea": f"c{i}-{k} a release checklist", "count": 1}),
                ):
                    t0 = time.perf_counter()
                    code = call().status_code
                    samples.append(time.perf_counter() - t0)
                    errors[0] += code != 200

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "requests_per_s": round(len(samples) / elapsed, 1),
        "p50_ms": round(_pct(samples, 50) * 1e3, 1),
        "p99_ms": round(_pct(samples, 99) * 1e3, 1),
        "requests": len(samples),
        "errors": errors[0],
    }


def job_throughput(url: str) -> dict:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as c:
        t0 = time.perf_counter()
        jobs = [
            c.post(
                "/api/v1/generate",
                json={"idea": f"job {i} {t0} an onboarding plan", "count": 1},
                headers={"Prefer": "respond-async"},
            ).json()["job"]
            for i in range(JOBS)
        ]
        pending = set(jobs)
        while pending and time.perf_counter() - t0 < 300:
            for job in list(pending):
                if c.get(f"/api/v1/jobs/{job}").json()["status"] in ("succeeded", "failed", "cancelled"):
                    pending.discard(job)
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
    return {"jobs_per_s": round(JOBS / elapsed, 2), "seconds": round(elapsed, 2), "unfinished": len(pending)}


def fresh_database(server, name: str) -> str:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.get_uri(name)


def main() -> None:
    import pgserver

    redis_bin, haproxy_bin = find_binary("redis-server"), find_binary("haproxy")
    if redis_bin is None or haproxy_bin is None:
        print(json.dumps({"error": "redis-server or haproxy missing (bash scripts/test-services.sh as root)"}))
        sys.exit(2)
    root = Path(tempfile.mkdtemp(prefix="pa-scale-"))
    pg = pgserver.get_server(root / "pg", cleanup_mode="delete")
    redis = RedisServer(redis_bin, root / "redis")
    report: dict = {
        "clients": CLIENTS,
        "seconds": SECONDS,
        "scripted_latency_s": LATENCY,
        "jobs": JOBS,
        "cores": os.cpu_count(),
    }
    try:
        report["cache"] = cache_figures(redis.url, fresh_database(pg, "cachebench"))
        env = shared_env(fresh_database(pg, "baseline"), latency=LATENCY)
        one = Replica(root / "baseline", env)
        try:
            report["baseline_one_replica_direct_no_queue"] = rest_mix(one.url)
        finally:
            one.stop()
        report["replicas"] = {}
        for n in (1, 2, 3):
            env = shared_env(fresh_database(pg, f"scale{n}"), latency=LATENCY)
            replicas = [Replica(root / f"n{n}r{i}", env) for i in range(n)]
            proxy = HAProxy(haproxy_bin, root / f"haproxy{n}", [r.port for r in replicas])
            try:
                report["replicas"][str(n)] = {
                    "rest_through_haproxy": rest_mix(proxy.url),
                    "jobs_through_haproxy": job_throughput(proxy.url),
                }
            finally:
                proxy.stop()
                for r in replicas:
                    r.stop()
    finally:
        redis.stop()
        pg.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
