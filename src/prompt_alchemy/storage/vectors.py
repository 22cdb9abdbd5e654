"""The in-memory vector index: exact cosine search with numpy over one float32 matrix per (model, dimensions).

Loaded once from the store and kept up to date on writes; vectors of different models or dimensions live in
different matrices and are never compared.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any


class VectorIndex:
    def __init__(self, model: str, dimensions: int) -> None:
        import numpy as np

        self.model = model
        self.dimensions = dimensions
        self._matrix = np.zeros((0, dimensions), dtype=np.float32)
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, prompt_id: str) -> bool:
        return prompt_id in self._pos

    def load(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Replace the contents with (id, float32 blob) rows."""
        import numpy as np

        rows = list(rows)
        with self._lock:
            if rows:
                buf = b"".join(blob for _, blob in rows)
                self._matrix = np.frombuffer(buf, dtype=np.float32).reshape(len(rows), self.dimensions).copy()
            else:
                self._matrix = np.zeros((0, self.dimensions), dtype=np.float32)
            self._ids = [pid for pid, _ in rows]
            self._pos = {pid: i for i, pid in enumerate(self._ids)}

    def add(self, ids: list[str], vectors: Any) -> None:
        import numpy as np

        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dimensions)
        with self._lock:
            fresh = []
            for pid, vec in zip(ids, vectors):
                if pid in self._pos:
                    self._matrix[self._pos[pid]] = vec
                else:
                    fresh.append((pid, vec))
            if fresh:
                self._matrix = np.vstack([self._matrix, np.stack([v for _, v in fresh])])
                for pid, _ in fresh:
                    self._pos[pid] = len(self._ids)
                    self._ids.append(pid)

    def remove(self, ids: Iterable[str]) -> None:
        import numpy as np

        with self._lock:
            drop = {self._pos[i] for i in ids if i in self._pos}
            if not drop:
                return
            keep = [i for i in range(len(self._ids)) if i not in drop]
            self._matrix = self._matrix[np.array(keep, dtype=np.int64)] if keep else \
                np.zeros((0, self.dimensions), dtype=np.float32)
            self._ids = [self._ids[i] for i in keep]
            self._pos = {pid: i for i, pid in enumerate(self._ids)}

    def search(self, query: Any, k: int = 10, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The k nearest ids by cosine similarity (vectors are unit length), optionally within `allowed`."""
        import numpy as np

        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dimensions:
            raise ValueError(f"query has {q.shape[0]} dimensions, index {self.model} has {self.dimensions}")
        with self._lock:
            if not self._ids:
                return []
            scores = self._matrix @ q
            if allowed is not None:
                mask = np.fromiter((pid in allowed for pid in self._ids), dtype=bool, count=len(self._ids))
                scores = np.where(mask, scores, -np.inf)
            k = min(k, len(self._ids))
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            return [(self._ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    @property
    def nbytes(self) -> int:
        return int(self._matrix.nbytes)
