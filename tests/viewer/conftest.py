"""The `viewer` fixture: one real `prompt-alchemy view` process per test module over a small seeded library in its
own home (see viewer_kit). Tests only add ratings to SCRATCH, so every other prompt stays as seeded."""

from __future__ import annotations

import pytest
from viewer_kit import start_viewer


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    yield from start_viewer(tmp_path_factory.mktemp("viewer-home"))
