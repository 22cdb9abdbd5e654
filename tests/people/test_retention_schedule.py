"""The retention purge runs on the server's own schedule: a real `serve --transport http` process with
`retention.sessions_days` and a short `retention.interval` purges an old generation session by itself, records the
run in the library (so replicas share it) and audits it, without anyone running `users purge`."""

from __future__ import annotations

import json
import time

import pytest
from testkit import Server

pytestmark = pytest.mark.e2e

OLD = "2020-01-01T00:00:00+00:00"


def test_the_server_purges_old_sessions_on_its_schedule(tmp_path):
    rows = [
        {"id": "old-session-1", "content": "An old generation's prompt.", "session_id": "old", "created_at": OLD},
        {"id": "kept-saved", "content": "A hand-saved prompt without a session.", "created_at": OLD},
    ]
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    env = {"PROMPT_ALCHEMY_RETENTION__SESSIONS_DAYS": "30", "PROMPT_ALCHEMY_RETENTION__INTERVAL": "1s"}
    server = Server(tmp_path / "home", env)
    try:
        assert server.cli("import", str(seed), "-o", "json").returncode == 0
        deadline = time.monotonic() + 30
        left: set[str] = {"old-session-1"}
        while "old-session-1" in left and time.monotonic() < deadline:
            time.sleep(0.5)
            listed = server.cli("list", "-o", "json", "--limit", "10")
            assert listed.returncode == 0, listed.stderr
            data = json.loads(listed.stdout)
            left = {p["id"] for p in (data["prompts"] if isinstance(data, dict) else data)}
        assert left == {"kept-saved"}
        audit = json.loads(server.cli("audit", "list", "--output", "json", "--action", "retention.purge").stdout)
        rows = audit["rows"] if isinstance(audit, dict) else audit
        assert rows and rows[0]["actor"] is not None
    finally:
        log = server.stop()
    assert "retention" in log
