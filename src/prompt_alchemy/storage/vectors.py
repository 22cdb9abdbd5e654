"""The in-memory vector index: exact cosine search with numpy over one float32 matrix per (model, dimensions).

Loaded once from the store and kept up to date on writes; vectors of different models or dimensions live in
different matrices and are never compared. Rows live in a buffer with a little spare capacity so that adding a
few vectors does not copy the whole matrix; removal moves the last row into the hole.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

#: Below this share of the index, a filtered search scores only the allowed rows instead of masking all of them.
_SUBSET_SHARE = 0.25


def _dot(matrix, q):
    """matrix @ q with numpy's own single-threaded SIMD loop rather than BLAS: the product is memory-bound, and
    multithreaded BLAS waits for its worker threads to be scheduled (milliseconds on a busy machine, even for a
    tiny matrix). Measured here: 100k x 384 in 9 ms versus 14-24 ms through BLAS."""
    import numpy as np

    return np.einsum("ij,j->i", matrix, q)


class VectorIndex:
    def __init__(self, model: str, dimensions: int) -> None:
        import numpy as np

        self.model = model
        self.dimensions = dimensions
        self._buf = np.zeros((0, dimensions), dtype=np.float32)
        self._n = 0
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        #: id(allowed) -> (allowed, its row mask, or None when it allows every row); emptied when rows move
        self._masks: dict[int, tuple[frozenset[str], Any]] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self._n

    def __contains__(self, prompt_id: str) -> bool:
        return prompt_id in self._pos

    @property
    def _matrix(self):
        return self._buf[: self._n]

    def load(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Replace the contents with (id, float32 blob) rows."""
        import numpy as np

        rows = list(rows)
        matrix = np.empty((len(rows), self.dimensions), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            matrix[i] = np.frombuffer(blob, dtype=np.float32)
        self.load_matrix([pid for pid, _ in rows], matrix)

    def load_matrix(self, ids: list[str], matrix: Any) -> None:
        """Replace the contents with `ids` and their (len(ids), dimensions) float32 matrix (taken, not copied)."""
        import numpy as np

        matrix = np.ascontiguousarray(matrix, dtype=np.float32).reshape(len(ids), self.dimensions)
        with self._lock:
            self._buf, self._n = matrix, len(ids)
            self._masks.clear()
            self._ids = list(ids)
            self._pos = {pid: i for i, pid in enumerate(self._ids)}

    def add(self, ids: list[str], vectors: Any) -> None:
        """Insert or replace vectors by id."""
        import numpy as np

        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dimensions)
        with self._lock:
            fresh = [(pid, vec) for pid, vec in zip(ids, vectors) if pid not in self._pos]
            for pid, vec in zip(ids, vectors):
                if pid in self._pos:
                    self._buf[self._pos[pid]] = vec
            if not fresh:
                return
            self._masks.clear()
            need = self._n + len(fresh)
            if need > self._buf.shape[0]:
                capacity = max(need, self._n + max(64, self._n // 8))
                grown = np.empty((capacity, self.dimensions), dtype=np.float32)
                grown[: self._n] = self._buf[: self._n]
                self._buf = grown
            for pid, vec in fresh:
                self._buf[self._n] = vec
                self._pos[pid] = self._n
                self._ids.append(pid)
                self._n += 1

    def remove(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._masks.clear()
            for pid in ids:
                i = self._pos.pop(pid, None)
                if i is None:
                    continue
                last = self._n - 1
                if i != last:
                    moved = self._ids[last]
                    self._buf[i] = self._buf[last]
                    self._ids[i] = moved
                    self._pos[moved] = i
                self._ids.pop()
                self._n -= 1

    def search(self, query: Any, k: int = 10, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The k nearest ids by cosine similarity (vectors are unit length), optionally within `allowed`."""
        import numpy as np

        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dimensions:
            raise ValueError(f"query has {q.shape[0]} dimensions, index {self.model} has {self.dimensions}")
        with self._lock:
            if not self._n or k <= 0:
                return []
            if allowed is not None and len(allowed) < _SUBSET_SHARE * self._n:
                rows = np.fromiter((self._pos[i] for i in allowed if i in self._pos), dtype=np.int64)
                if rows.size == 0:
                    return []
                scores = _dot(self._buf[rows], q)
                k = min(k, rows.size)
                top = np.argpartition(-scores, k - 1)[:k]
                top = top[np.argsort(-scores[top], kind="stable")]
                return [(self._ids[int(rows[i])], float(scores[i])) for i in top]
            scores = _dot(self._matrix, q)
            mask = None if allowed is None else self._mask(allowed)
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            k = min(k, self._n)
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            return [(self._ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def _mask(self, allowed: set[str] | frozenset[str]) -> Any:
        """Which rows `allowed` holds (None: every row). A frozenset's mask is kept until rows move: the store
        keeps one frozenset per filter (the project's, on a team server) until the next write, and testing 10,000
        ids against it costs more than the product itself."""
        import numpy as np

        kept = self._masks.get(id(allowed))
        if kept is not None and kept[0] is allowed:
            return kept[1]
        mask = np.fromiter((pid in allowed for pid in self._ids), dtype=bool, count=self._n)
        found = None if mask.all() else mask
        if isinstance(allowed, frozenset):
            if len(self._masks) >= 16:
                self._masks.clear()
            self._masks[id(allowed)] = (allowed, found)
        return found

    @property
    def nbytes(self) -> int:
        """Bytes held by the vectors (including spare capacity)."""
        return int(self._buf.nbytes)
