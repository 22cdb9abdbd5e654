"""The local embedder's int8 graph (embeddings/quantize.py): built from the packaged model into the cache directory,
faithful to the packaged model's vectors, rebuilt when damaged, and the same for a text whatever it is embedded with."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from testkit import AWESOME_CSV


def _csv_prompts(n: int) -> list[str]:
    with AWESOME_CSV.open(encoding="utf-8", newline="") as fh:
        return [row["prompt"] for row in csv.DictReader(fh)][:n]


def _run_graph(path, texts: list[str]) -> np.ndarray:
    """Mean-pooled, normalized vectors from an ONNX graph, one text per run (no batching effects)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from prompt_alchemy.embeddings.local import MAX_TOKENS, model_files

    tokenizer = Tokenizer.from_file(str(model_files()[1]))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = []
    for text in texts:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        hidden = session.run(
            None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        )[0]
        pooled = hidden[0].mean(axis=0)
        out.append(pooled / np.linalg.norm(pooled))
    return np.vstack(out)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def cache_env(home, cache, monkeypatch):
    """Every test here uses the module's own cache directory (after `home` has cleared PROMPT_ALCHEMY_*)."""
    monkeypatch.setenv("PROMPT_ALCHEMY_CACHE_DIR", str(cache))


@pytest.fixture
def built(cache_env):
    """(source graph, built graph), built in the module's cache directory on first use."""
    from prompt_alchemy.embeddings import quantize
    from prompt_alchemy.embeddings.local import model_files

    source = model_files()[0]
    if source is None:
        pytest.fail("the local embedding model is required (make setup)")
    return source, quantize.ensure_built(source)


def test_the_build_lands_in_the_cache_directory_and_runs_int8_matmuls(built):
    import onnx

    from prompt_alchemy.embeddings import quantize

    source, path = built
    assert path == quantize.built_path(source) and path.exists()
    assert path.parent.parent == quantize.cache_dir()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".build-")]  # no temporary left behind
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "DynamicQuantizeMatMul" in ops or "MatMulInteger" in ops, ops
    assert quantize.ensure_built(source) == path  # present: not built again
    assert path.stat().st_size < source.stat().st_size * 1.5


def test_built_vectors_agree_with_the_packaged_model(built):
    source, path = built
    texts = _csv_prompts(40) + ["cats", "write me a haiku about autumn rain"]
    reference, fast = _run_graph(source, texts), _run_graph(path, texts)
    cosine = (reference * fast).sum(axis=1)
    assert cosine.mean() >= 0.98, cosine
    assert cosine.min() >= 0.93, cosine


def test_a_damaged_build_is_rebuilt(built, monkeypatch):
    from prompt_alchemy.embeddings import local

    _, path = built
    path.write_bytes(b"not an onnx graph")
    monkeypatch.setattr(local, "_state", {})  # a fresh process: nothing loaded yet
    vectors = local.LocalEmbedder().embed_sync(["a damaged cache must not break embeddings"])
    assert vectors.shape == (1, local.DIMENSIONS)
    assert path.stat().st_size > 1_000_000


def test_many_texts_keep_their_order_and_get_the_vector_each_gets_alone():
    from prompt_alchemy.embeddings.local import LocalEmbedder

    texts = _csv_prompts(40)[::-1] + ["", "cats"]
    embedder = LocalEmbedder()
    together = embedder.embed_sync(texts)
    assert together.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # int8 activations are scaled per run, so each text runs alone: the same vector whatever it is embedded with
    alone = np.vstack([embedder.embed_sync([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_vectors_carry_meaning():
    from prompt_alchemy.embeddings.local import LocalEmbedder

    cat, kitten, taxes, sql, query = LocalEmbedder().embed_sync(
        [
            "a cat sat on the mat",
            "a kitten was resting on the rug",
            "the quarterly tax filing deadline",
            "act as a SQL terminal and answer my queries with result tables",
            "pretend to be a database console",
        ]
    )
    assert cat @ kitten > cat @ taxes + 0.2
    assert query @ sql > query @ taxes + 0.2
