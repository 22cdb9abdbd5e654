"""The PostgreSQL + pgvector store against the SQLite store, in the same run, on a pgserver instance (PostgreSQL 16,
pgvector 0.6) started in a temporary folder. Rows are generated and written in batches (BENCH_BATCH), never held all
at once, so the benchmark's memory stays flat from 10k to 1M prompts.

The vectors (384-d, all-MiniLM-L6-v2 space), stated in the output as well:

- anchors: real MiniLM embeddings of BENCH_BASE text windows (12-90 words) of the packaged awesome-chatgpt-prompts
  CSV, embedded once by the local embedder and cached in BENCH_CACHE;
- library rows: unit vectors (1-t)*a + t*b + noise, with a a random anchor, b one of a's 10 nearest anchors (or, 30%
  of the time, any anchor: a blend of topics), t ~ U(0, 0.5), and Gaussian noise shaped by the anchors' own
  covariance, scaled by BENCH_NOISE (1.5). The row's text is a's window followed by b's, so text and vector agree.
  Their local intrinsic dimensionality (printed) is several times that of the real windows, so the set is harder
  for HNSW than the real data it is built from, and far easier than uniform random vectors, which are unlike any
  embedding model's output;
- queries: real embeddings only: the 53 paraphrase queries of tests/data/library_queries.json and held-out text
  windows (not among the anchors), BENCH_QUERIES in all.

For each size (BENCH_SIZES, default 100000):

- PostgreSQL build: the first BENCH_INGEST rows through the store's own save_prompts (no vector index yet), the
  rest with COPY in batches (the same rows the store writes: prompts with their tsvector, GIN and b-tree indexes, and
  the vector table), then the HNSW index built once by the store itself (_ensure_index, what the first large search
  or `db vacuum` does; its parameters are the store's), then VACUUM ANALYZE; finally 2,000 rows through save_prompts
  with the index maintained. SQLite: save_prompts for every row, then its in-memory index loaded.
- semantic search p50/p99: HNSW through the store's search_vectors (hnsw.ef_search as the store sets it), exact
  (sequential scan), SQLite's numpy index; recall@10 of HNSW against exact, on the library rows and, separately, on
  a library of only real embeddings (the anchors); a small hnsw.ef_search sweep shows the trade-off. Recall counts
  a result at least as similar as the exact 10th neighbour, as ann-benchmarks does (a result tied with an exact
  neighbour counts); recall_at_10_same_ids in the JSON is the plain overlap of ids.
- text search p50 (tsvector + GIN, ts_rank; SQLite FTS5 bm25) and hybrid p50 (text + vector + reciprocal-rank
  fusion + reading the top 10 rows) for both stores.

Two cores at most: the server runs at most one parallel worker besides the leader (builds and scans), autovacuum
is off (the benchmark runs VACUUM ANALYZE itself), numpy runs on one thread. The load average is sampled at each
phase. Here 100k takes about 5 minutes and 1M about 25 (16 of them building the PostgreSQL library).

Targets from the issue: 1M semantic p50 <= 20 ms with recall@10 >= 0.95; 100k hybrid p50 <= 30 ms.
Prints a table, then one JSON object (BENCH_JSON=path also writes it to a file).
"""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # one core for numpy: the server has
    os.environ.setdefault(_var, "1")  # the other (two cores in all)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
CSV_PATH = ROOT / "src" / "prompt_alchemy" / "data" / "awesome-chatgpt-prompts.csv"
QUERIES = ROOT / "tests" / "data" / "library_queries.json"
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "100000").split(",")]
INGEST_N = int(os.environ.get("BENCH_INGEST", "20000"))
N_QUERIES = int(os.environ.get("BENCH_QUERIES", "200"))
N_EXACT = int(os.environ.get("BENCH_EXACT_QUERIES", "60"))
N_BASE = int(os.environ.get("BENCH_BASE", "20000"))
NOISE = float(os.environ.get("BENCH_NOISE", "1.5"))
FAR = float(os.environ.get("BENCH_FAR", "0.3"))
BATCH = int(os.environ.get("BENCH_BATCH", "5000"))
SQLITE = os.environ.get("BENCH_SQLITE", "1") != "0"
CACHE = Path(os.environ.get("BENCH_CACHE", "/tmp/pa-bench-cache"))
SHARED_BUFFERS = os.environ.get("BENCH_SHARED_BUFFERS", "2GB")
DIM, K, MODEL = 384, 10, "bench-minilm"
TAIL = 2000
#: The server's settings: two cores at most (leader + one parallel worker), room for a bulk load.
SERVER_SETTINGS = {
    "max_parallel_workers": "1",
    "max_parallel_maintenance_workers": "1",
    "max_parallel_workers_per_gather": "1",
    "autovacuum": "off",
    "shared_buffers": SHARED_BUFFERS,
    "effective_cache_size": "8GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}

_loads: list[tuple[str, float]] = []


def _load(phase: str) -> None:
    _loads.append((phase, round(os.getloadavg()[0], 2)))


def _pct(samples, q):
    return round(float(np.percentile(samples, q)), 2) if len(samples) else None


def _timed(fn, items):
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


# ------------------------------------------------------------------------------------------------ the vectors


def _csv_docs() -> tuple[list[list[str]], list[str]]:
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [re.findall(r"\S+", r["prompt"]) for r in rows], [r["act"] for r in rows]


def _windows(docs: list[list[str]], n: int, seed: int) -> list[str]:
    """`n` distinct text windows (12-90 words) of the CSV's prompts."""
    rng = np.random.default_rng(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        words = docs[int(rng.integers(len(docs)))]
        length = min(int(rng.integers(12, 90)), len(words))
        start = int(rng.integers(0, len(words) - length + 1))
        out[" ".join(words[start : start + length])] = None
    return list(out)


def _embed(texts: list[str], name: str) -> tuple[np.ndarray, float]:
    """Real MiniLM embeddings of `texts` (cached by content in BENCH_CACHE): (vectors, seconds spent embedding)."""
    import hashlib

    digest = hashlib.sha1("\0".join(texts).encode()).hexdigest()[:12]
    path = CACHE / f"{name}-{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path), 0.0
    from prompt_alchemy.embeddings.local import LocalEmbedder

    embedder = LocalEmbedder()
    reason = embedder.unavailable_reason()
    if reason:
        raise SystemExit(f"the local embedder is needed for the real anchors and queries: {reason}")
    start = time.perf_counter()
    vecs = np.vstack([embedder.embed_sync(texts[i : i + 256]) for i in range(0, len(texts), 256)]).astype(np.float32)
    spent = time.perf_counter() - start
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs, spent


class Anchors:
    """Real embeddings and what the synthetic rows are drawn from."""

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.texts, self.vectors = texts, vectors
        self.neighbours = np.empty((len(vectors), 10), dtype=np.int64)
        for i in range(0, len(vectors), 1000):
            sims = vectors[i : i + 1000] @ vectors.T
            for j in range(sims.shape[0]):
                sims[j, i + j] = -2  # not itself
            top = np.argpartition(-sims, 10, axis=1)[:, :10]
            self.neighbours[i : i + 1000] = top
        centred = vectors - vectors.mean(axis=0)
        w, u = np.linalg.eigh(np.cov(centred.T))
        self.shape = (u * np.sqrt(np.maximum(w, 0))).astype(np.float32)  # noise ~ N(0, cov(anchors))

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str]]:
        m = len(self.vectors)
        a = rng.integers(0, m, n)
        near = self.neighbours[a, rng.integers(0, 10, n)]
        b = np.where(rng.random(n) < FAR, rng.integers(0, m, n), near)
        t = rng.uniform(0, 0.5, n).astype(np.float32)[:, None]
        noise = rng.standard_normal((n, DIM), dtype=np.float32) @ self.shape.T
        v = (1 - t) * self.vectors[a] + t * self.vectors[b] + NOISE * noise
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v.astype(np.float32), [f"{self.texts[i]} {self.texts[j]}" for i, j in zip(a, b)]


def _lid(data: np.ndarray, queries: np.ndarray, k: int = 20) -> dict:
    """Local intrinsic dimensionality (MLE over the k nearest) and the median 1st/10th neighbour similarity of the
    queries in `data`: how hard the set is for a graph index."""
    sims = queries @ data.T
    top = -np.sort(-sims, axis=1)[:, :k]
    dist = np.sqrt(np.maximum(2 - 2 * top, 1e-12))
    lid = -1 / np.mean(np.log(dist[:, :-1] / dist[:, -1:]), axis=1)
    return {
        "lid": round(float(np.median(lid)), 1),
        "nn1_sim": round(float(np.median(top[:, 0])), 3),
        "nn10_sim": round(float(np.median(top[:, 9])), 3),
    }


def _rows(anchors: Anchors, n: int, titles: list[str], seed: int, start: int, stop: int):
    """Rows [start, stop) of the size-n library as (ids, vectors, contents, titles, times), in batches of BATCH.
    Each batch comes from its own seeded generator, so any range regenerates exactly (the stores get the same rows)."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    first = start - start % BATCH
    for lo in range(first, stop, BATCH):
        rng = np.random.default_rng([seed, n, lo])
        vecs, texts = anchors.draw(rng, BATCH)
        title_ix = rng.integers(0, len(titles), BATCH)
        s, e = max(lo, start) - lo, min(lo + BATCH, stop, n) - lo
        if s >= e:
            continue
        ids = [str(uuid.UUID(int=(seed << 64) | (n << 24) | (lo + i))) for i in range(s, e)]
        yield (
            ids,
            vecs[s:e],
            texts[s:e],
            [titles[j] for j in title_ix[s:e]],
            [base + timedelta(seconds=30 * (lo + i)) for i in range(s, e)],
        )


def _prompts(ids, vecs, texts, titles, times, *, vectors_as_lists: bool = True):
    from prompt_alchemy.models import Prompt

    out = []
    for pid, v, text, title, when in zip(ids, vecs, texts, titles, times):
        p = Prompt(
            id=pid,
            content=text,
            title=title,
            tags=[title],
            source_type="imported",
            created_at=when,
            updated_at=when,
            embedding_model=MODEL,
            embedding_provider="local",
            embedding_dim=DIM,
        )
        p.embedding = v.tolist() if vectors_as_lists else None
        out.append(p)
    return out


# ------------------------------------------------------------------------------------------------ writing


def _copy_batch(conn, table: str, batch) -> None:
    """One COPY transaction: the prompts rows exactly as the store writes them, and their vectors (binary COPY)."""
    from prompt_alchemy.storage.sqlite import PROMPT_COLUMNS, prompt_to_row

    ids, vecs, texts, titles, times = batch
    prompts = _prompts(ids, vecs, texts, titles, times, vectors_as_lists=False)
    cols = ", ".join(PROMPT_COLUMNS)
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY prompts ({cols}) FROM STDIN") as cp:
            for p, v in zip(prompts, vecs):
                row = prompt_to_row(p)
                row["embedding"] = v.tobytes()
                cp.write_row(tuple(row.values()))
        with cur.copy(f"COPY {table} (id, embedding) FROM STDIN (FORMAT BINARY)") as cp:
            cp.write(_binary_vectors(ids, vecs))


def _binary_vectors(ids: list[str], vecs: np.ndarray) -> bytes:
    """PostgreSQL's binary COPY stream of (id text, embedding vector) rows, built with numpy (pgvector's binary
    form: int16 dimensions, int16 unused, big-endian float4s)."""
    n, width = len(ids), len(ids[0])
    assert all(len(i) == width for i in ids)
    rec = np.dtype(
        [
            ("fields", ">i2"),
            ("idlen", ">i4"),
            ("id", f"S{width}"),
            ("vlen", ">i4"),
            ("dim", ">i2"),
            ("unused", ">i2"),
            ("vec", ">f4", (DIM,)),
        ]
    )
    arr = np.zeros(n, dtype=rec)
    arr["fields"], arr["idlen"], arr["id"] = 2, width, [i.encode() for i in ids]
    arr["vlen"], arr["dim"], arr["vec"] = 4 + 4 * DIM, DIM, vecs
    return b"PGCOPY\n\xff\r\n\0" + b"\0" * 8 + arr.tobytes() + b"\xff\xff"


def _save(store, prompts, batch=2000):
    for start in range(0, len(prompts), batch):
        store.save_prompts(prompts[start : start + batch])


def build_postgres(url: str, anchors: Anchors, n: int, titles: list[str], out: dict) -> None:
    import psycopg

    from prompt_alchemy.storage.postgres import PostgresStore
    from prompt_alchemy.storage.postgres import store as pg_module

    seed = 11
    pg = PostgresStore(url)
    first = min(INGEST_N, n - TAIL)
    built = time.perf_counter()
    start = time.perf_counter()
    for batch in _rows(anchors, n, titles, seed, 0, first):
        _save(pg, _prompts(*batch))
    out["pg_ingest_store_per_s"] = round(first / (time.perf_counter() - start))
    _load("pg store ingest")
    table = pg._space(MODEL, DIM, create=False)
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        for batch in _rows(anchors, n, titles, seed, first, n - TAIL):
            _copy_batch(conn, table, batch)
    copied = n - TAIL - first
    out["pg_ingest_copy_per_s"] = round(copied / max(1e-9, time.perf_counter() - start))
    out["pg_ingest_copy_s"] = round(time.perf_counter() - start, 1)
    _load("pg COPY ingest")
    start = time.perf_counter()
    pg.query(f"ANALYZE {table}")
    notices = []
    with psycopg.connect(url, autocommit=True) as conn:  # what the store's build will use, for the report
        out["pg_hnsw"] = {
            "m": pg_module.HNSW_M,
            "ef_construction": pg_module.HNSW_EF_CONSTRUCTION,
            "ef_search": pg_module.EF_SEARCH,
            "maintenance_work_mem": pg_module.build_memory(n, DIM),
            "max_parallel_maintenance_workers": conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0],
        }
    import logging

    class _Keep(logging.Handler):
        def emit(self, record):
            notices.append(record.getMessage())

    keep = _Keep()
    logging.getLogger("prompt_alchemy.storage.postgres").addHandler(keep)  # the store logs pgvector's notices
    try:
        pg._ensure_index(table)  # what the first large search (or vacuum) does
    finally:
        logging.getLogger("prompt_alchemy.storage.postgres").removeHandler(keep)
    out["pg_hnsw_build_s"] = round(time.perf_counter() - start, 1)
    out["pg_hnsw_notices"] = notices
    _load("pg HNSW build")
    start = time.perf_counter()
    pg.vacuum()
    out["pg_vacuum_analyze_s"] = round(time.perf_counter() - start, 1)
    out["pg_build_s"] = round(time.perf_counter() - built, 1)
    start = time.perf_counter()
    for batch in _rows(anchors, n, titles, seed, n - TAIL, n):
        _save(pg, _prompts(*batch))
    out["pg_ingest_hnsw_maintained_per_s"] = round(TAIL / (time.perf_counter() - start))
    out["pg_database_mb"] = round(pg.file_sizes()["database"] / 1048576)
    out["pg_hnsw_index_mb"] = round(int(pg.query(f"SELECT pg_relation_size('{table}_hnsw')")[0][0]) / 1048576)
    _load("pg maintained ingest")
    pg.close()


def build_sqlite(path: Path, anchors: Anchors, n: int, titles: list[str], out: dict) -> None:
    from prompt_alchemy.storage.sqlite import SQLiteStore

    sq = SQLiteStore(path)
    start = time.perf_counter()
    for batch in _rows(anchors, n, titles, 11, 0, n):
        _save(sq, _prompts(*batch))
    out["sqlite_build_s"] = round(time.perf_counter() - start, 1)
    out["sqlite_ingest_per_s"] = round(n / (time.perf_counter() - start))
    start = time.perf_counter()
    sq.vector_index(MODEL, DIM)
    out["sqlite_index_load_s"] = round(time.perf_counter() - start, 2)
    out["sqlite_file_mb"] = round(path.stat().st_size / 1048576)
    _load("sqlite ingest")
    sq.close()


# ------------------------------------------------------------------------------------------------ measuring


def _hybrid(store, text, vector):
    text_hits = store.search_text(text, None, 30)
    sem = store.search_vectors(vector, MODEL, DIM, 30)
    fused = {}
    for hits in (text_hits, sem):
        for rank, (pid, _) in enumerate(hits, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (60 + rank)
    top = sorted(fused, key=lambda pid: -fused[pid])[:K]
    return store.get_prompts(top)


def _recall(approx: list[tuple[str, float]], exact: list[tuple[str, float]]) -> float:
    """recall@10 as ann-benchmarks computes it: the share of the 10 results at least as similar as the exact 10th
    (a result tied with an exact neighbour counts; near-duplicate texts make such ties common)."""
    if not exact:
        return 1.0
    kth = exact[-1][1]
    return sum(1 for _, sim in approx[:K] if sim >= kth - 1e-6) / len(exact)


def _ef_sweep(url: str, table: str, queries: np.ndarray, exact: list, values=(40, 100, 200, 400)) -> dict:
    """recall@10 and p50 at several hnsw.ef_search values (a direct connection, the store's query)."""
    import psycopg

    from prompt_alchemy.storage.postgres.store import vector_literal

    out = {}
    sql = (
        f"SELECT v.id, 1 - (v.embedding <=> %s::vector) FROM {table} v ORDER BY v.embedding <=> %s::vector "
        f"LIMIT {K}"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        for ef in values:
            conn.execute(f"SET hnsw.ef_search = {ef}")
            times, recalls = [], []
            for q, truth in zip(queries, exact):
                lit = vector_literal(q)
                start = time.perf_counter()
                got = [(r[0], float(r[1])) for r in conn.execute(sql, (lit, lit)).fetchall()]
                times.append((time.perf_counter() - start) * 1000)
                recalls.append(_recall(got, truth))
            out[str(ef)] = {"recall_at_10": round(float(np.mean(recalls)), 4), "p50_ms": _pct(times, 50)}
    return out


def measure(url: str, sqlite_path: Path | None, queries: np.ndarray, words: list[str], out: dict) -> None:
    from prompt_alchemy.storage.postgres import PostgresStore
    from prompt_alchemy.storage.sqlite import SQLiteStore

    rng = np.random.default_rng(5)
    pg = PostgresStore(url)
    sq = SQLiteStore(sqlite_path) if sqlite_path else None
    table = pg._space(MODEL, DIM, create=False)
    for q in queries[:10]:  # warm the caches
        pg.search_vectors(q, MODEL, DIM, K)
    hnsw_hits = []
    hnsw = _timed(lambda q: hnsw_hits.append(pg.search_vectors(q, MODEL, DIM, K)), queries)
    exact_hits = []
    exact = _timed(lambda q: exact_hits.append(pg._nearest(q, MODEL, DIM, K, exact=True)), queries[:N_EXACT])
    recall = [_recall(a, b) for a, b in zip(hnsw_hits, exact_hits)]
    out["recall_at_10_same_ids"] = round(
        float(
            np.mean(
                [len({i for i, _ in a} & {i for i, _ in b}) / max(1, len(b)) for a, b in zip(hnsw_hits, exact_hits)]
            )
        ),
        4,
    )
    out["semantic_ms"] = {
        "pg_hnsw_p50": _pct(hnsw, 50),
        "pg_hnsw_p99": _pct(hnsw, 99),
        "pg_exact_p50": _pct(exact, 50),
        "pg_exact_p99": _pct(exact, 99),
    }
    out["recall_at_10"] = round(float(np.mean(recall)), 4)
    out["recall_at_10_min"] = round(float(np.min(recall)), 2)
    out["ef_search_sweep"] = _ef_sweep(url, table, queries[:N_EXACT], exact_hits)
    _load("pg semantic")
    if sq is not None:
        sq.vector_index(MODEL, DIM)
        numpy_ = _timed(lambda q: sq.search_vectors(q, MODEL, DIM, K), queries)
        out["semantic_ms"].update(sqlite_numpy_p50=_pct(numpy_, 50), sqlite_numpy_p99=_pct(numpy_, 99))

    terms = [" ".join(rng.choice(words, size=2)) for _ in range(N_QUERIES)]
    pg_text = _timed(pg.search_text, terms)
    out["text_ms"] = {"pg_p50": _pct(pg_text, 50), "pg_p99": _pct(pg_text, 99)}
    pairs = list(zip(terms, queries))
    pg_h = _timed(lambda tq: _hybrid(pg, *tq), pairs)
    out["hybrid_ms"] = {"pg_p50": _pct(pg_h, 50), "pg_p99": _pct(pg_h, 99)}
    if sq is not None:
        out["text_ms"]["sqlite_p50"] = _pct(_timed(sq.search_text, terms), 50)
        sq_h = _timed(lambda tq: _hybrid(sq, *tq), pairs)
        out["hybrid_ms"].update(sqlite_p50=_pct(sq_h, 50), sqlite_p99=_pct(sq_h, 99))
        sq.close()
    _load("text and hybrid")
    pg.close()


def real_recall(url: str, anchors: Anchors, queries: np.ndarray) -> dict:
    """recall@10 of HNSW against exact on a library of real embeddings only (the anchors), with the store's index
    and search settings, queried with the real queries."""
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.storage.postgres import PostgresStore

    pg = PostgresStore(url)
    prompts = []
    for i, (text, v) in enumerate(zip(anchors.texts, anchors.vectors)):
        p = Prompt(
            id=f"real-{i:06d}",
            content=text,
            source_type="imported",
            embedding_model="real-minilm",
            embedding_provider="local",
            embedding_dim=DIM,
        )
        p.embedding = v.tolist()
        prompts.append(p)
    _save(pg, prompts)
    pg.query("ANALYZE")
    table = pg._space("real-minilm", DIM, create=False)
    pg._ensure_index(table)  # HNSW even below the exact-search limit: its recall is what is measured
    got = []
    for q in queries:
        got.append(
            _recall(
                pg._nearest(q, "real-minilm", DIM, K, exact=False), pg._nearest(q, "real-minilm", DIM, K, exact=True)
            )
        )
    pg.close()
    return {"vectors": len(anchors.texts), "queries": len(queries), "recall_at_10": round(float(np.mean(got)), 4)}


# ------------------------------------------------------------------------------------------------ the server


def _start_server(root: Path):
    """A pgserver instance with the benchmark's settings (restarted once so that shared_buffers applies)."""
    import pgserver
    import psycopg

    server = pgserver.get_server(root, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    server.cleanup()
    server = pgserver.get_server(root, cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SERVER_SETTINGS}
    return server, settings


def _table(result: dict) -> str:
    """The figures with their targets, PostgreSQL beside SQLite."""
    sizes = result["sizes"]
    head = "| | " + " | ".join(f"{s['prompts']:,}" for s in sizes) + " | target |"
    lines = [head, "|---" * (len(sizes) + 2) + "|"]

    def row(label, fn, target=""):
        cells = []
        for s in sizes:
            try:
                cells.append(fn(s))
            except (KeyError, TypeError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    def sem(s: dict) -> dict:
        return s["semantic_ms"]

    row(
        "semantic p50 / p99, HNSW (ms)",
        lambda s: f"{sem(s)['pg_hnsw_p50']} / {sem(s)['pg_hnsw_p99']}",
        "p50 <= 20 at 1M",
    )
    row(
        "recall@10 HNSW vs exact (worst query)",
        lambda s: f"{s['recall_at_10']} ({s['recall_at_10_min']})",
        ">= 0.95 at 1M",
    )
    row("semantic p50 / p99, exact (ms)", lambda s: f"{sem(s)['pg_exact_p50']} / {sem(s)['pg_exact_p99']}")
    row(
        "semantic p50 / p99, SQLite numpy (ms)",
        lambda s: f"{sem(s)['sqlite_numpy_p50']} / " f"{sem(s)['sqlite_numpy_p99']}",
    )
    row("text p50, PostgreSQL / SQLite (ms)", lambda s: f"{s['text_ms']['pg_p50']} / {s['text_ms']['sqlite_p50']}")
    row(
        "hybrid p50 (p99), PostgreSQL (ms)",
        lambda s: f"{s['hybrid_ms']['pg_p50']} ({s['hybrid_ms']['pg_p99']})",
        "p50 <= 30 at 100k",
    )
    row("hybrid p50 (p99), SQLite (ms)", lambda s: f"{s['hybrid_ms']['sqlite_p50']} ({s['hybrid_ms']['sqlite_p99']})")
    row(
        "ingest /s: store no index / COPY / HNSW kept",
        lambda s: f"{s['pg_ingest_store_per_s']:,} / "
        f"{s['pg_ingest_copy_per_s']:,} / {s['pg_ingest_hnsw_maintained_per_s']:,}",
    )
    row("ingest /s: SQLite save_prompts", lambda s: f"{s['sqlite_ingest_per_s']:,}")
    row("PostgreSQL build: all rows + HNSW + ANALYZE (s)", lambda s: f"{s['pg_build_s']}", "<= 1200 (20 min)")
    row("  of which HNSW build (s)", lambda s: f"{s['pg_hnsw_build_s']}")
    row("SQLite build (s)", lambda s: f"{s['sqlite_build_s']}")
    row(
        "database MB: PostgreSQL (HNSW) / SQLite",
        lambda s: f"{s['pg_database_mb']:,} ({s['pg_hnsw_index_mb']:,})" f" / {s['sqlite_file_mb']:,}",
    )
    row("benchmark peak RSS (MB)", lambda s: f"{s['peak_rss_mb']:,}")
    row("load average (1 min), min-max", lambda s: f"{s['load_avg_range'][0]}-{s['load_avg_range'][1]}")
    for ef in ("40", "100", "200", "400"):
        row(
            f"ef_search {ef}: recall@10 / p50 ms",
            lambda s, ef=ef: f"{s['ef_search_sweep'][ef]['recall_at_10']} / " f"{s['ef_search_sweep'][ef]['p50_ms']}",
        )
    return "\n".join(lines)


def main() -> None:
    import psycopg

    tmp = Path(tempfile.mkdtemp(prefix="pa-bench-pg-"))
    os.environ["PROMPT_ALCHEMY_HOME"] = str(tmp / "home")
    _load("start")
    docs, titles = _csv_docs()
    words = [w for d in docs for w in d]
    texts = _windows(docs, N_BASE + N_QUERIES, seed=7)
    anchor_texts, held_out = texts[:N_BASE], texts[N_BASE:]
    qdata = json.loads(QUERIES.read_text(encoding="utf-8"))
    paraphrases = [q["query"] for q in qdata["queries"]]
    query_texts = (paraphrases + held_out)[:N_QUERIES]
    all_vecs, embed_s = _embed(anchor_texts + query_texts, "bench-anchors")
    anchors = Anchors(anchor_texts, all_vecs[:N_BASE])
    queries = all_vecs[N_BASE:]
    sample, _ = anchors.draw(np.random.default_rng(99), min(N_BASE, 20000))
    uniform = np.random.default_rng(98).standard_normal((min(N_BASE, 20000), DIM)).astype(np.float32)
    uniform /= np.linalg.norm(uniform, axis=1, keepdims=True)
    result = {
        "postgres": None,
        "pgvector": None,
        "cores": os.cpu_count(),
        "vectors": {
            "what": "384-d unit vectors in the all-MiniLM-L6-v2 space: mixtures of real embeddings of "
            f"{N_BASE:,} awesome-chatgpt-prompts text windows (a random anchor and a near one, "
            f"{FAR:.0%} a far one) plus noise shaped by their covariance x {NOISE}; queries "
            f"are {len(queries)} real embeddings ({min(len(paraphrases), N_QUERIES)} "
            "paraphrase queries, the rest held-out windows)",
            "anchor_embedding_s": round(embed_s, 1),
            "hardness_at_20k (queries' local intrinsic dimensionality, median nn similarity)": {
                "real windows": _lid(anchors.vectors[:20000], queries),
                "synthetic rows": _lid(sample, queries),
                "uniform random": _lid(uniform, queries),
            },
        },
        "sizes": [],
    }
    del sample, uniform
    server = None
    try:
        server, settings = _start_server(tmp / "pg")
        result["server_settings"] = settings
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            result["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
            for n in SIZES:
                conn.execute(f"CREATE DATABASE bench_{n}")
            conn.execute("CREATE DATABASE bench_real")
        for n in SIZES:
            started = time.perf_counter()
            first_load = len(_loads)
            entry = {"prompts": n, "dimensions": DIM}
            url = server.get_uri(f"bench_{n}")
            build_postgres(url, anchors, n, titles, entry)
            sqlite_path = None
            if SQLITE:
                sqlite_path = tmp / f"lib-{n}.db"
                build_sqlite(sqlite_path, anchors, n, titles, entry)
            measure(url, sqlite_path, queries, words, entry)
            entry["wall_s"] = round(time.perf_counter() - started, 1)
            entry["peak_rss_mb"] = _rss_mb()
            seen = [v for _, v in _loads[first_load:]]
            entry["load_avg_range"] = [min(seen), max(seen)]
            entry["load_avg"] = dict(_loads[first_load:])
            result["sizes"].append(entry)
            print(json.dumps(entry), file=sys.stderr, flush=True)
            if sqlite_path:
                sqlite_path.unlink(missing_ok=True)
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE bench_{n}")  # the next size gets the disk and the cache
        result["real_embeddings"] = real_recall(server.get_uri("bench_real"), anchors, queries)
        with psycopg.connect(server.get_uri("bench_real"), autocommit=True) as conn:
            result["pgvector"] = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()[0]
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"PostgreSQL {result['postgres']}, pgvector {result['pgvector']}, {result['cores']} cores; vectors: "
        f"{result['vectors']['what']}."
    )
    print(
        f"HNSW: {result['sizes'][-1]['pg_hnsw'] if result['sizes'] else '-'}; recall@10 on real embeddings only "
        f"({result['real_embeddings']['vectors']:,} vectors): {result['real_embeddings']['recall_at_10']}\n"
    )
    print(_table(result))
    print()
    print(json.dumps(result, indent=2))
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
