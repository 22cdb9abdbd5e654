"""One real OpenID Connect provider for the whole session: the npm package `oidc-provider` (tests/oidc/provider.mjs)
run by Node 22 on 127.0.0.1, shared by every test under tests/oidc (REST and MCP bearer tokens, the viewer's
sign-in in a real browser, each role's allowed and refused actions)."""

from __future__ import annotations

import pytest
from oidc_kit import OidcProvider


@pytest.fixture(scope="session")
def provider():
    started = OidcProvider()
    yield started
    started.stop()
