"""Fixtures for the scale-out tests: a real redis-server and haproxy (Debian), started by the tests themselves."""

from __future__ import annotations

import pytest
from scalekit import RedisServer, find_binary


@pytest.fixture(scope="session")
def redis_binary() -> str:
    pytest.importorskip("redis")
    binary = find_binary("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server is not installed and scripts/test-services.sh could not install it "
            "(apt-get install redis-server as root)"
        )
    return binary


@pytest.fixture(scope="session")
def haproxy_binary() -> str:
    binary = find_binary("haproxy")
    if binary is None:
        pytest.skip(
            "haproxy is not installed and scripts/test-services.sh could not install it "
            "(apt-get install haproxy as root)"
        )
    return binary


@pytest.fixture
def redis_server(redis_binary, tmp_path):
    server = RedisServer(redis_binary, tmp_path / "redis")
    yield server
    server.stop()
