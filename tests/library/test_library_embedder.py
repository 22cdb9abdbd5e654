"""The local embedder's int8 graph (embeddings/quantize.py): built from the packaged model into the cache directory,
faithful to the packaged model's vectors, rebuilt when damaged, and independent of how texts are batched."""

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
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = []
    for text in texts:
        enc = tokenizer.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.array([enc.attention_mask], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
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


def test_batched_embedding_keeps_order_and_matches_single_texts():
    from prompt_alchemy.embeddings.local import BATCH_SIZE, LocalEmbedder

    texts = _csv_prompts(3 * BATCH_SIZE + 5)[::-1] + [""]
    embedder = LocalEmbedder()
    together = embedder.embed_sync(texts)
    assert together.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    alone = np.vstack([embedder.embed_sync([t]) for t in texts[:12]])
    # int8 activations are scaled per batch, so a text's vector moves slightly with its batch mates
    cosine = (together[:12] * alone).sum(axis=1)
    assert cosine.min() >= 0.97, cosine
    # and each row is its own text's vector, not a neighbour's
    assert (together[:12] @ alone.T).argmax(axis=1).tolist() == list(range(12))
