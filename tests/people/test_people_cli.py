"""Data rights through the real CLI on SQLite and PostgreSQL: with no users at all the CLI is the local user, whose
data `users export local` writes; `users erase` leaves no row of a person's; `users purge` applies the retention
setting; bad input changes nothing."""

from __future__ import annotations

import json

import pytest
from testkit import SCRIPTED, parse_json

pytestmark = pytest.mark.e2e


def _rows(*ids: str, **extra: str) -> str:
    return "".join(
        json.dumps({"id": i, "content": f"Prompt {i}: explain the tide tables to a sailor.", **extra}) + "\n"
        for i in ids
    )


def test_local_user_export_and_erase_with_nothing_set_up(backend, cli, tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(_rows("mine-0001", "mine-0002"), encoding="utf-8")
    assert cli("import", str(path)).returncode == 0
    assert cli("rate", "mine-0001", "5", env=SCRIPTED).returncode == 0

    out = tmp_path / "export.json"
    proc = cli("users", "export", "local", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {p["id"] for p in data["prompts"]} == {"mine-0001", "mine-0002"}
    assert [r["rating"] for r in data["ratings"]] == [5]
    assert {"import", "rate"} <= {r["action"] for r in data["audit"]}
    again = cli("users", "export", "local", "--out", str(out))
    assert again.returncode == 2 and again.stderr.startswith("error:") and "exists" in again.stderr

    missing = cli("users", "erase", "nobody", "--yes")
    assert missing.returncode != 0 and "no user 'nobody'" in missing.stderr
    assert parse_json(cli("list", "--output", "json"))["total"] == 2  # nothing changed

    counts = parse_json(cli("users", "erase", "local", "--yes", "--output", "json"))
    assert counts["prompts"] == 2 and counts["ratings"] == 1 and counts["audit_rows_anonymised"] >= 2
    left = parse_json(cli("users", "export", "local"))
    assert left["prompts"] == [] and left["ratings"] == [] and left["keys"] == []
    assert [r["action"] for r in left["audit"]] == ["user.erase"]  # this export is audited after it reads


def test_retention_setting_purges_old_sessions_and_audit(backend, cli, tmp_path, write_config):
    path = tmp_path / "old.jsonl"
    path.write_text(
        _rows("old-0001", "old-0002", session_id="s-old", created_at="2020-01-01T00:00:00+00:00")
        + _rows("new-0001", session_id="s-new"),
        encoding="utf-8",
    )
    assert cli("import", str(path)).returncode == 0
    assert parse_json(cli("users", "purge", "--output", "json")) == {"prompts": 0, "metrics": 0, "audit_rows": 0}
    write_config("retention:\n  sessions_days: 30\n  audit_days: 3650\n")
    counts = parse_json(cli("users", "purge", "--output", "json"))
    assert counts["prompts"] == 2
    assert [p["id"] for p in parse_json(cli("list", "--output", "json"))["prompts"]] == ["new-0001"]
    bad = cli("users", "purge", "--sessions-days", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
