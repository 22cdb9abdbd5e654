"""Provider API keys stored the way `llm keys set` stores them: `keys.json` in the config directory, a JSON object
of provider name to key, readable and writable by its owner only (mode 0600).

The file is the lowest layer of a provider's key: the config file, then the standard environment variables
(`OPENAI_API_KEY` ...) and `PROMPT_ALCHEMY_PROVIDERS__<NAME>__API_KEY`, then flags all win over it. Keys are
never printed, logged or written anywhere else; `keys list` shows names only.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from prompt_alchemy.errors import ConfigError

FILE_NAME = "keys.json"
_NOTE_KEY = "// Note"
_NOTE = "Provider API keys for prompt-alchemy (mode 0600). Manage with 'prompt-alchemy keys set|list|remove'."


def read_keys(path: Path) -> dict[str, str]:
    """The stored keys by provider name; an absent file is no keys. A file that is not a JSON object of strings is
    a configuration error naming the file (never its content)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the keys file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ConfigError(
            f"the keys file {path} is not valid JSON; fix it or delete it and run "
            f"'prompt-alchemy keys set NAME' again"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the keys file {path} must hold a JSON object of provider name to key")
    return {str(k): v for k, v in data.items() if k != _NOTE_KEY and isinstance(v, str) and v}


def write_keys(path: Path, keys: dict[str, str]) -> None:
    """Replace the file with `keys` atomically; the file is created with mode 0600 (owner only) and never exists
    with wider permissions, even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({_NOTE_KEY: _NOTE, **dict(sorted(keys.items()))}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".keys.", suffix=".tmp", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_key(path: Path, name: str, value: str) -> None:
    write_keys(path, {**read_keys(path), name: value})


def remove_key(path: Path, name: str) -> bool:
    """Remove `name`'s key; False when none was stored."""
    keys = read_keys(path)
    if name not in keys:
        return False
    del keys[name]
    write_keys(path, keys)
    return True
