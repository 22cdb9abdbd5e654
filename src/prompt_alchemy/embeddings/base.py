"""The embedder protocol. Vectors are float32, L2-normalized, and always travel with their model and dimension."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np


@runtime_checkable
class Embedder(Protocol):
    provider: str
    model: str
    dimensions: int

    def unavailable_reason(self) -> str | None: ...

    async def embed(self, texts: list[str]) -> np.ndarray:
        """An (n, dimensions) float32 array of unit vectors."""
        ...


def normalize(matrix: np.ndarray) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms
