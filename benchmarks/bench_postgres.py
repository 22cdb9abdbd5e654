"""The PostgreSQL + pgvector store against the SQLite store, in the same run, on a pgserver instance (PostgreSQL 16,
pgvector 0.6) started in a temporary folder.

For each size (BENCH_SIZES, default 100000; 384-d vectors):

- ingest: prompts per second through the store's own save_prompts (batches of 2,000; PostgreSQL maintaining the
  HNSW index as rows arrive) for the first INGEST_N rows; the rest bulk-loaded with the index dropped and then built
  once (its build time reported); SQLite's save_prompts over the same rows;
- semantic search (query vector given): p50/p99 with HNSW (ef_search 100) and exact (sequential scan) on PostgreSQL,
  and SQLite's in-memory numpy index;
- recall@10 of HNSW against exact search, on the synthetic vectors (unit vectors from a Gaussian mixture, queries
  near stored vectors) and on real MiniLM embeddings of text windows from the awesome-chatgpt-prompts CSV queried
  with the paraphrases of tests/data/library_queries.json (BENCH_REAL texts, when the local embedder is installed);
- text search p50 (tsvector + GIN, ts_rank; SQLite FTS5 bm25) and hybrid p50 (text + vector + reciprocal-rank
  fusion + reading the top 10 rows) for both stores.

Targets from the issue: 1M semantic p50 <= 20 ms with recall@10 >= 0.95; 100k hybrid p50 <= 30 ms.
Prints one JSON object.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
CSV_PATH = ROOT / "src" / "prompt_alchemy" / "data" / "awesome-chatgpt-prompts.csv"
QUERIES = ROOT / "tests" / "data" / "library_queries.json"
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "100000").split(",")]
INGEST_N = int(os.environ.get("BENCH_INGEST", "20000"))
REAL_N = int(os.environ.get("BENCH_REAL", "10000"))
N_QUERIES = int(os.environ.get("BENCH_QUERIES", "200"))
DIM, K, MODEL = 384, 10, "bench-minilm"


def _pct(samples, q):
    return round(float(np.percentile(samples, q)), 3) if samples else None


def _timed(fn, items):
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _words():
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return re.findall(r"\w+", " ".join(r["prompt"] for r in rows)), [r["act"] for r in rows]


def _prompts(n, rng, words, titles):
    from prompt_alchemy.models import Prompt

    centroids = rng.standard_normal((1000, DIM)).astype(np.float32)
    vectors = centroids[rng.integers(0, 1000, size=n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stream = np.array(words, dtype=object)
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        s, length = int(rng.integers(0, len(stream) - 200)), int(rng.integers(40, 120))
        title = titles[int(rng.integers(0, len(titles)))]
        when = base + timedelta(seconds=30 * i)
        p = Prompt(id=str(uuid.UUID(int=int(rng.integers(0, 2**63)))), content=" ".join(stream[s:s + length]),
                   title=title, tags=[title], source_type="imported", created_at=when, updated_at=when)
        p.embedding, p.embedding_model, p.embedding_provider, p.embedding_dim = vectors[i], MODEL, "local", DIM
        out.append(p)
    return out, vectors


def _save(store, prompts, batch=2000):
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        for p in chunk:  # the stores take lists of floats, as the services hand them over
            if not isinstance(p.embedding, list):
                p.embedding = p.embedding.tolist()
        store.save_prompts(chunk)


def _hybrid(store, text, vector):
    text_hits = store.search_text(text, None, 30)
    sem = store.search_vectors(vector, MODEL, DIM, 30)
    fused = {}
    for hits in (text_hits, sem):
        for rank, (pid, _) in enumerate(hits, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (60 + rank)
    top = sorted(fused, key=lambda pid: -fused[pid])[:K]
    return store.get_prompts(top)


def _recall(store, queries, model, dims):
    got = []
    for q in queries:
        exact = {pid for pid, _ in store._nearest(q, model, dims, K, exact=True)}
        approx = {pid for pid, _ in store._nearest(q, model, dims, K, exact=False)}
        got.append(len(exact & approx) / max(1, len(exact)))
    return round(float(np.mean(got)), 4)


def run_size(n, url, tmp, words, titles):
    from prompt_alchemy.storage.postgres import PostgresStore
    from prompt_alchemy.storage.sqlite import SQLiteStore

    rng = np.random.default_rng(n)
    prompts, vectors = _prompts(n, rng, words, titles)
    pg = PostgresStore(url)
    out = {"prompts": n, "dimensions": DIM}
    first = prompts[:min(INGEST_N, n)]
    start = time.perf_counter()
    _save(pg, first)
    out["pg_ingest_per_s_no_index"] = round(len(first) / (time.perf_counter() - start))
    table = pg._space(MODEL, DIM, create=False)
    rest, tail = prompts[len(first):-2000], prompts[-2000:]
    start = time.perf_counter()
    _save(pg, rest)
    out["pg_ingest_per_s_bulk_no_index"] = round(len(rest) / max(1e-9, time.perf_counter() - start))
    pg.query(f"ANALYZE {table}")
    start = time.perf_counter()
    pg._ensure_index(table)  # what the first large search (or vacuum) does
    out["pg_hnsw_build_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    _save(pg, tail)
    out["pg_ingest_per_s_hnsw_maintained"] = round(len(tail) / (time.perf_counter() - start))
    pg.vacuum()
    out["pg_database_mb"] = round(pg.file_sizes()["database"] / 1048576)

    sq = SQLiteStore(Path(tmp) / f"lib-{n}.db")
    start = time.perf_counter()
    _save(sq, prompts)
    out["sqlite_ingest_per_s"] = round(n / (time.perf_counter() - start))
    start = time.perf_counter()
    sq.vector_index(MODEL, DIM)
    out["sqlite_index_load_s"] = round(time.perf_counter() - start, 2)

    picks = rng.integers(0, n, size=N_QUERIES)
    queries = vectors[picks] + 0.3 * rng.standard_normal((N_QUERIES, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    n_exact = max(20, N_QUERIES // 4)
    for _ in range(10):  # warm the caches
        pg._nearest(queries[0], MODEL, DIM, K, exact=False)
    hnsw = _timed(lambda q: pg._nearest(q, MODEL, DIM, K, exact=False), queries)
    exact = _timed(lambda q: pg._nearest(q, MODEL, DIM, K, exact=True), queries[:n_exact])
    numpy_ = _timed(lambda q: sq.search_vectors(q, MODEL, DIM, K), queries)
    out["semantic_ms"] = {"pg_hnsw_p50": _pct(hnsw, 50), "pg_hnsw_p99": _pct(hnsw, 99),
                          "pg_exact_p50": _pct(exact, 50), "pg_exact_p99": _pct(exact, 99),
                          "sqlite_numpy_p50": _pct(numpy_, 50), "sqlite_numpy_p99": _pct(numpy_, 99)}
    out["recall_at_10_synthetic"] = _recall(pg, queries[:n_exact], MODEL, DIM)

    terms = [" ".join(rng.choice(words, size=2)) for _ in range(N_QUERIES)]
    out["text_ms"] = {"pg_p50": _pct(_timed(pg.search_text, terms), 50),
                      "sqlite_p50": _pct(_timed(sq.search_text, terms), 50)}
    pairs = list(zip(terms, queries))
    out["hybrid_ms"] = {"pg_p50": _pct(_timed(lambda tq: _hybrid(pg, *tq), pairs), 50),
                        "pg_p99": _pct(_timed(lambda tq: _hybrid(pg, *tq), pairs), 99),
                        "sqlite_p50": _pct(_timed(lambda tq: _hybrid(sq, *tq), pairs), 50)}
    pg.close()
    sq.close()
    return out


def real_recall(url, words):
    """HNSW recall@10 on real MiniLM embeddings of REAL_N text windows, queried with real paraphrases."""
    from prompt_alchemy.config import load_settings
    from prompt_alchemy.embeddings import make_embedder
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.providers.registry import ProviderRegistry
    from prompt_alchemy.storage.postgres import PostgresStore

    settings = load_settings().settings
    embedder = make_embedder(settings, ProviderRegistry(settings))
    reason = embedder.unavailable_reason()
    if reason:
        return {"error": f"local embedder unavailable: {reason}"}
    import asyncio

    rng = np.random.default_rng(3)
    stream = np.array(words, dtype=object)
    texts = [" ".join(stream[s:s + 60]) for s in rng.integers(0, len(stream) - 80, size=REAL_N)]
    start = time.perf_counter()
    vecs = np.vstack([asyncio.run(embedder.embed(texts[i:i + 64])) for i in range(0, len(texts), 64)])
    embed_s = time.perf_counter() - start
    data = json.loads(QUERIES.read_text(encoding="utf-8"))
    qtexts = [q["query"] if isinstance(q, dict) else str(q) for q in (data if isinstance(data, list) else
                                                                       data.get("queries", []))][:100]
    qvecs = np.asarray(asyncio.run(embedder.embed(qtexts)), dtype=np.float32)
    pg = PostgresStore(url)
    prompts = []
    for t, v in zip(texts, vecs):
        p = Prompt(content=t, source_type="imported")
        p.embedding, p.embedding_model, p.embedding_provider, p.embedding_dim = v.tolist(), "real-minilm", "local", DIM
        prompts.append(p)
    _save(pg, prompts)
    pg.query("ANALYZE")
    table = pg._space("real-minilm", DIM, create=False)
    pg._ensure_index(table)  # HNSW even below the exact-search limit: its recall is what is measured
    recall = _recall(pg, qvecs, "real-minilm", DIM)
    pg.close()
    return {"texts": REAL_N, "queries": len(qtexts), "recall_at_10": recall, "embed_s": round(embed_s, 1)}


def main() -> None:
    import pgserver
    import psycopg

    tmp = tempfile.mkdtemp(prefix="pa-bench-pg-")
    os.environ["PROMPT_ALCHEMY_HOME"] = str(Path(tmp) / "home")
    server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
    result = {"postgres": None, "pgvector": None, "cores": os.cpu_count(), "sizes": []}
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            result["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
            for n in SIZES:
                conn.execute(f"CREATE DATABASE bench_{n}")
            conn.execute("CREATE DATABASE bench_real")
        words, titles = _words()
        for n in SIZES:
            started = time.perf_counter()
            entry = run_size(n, server.get_uri(f"bench_{n}"), tmp, words, titles)
            entry["wall_s"] = round(time.perf_counter() - started, 1)
            result["sizes"].append(entry)
            print(json.dumps(entry), file=sys.stderr, flush=True)
        if REAL_N:
            result["real_embeddings"] = real_recall(server.get_uri("bench_real"), words)
        with psycopg.connect(server.get_uri("bench_real"), autocommit=True) as conn:
            result["pgvector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'"
                                              ).fetchone()[0]
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
