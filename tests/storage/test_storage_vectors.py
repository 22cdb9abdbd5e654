"""The in-memory vector index against brute force, through adds, replacements, removals and filters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prompt_alchemy.models import Prompt
from prompt_alchemy.storage.sqlite import SQLiteStore, vector_to_blob
from prompt_alchemy.storage.vectors import VectorIndex


def _unit(rng, n, d):
    m = rng.standard_normal((n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _brute(ids, matrix, q, k, allowed=None):
    scores = matrix @ q
    order = [i for i in np.argsort(-scores, kind="stable") if allowed is None or ids[i] in allowed]
    return [ids[i] for i in order[:k]]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 120),
    k=st.integers(1, 15),
    removed=st.integers(0, 30),
    subset=st.integers(0, 3),
)
def test_search_matches_brute_force(seed, n, k, removed, subset):
    rng = np.random.default_rng(seed)
    ids = [f"p{i}" for i in range(n)]
    matrix = _unit(rng, n, 8)
    index = VectorIndex("m", 8)
    index.add(ids[: n // 2], matrix[: n // 2])
    index.add(ids[n // 2 :], matrix[n // 2 :])
    gone = set(rng.choice(ids, size=min(removed, n), replace=False).tolist())
    index.remove(gone)
    live = [i for i, pid in enumerate(ids) if pid not in gone]
    live_ids, live_matrix = [ids[i] for i in live], matrix[live]
    assert len(index) == len(live_ids)
    q = _unit(rng, 1, 8)[0]
    allowed = None
    if subset and live_ids:
        # subset 1: a few ids (scored directly), 3: most ids (masked); both also name removed/unknown ids
        share = {1: 0.1, 2: 0.5, 3: 0.9}[subset]
        allowed = set(rng.choice(live_ids, size=max(1, int(len(live_ids) * share)), replace=False).tolist())
        allowed |= {"unknown"} | set(list(gone)[:2])
    got = [pid for pid, _ in index.search(q, k, allowed)]
    assert got == _brute(live_ids, live_matrix, q, k, allowed)


def test_a_kept_filter_stays_right_as_rows_move():
    """The store hands the same frozenset to every search until the next write; the index keeps its row mask, which
    must follow additions, removals and reloads."""
    rng = np.random.default_rng(3)
    ids = [f"p{i}" for i in range(40)]
    matrix = _unit(rng, 40, 8)
    index = VectorIndex("m", 8)
    index.add(ids, matrix)
    most = frozenset(ids[5:])  # masked (more than a quarter of the rows)
    every = frozenset(ids) | {"unknown"}  # allows every row
    live_ids, live_matrix = ids, matrix

    def check() -> None:
        for allowed in (most, every, most, every):
            q = _unit(rng, 1, 8)[0]
            got = [pid for pid, _ in index.search(q, 12, allowed)]
            assert got == _brute(live_ids, live_matrix, q, 12, allowed)

    check()
    index.remove(["p7", "p0", "p20"])  # the last rows move into the holes
    keep = [i for i, pid in enumerate(ids) if pid not in {"p7", "p0", "p20"}]
    live_ids, live_matrix = [ids[i] for i in keep], matrix[keep]
    check()
    extra = _unit(rng, 2, 8)
    index.add(["p0", "p41"], extra)  # p0 is allowed by `every` only; p41 by neither
    live_ids, live_matrix = live_ids + ["p0", "p41"], np.vstack([live_matrix, extra])
    check()
    index.load_matrix(ids[:10], matrix[:10])
    live_ids, live_matrix = ids[:10], matrix[:10]
    check()


def test_replace_and_reload():
    index = VectorIndex("m", 3)
    index.add(["a", "b"], [[1, 0, 0], [0, 1, 0]])
    index.add(["a"], [[0, 0, 1]])  # replace, not duplicate
    assert len(index) == 2
    assert index.search([0, 0, 1], 1)[0][0] == "a"
    index.load_matrix(["c"], np.array([[1, 0, 0]], dtype=np.float32))
    assert len(index) == 1 and "a" not in index and "c" in index
    with pytest.raises(ValueError):
        index.search([1, 0], 1)
    assert index.search([1, 0, 0], 0) == []


def test_store_loads_only_one_model_and_dimension(tmp_path):
    store = SQLiteStore(tmp_path / "v.db")
    try:
        rng = np.random.default_rng(1)
        mine = [
            Prompt(content=f"mine {i}", embedding=v.tolist(), embedding_model="m", embedding_dim=4)
            for i, v in enumerate(_unit(rng, 5, 4))
        ]
        other = [
            Prompt(content="other model", embedding=_unit(rng, 1, 4)[0].tolist(), embedding_model="x", embedding_dim=4),
            Prompt(
                content="other dimension", embedding=_unit(rng, 1, 6)[0].tolist(), embedding_model="m", embedding_dim=6
            ),
            Prompt(content="no vector"),
        ]
        store.save_prompts(mine + other)
        ids, matrix = store.load_embeddings("m", 4)
        assert sorted(ids) == sorted(p.id for p in mine)
        assert matrix.shape == (5, 4) and matrix.dtype == np.float32
        by_id = dict(zip(ids, matrix))
        for p in mine:
            assert by_id[p.id].tobytes() == vector_to_blob(p.embedding)
        ids6, m6 = store.load_embeddings("m", 6)
        assert len(ids6) == 1 and m6.shape == (1, 6)
    finally:
        store.close()
