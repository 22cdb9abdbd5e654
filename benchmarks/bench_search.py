"""Library search at 100,000 prompts with 384-d vectors, against sqlite-vec measured in the same run.

Builds a temporary library (PROMPT_ALCHEMY_HOME in a temp dir): texts are windows of the awesome-chatgpt-prompts
CSV's own word stream (so term frequencies are realistic), vectors are unit vectors from a Gaussian mixture (exact
search costs the same whatever the values). Queries are the paraphrases of tests/data/library_queries.json, embedded
with the configured local embedder. Prints one JSON object:

- index load time (cold, from SQLite) and index memory (matrix bytes, and process RSS growth while loading);
- p50/p95 of the vector search alone (query vector given) for our numpy index and for sqlite-vec's vec0 table
  (exact KNN, cosine) loaded through apsw with the same vectors and queries, timed alternately query by query
  (numpy_p50, sqlite_vec_p50), their ratio, and how often both returned the same top k; plus our search timed
  alone (numpy_alone_p50: no other work between queries);
- p50/p95 of the service end to end: semantic (embeds the query), text (FTS5 bm25) and hybrid (both + RRF); the
  service's query-vector cache is cleared before every timed search, so every query is embedded.

Targets from the issue: semantic p50 < 10 ms and >= 6x faster than sqlite-vec; text p50 < 10 ms; hybrid p50 < 30 ms;
index memory < 200 MB; index load < 1 s.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

N = int(os.environ.get("BENCH_PROMPTS", "100000"))
DIM = 384
K = 10
ROUNDS = 3
ROOT = Path(__file__).resolve().parent.parent
CSV_PATH = ROOT / "src" / "prompt_alchemy" / "data" / "awesome-chatgpt-prompts.csv"
QUERIES = ROOT / "tests" / "data" / "library_queries.json"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576


def _pct(samples: list[float], q: float) -> float:
    return round(float(np.percentile(samples, q)), 3)


def _timed(fn, items, rounds: int = ROUNDS) -> list[float]:
    out = []
    for _ in range(rounds):
        for item in items:
            start = time.perf_counter()
            fn(item)
            out.append((time.perf_counter() - start) * 1000)
    return out


def _corpus(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    words = re.findall(r"\w+", " ".join(r["prompt"] for r in rows))
    titles = [r["act"] for r in rows]
    stream = np.array(words, dtype=object)
    lengths = rng.integers(40, 160, size=N)
    starts = rng.integers(0, len(stream) - 200, size=N)
    texts = [" ".join(stream[s : s + n]) for s, n in zip(starts, lengths)]
    return texts, [titles[i] for i in rng.integers(0, len(titles), size=N)]


def _vectors(rng: np.random.Generator) -> np.ndarray:
    centroids = rng.standard_normal((1000, DIM)).astype(np.float32)
    vectors = centroids[rng.integers(0, 1000, size=N)] + 0.6 * rng.standard_normal((N, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _fill(store, texts, titles, vectors, model: str) -> list[str]:
    ids = [str(uuid.UUID(int=int(x))) for x in np.random.default_rng(7).integers(0, 2**63, size=N)]
    base = datetime(2025, 1, 1, tzinfo=UTC)
    batch = []
    with store.transaction() as db:
        for i in range(N):
            when = (base + timedelta(seconds=i * 30)).isoformat()
            batch.append(
                (
                    ids[i],
                    texts[i],
                    uuid.uuid4().hex,
                    titles[i],
                    json.dumps([titles[i]]),
                    when,
                    when,
                    vectors[i].tobytes(),
                    model,
                    "local",
                    DIM,
                )
            )
            if len(batch) == 5000:
                db.executemany(
                    "INSERT INTO prompts (id, content, content_hash, title, tags, created_at, updated_at, "
                    "embedding, embedding_model, embedding_provider, embedding_dim, source_type) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'imported')",
                    batch,
                )
                batch.clear()
        if batch:
            db.executemany(
                "INSERT INTO prompts (id, content, content_hash, title, tags, created_at, updated_at, "
                "embedding, embedding_model, embedding_provider, embedding_dim, source_type) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'imported')",
                batch,
            )
    return ids


def _build_sqlite_vec(vectors: np.ndarray, path: Path) -> dict:
    """A vec0 table (sqlite-vec, exact KNN, cosine) holding the same vectors (rowid = position + 1), through apsw."""
    try:
        import apsw
        import sqlite_vec
    except ImportError as exc:
        return {"error": f"sqlite-vec baseline unavailable: {exc} (pip install sqlite-vec apsw)"}
    db = apsw.Connection(str(path))
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    db.execute(f"CREATE VIRTUAL TABLE items USING vec0(embedding float[{DIM}] distance_metric=cosine)")
    start = time.perf_counter()
    with db:
        db.executemany(
            "INSERT INTO items(rowid, embedding) VALUES (?, ?)",
            ((i + 1, vectors[i].tobytes()) for i in range(len(vectors))),
        )
    facts = {
        "version": db.execute("SELECT vec_version()").fetchone()[0],
        "sqlite": apsw.sqlite_lib_version(),
        "insert_s": round(time.perf_counter() - start, 2),
    }
    db.close()
    return facts


def _open_sqlite_vec(path: Path):
    """A search function over the vec0 table: query vector -> positions of the k nearest."""
    import apsw
    import sqlite_vec

    db = apsw.Connection(str(path))
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    sql = "SELECT rowid, distance FROM items WHERE embedding MATCH ? AND k = ? ORDER BY distance"
    return lambda q: [r[0] - 1 for r in db.execute(sql, (q.tobytes(), K)).fetchall()]


def build(tmp: Path) -> dict:
    """Fill the library and the sqlite-vec table; returns facts about the build."""
    rng = np.random.default_rng(42)
    from prompt_alchemy.services import AlchemyService

    service = AlchemyService.from_environment()
    embedder = service.embedder
    if embedder.unavailable_reason():
        sys.exit(f"the local embedder is needed: {embedder.unavailable_reason()}")
    t0 = time.perf_counter()
    texts, titles = _corpus(rng)
    vectors = _vectors(rng)
    ids = _fill(service.store, texts, titles, vectors, embedder.model)
    build_s = time.perf_counter() - t0
    asyncio.run(service.aclose())
    (tmp / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    return {"build_s": round(build_s, 1), "sqlite_vec": _build_sqlite_vec(vectors, tmp / "vec.db")}


def measure(tmp: Path) -> dict:
    """In a fresh process, as a server would: load the index cold, then time every kind of search."""
    from prompt_alchemy.services import AlchemyService

    queries = [q["query"] for q in json.loads(QUERIES.read_text(encoding="utf-8"))["queries"]]
    service = AlchemyService.from_environment()
    embedder = service.embedder
    rss_before = _rss_mb()
    info = asyncio.run(service.load_vector_index())
    rss_growth = _rss_mb() - rss_before
    index = service.library.vector_index(embedder.model, embedder.dimensions)
    ids_overhead = sum(sys.getsizeof(i) for i in index._ids) + sys.getsizeof(index._ids) + sys.getsizeof(index._pos)

    qvec = np.asarray(embedder.embed_sync(queries), dtype=np.float32)  # warm the embedder too
    loop = asyncio.new_event_loop()

    forget = service.library.query_embedder  # the query-vector cache

    def search(q, mode):
        forget.clear()  # every timed search embeds its query: the figures are for queries never seen before
        return service.search(q, mode=mode, limit=K)

    def run(mode):
        return lambda q: loop.run_until_complete(search(q, mode))

    for mode in ("semantic", "text", "hybrid"):
        run(mode)(queries[0])  # warm
    end_to_end = {mode: _timed(run(mode), queries) for mode in ("semantic", "text", "hybrid")}
    embed_only = _timed(lambda q: loop.run_until_complete(embedder.embed([q])), queries, rounds=1)
    alone = _timed(lambda q: index.search(q, K), qvec)

    vec_search = _open_sqlite_vec(tmp / "vec.db") if (tmp / "vec.db").exists() else None
    row_of = {pid: i for i, pid in enumerate(json.loads((tmp / "ids.json").read_text(encoding="utf-8")))}
    ours, theirs, agree = [], [], 0
    for _ in range(ROUNDS):  # interleaved, so that both face the same load from other processes
        for q in qvec:
            start = time.perf_counter()
            mine = index.search(q, K)
            ours.append((time.perf_counter() - start) * 1000)
            if vec_search is not None:
                start = time.perf_counter()
                other = vec_search(q)
                theirs.append((time.perf_counter() - start) * 1000)
                agree += [row_of[pid] for pid, _ in mine] == other
    loop.run_until_complete(service.aclose())
    loop.close()
    sv_p50 = _pct(theirs, 50) if theirs else None
    return {
        "queries": len(queries),
        "index": {
            "load_ms": info["load_ms"],
            "vectors": info["vectors"],
            "matrix_mb": round(info["bytes"] / 1048576, 1),
            "ids_mb": round(ids_overhead / 1048576, 1),
            "rss_growth_mb": round(rss_growth, 1),
        },
        "vector_search_ms": {
            "numpy_alone_p50": _pct(alone, 50),
            "numpy_alone_p95": _pct(alone, 95),
            "numpy_p50": _pct(ours, 50),
            "numpy_p95": _pct(ours, 95),
            "sqlite_vec_p50": sv_p50,
            "sqlite_vec_p95": _pct(theirs, 95) if theirs else None,
            "speedup_vs_sqlite_vec": round(sv_p50 / _pct(ours, 50), 1) if sv_p50 else None,
            "same_top_k_as_sqlite_vec": f"{agree}/{len(theirs)}" if theirs else None,
        },
        "service_search_ms": {mode: {"p50": _pct(s, 50), "p95": _pct(s, 95)} for mode, s in end_to_end.items()},
        "query_embedding_ms": {"p50": _pct(embed_only, 50), "p95": _pct(embed_only, 95)},
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(Path(sys.argv[2]))))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    os.environ["PROMPT_ALCHEMY_HOME"] = str(tmp)
    try:
        built = build(tmp)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(tmp)],
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ),
        )
        measured = json.loads(child.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "library_search",
                "prompts": N,
                "dimensions": DIM,
                "k": K,
                "rounds": ROUNDS,
                "build_s": built["build_s"],
                **measured,
                "sqlite_vec": built["sqlite_vec"],
                "targets": {
                    "semantic_p50_ms": 10,
                    "speedup_vs_sqlite_vec": 6,
                    "text_p50_ms": 10,
                    "hybrid_p50_ms": 30,
                    "index_mb": 200,
                    "index_load_ms": 1000,
                },
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
