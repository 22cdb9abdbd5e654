"""Provider keys the way llm users expect: `keys set openai` stores the key (from stdin or a hidden prompt) in a 0600
keys.json in the config directory, `keys list` names providers only, `keys path` prints the file, config loading
reads it and the environment wins. The team server's keys are `api-keys`; the old `keys create/revoke` still work
with a note. A real OpenAI SDK talks to the fake server on 127.0.0.1, which records the key it was sent."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers"))

from providers_testkit import fake_servers, provider_block  # noqa: E402,F401  (fixtures)

STORED = "sk-STOREDKEY-0123456789abcdefXYZ"
FROM_ENV = "sk-ENVKEY-9876543210fedcbaQRS"


def _openai_config(write_config, server) -> None:
    write_config(
        "providers:\n" + provider_block("openai", server, timeout=60.0, max_retries=0) + "\n"
        "phases:\n  prima-materia:\n    provider: openai\n    fallbacks: []\n"
    )


def _keys_sent(server) -> set[str]:
    return {r.headers.get("authorization", "").removeprefix("Bearer ") for r in server.generation_requests()}


def test_set_stores_owner_only_and_never_shows_the_key(cli, home, fake_servers, write_config):
    proc = cli("keys", "set", "openai", input=STORED + "\n")
    assert proc.returncode == 0, proc.stderr
    path = home / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["openai"] == STORED
    listed = cli("keys", "list")
    assert listed.stdout == "openai\n"
    assert json.loads(cli("keys", "list", "-o", "json").stdout) == ["openai"]
    assert cli("keys", "path").stdout == f"{path}\n"

    server = fake_servers("openai")["openai"]
    _openai_config(write_config, server)
    gen = cli("--debug", "generate", "--phases", "idea", "-n", "1", "-o", "json", "a tool that renames photos")
    assert gen.returncode == 0, gen.stderr
    assert _keys_sent(server) == {STORED}  # config loading read the file
    shown = cli("config", "show")
    outputs = [proc, listed, gen, shown, cli("keys", "path"), cli("providers")]
    for out in outputs:
        assert STORED not in out.stdout + out.stderr
    assert "keys:" in shown.stdout  # the source of the value is named, the value is not
    for db in home.rglob("*.db*"):
        assert STORED.encode() not in db.read_bytes()


def test_the_environment_wins_over_the_stored_key(cli, home, fake_servers, write_config):
    assert cli("keys", "set", "openai", input=STORED).returncode == 0
    server = fake_servers("openai")["openai"]
    _openai_config(write_config, server)
    gen = cli(
        "generate",
        "--phases",
        "idea",
        "-n",
        "1",
        "-o",
        "json",
        "a tool that renames photos",
        env={"OPENAI_API_KEY": FROM_ENV},
    )
    assert gen.returncode == 0, gen.stderr
    assert _keys_sent(server) == {FROM_ENV}
    again = cli("keys", "set", "openai", input=STORED, env={"OPENAI_API_KEY": FROM_ENV})
    assert "OPENAI_API_KEY is set in the environment and wins" in again.stderr


def test_remove_and_bad_input_change_nothing(cli, home):
    path = home / "keys.json"
    bad = cli("keys", "set", "nosuch", input=STORED)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown provider 'nosuch'") and not path.exists()
    empty = cli("keys", "set", "openai", input="")
    assert empty.returncode == 2 and "no key given" in empty.stderr and not path.exists()
    assert cli("keys", "set", "anthropic", input="sk-ant-one\n").returncode == 0
    before = path.read_bytes()
    spaced = cli("keys", "set", "openai", input="sk one two\n")
    assert spaced.returncode == 2 and path.read_bytes() == before
    assert cli("keys", "remove", "anthropic").returncode == 0
    assert cli("keys", "list", "-o", "json").stdout.strip() == "[]"
    missing = cli("keys", "remove", "anthropic")
    assert missing.returncode == 1 and "no stored key for anthropic" in missing.stderr
    path.write_text("{not json")
    broken = cli("generate", "--provider", "scripted", "x")
    assert broken.returncode == 2 and "keys file" in broken.stderr and "{not json" not in broken.stderr


def test_server_keys_moved_to_api_keys_and_the_old_spelling_still_works(cli, home):
    made = cli("api-keys", "create", "--name", "alice", "--scope", "write", "-o", "json")
    assert made.returncode == 0 and made.stderr == ""
    old = cli("keys", "create", "--name", "bob", "-o", "json")
    assert old.returncode == 0 and json.loads(old.stdout)["name"] == "bob"
    assert "now 'prompt-alchemy api-keys create'" in old.stderr
    names = sorted(r["name"] for r in json.loads(cli("api-keys", "list", "-o", "json").stdout))
    assert names == ["alice", "bob"]
    listed = cli("keys", "list", "--server", "-o", "json")
    assert sorted(r["name"] for r in json.loads(listed.stdout)) == names and "api-keys list" in listed.stderr
    revoked = cli("keys", "revoke", "bob")
    assert revoked.returncode == 0 and "api-keys revoke" in revoked.stderr
    assert [r["name"] for r in json.loads(cli("api-keys", "list", "-o", "json").stdout)] == ["alice"]
    assert not (home / "keys.json").exists()  # server keys live in the library, never in the provider key file
