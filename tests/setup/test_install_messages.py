"""Messages that name a fix name it for how prompt-alchemy was installed: `make ...` only in a repository checkout;
`prompt-alchemy local install` for the local stack elsewhere; for an optional extra (postgres, redis, otel) the pip,
pipx or uv command that adds it to this environment at the pinned versions. No message in the package spells out
`make setup` or a `pip install 'prompt-alchemy[...]'` by hand."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_alchemy import localstack
from prompt_alchemy.localstack import constraints_path, extra_command, install_method, missing_extra

PACKAGE = Path(localstack.__file__).resolve().parent
ROOT = PACKAGE.parents[1]
#: Words that only mean something in a checkout, or an extra's install spelled by hand.
CHECKOUT_ONLY = ("make setup", "make lock", "make test", "make generate", "make -C", "prompt-alchemy[")


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module that are not docstrings (f-strings' literal parts included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def checkout_only_messages(paths: list[Path]) -> list[str]:
    return [
        f"{path.name}:{line}: {text.strip()[:90]}"
        for path in paths
        for line, text in _string_constants(path)
        if any(word in text for word in CHECKOUT_ONLY)
    ]


def test_no_message_outside_localstack_names_a_checkout_command():
    modules = [p for p in PACKAGE.rglob("*.py") if p.name != "localstack.py"]
    assert len(modules) > 50
    assert checkout_only_messages(modules) == []


def test_the_scan_finds_the_judges_old_message(tmp_path):
    old = tmp_path / "judge.py"
    old.write_text(
        '"""Docs may say make setup."""\n'
        "def chain():\n"
        '    raise RuntimeError("no provider is available for the judge; add an API key, run \'make "\n'
        '                       "setup\' for the local model")\n'
        "x = f\"psycopg is missing (pip install 'prompt-alchemy[postgres]')\"\n",
        encoding="utf-8",
    )
    found = checkout_only_messages([old])
    assert len(found) == 2, found  # the implicitly joined 'make ' 'setup' is one constant; the docstring is no message


@pytest.mark.parametrize(
    "prefix,method",
    [
        ("/home/ann/.local/share/pipx/venvs/prompt-alchemy", "pipx"),
        ("/home/ann/.local/pipx/venvs/prompt-alchemy", "pipx"),
        ("/home/ann/.local/share/uv/tools/prompt-alchemy", "uv"),
        ("/home/ann/venvs/tools", "pip"),
    ],
)
def test_the_install_method_outside_a_checkout(monkeypatch, prefix, method):
    monkeypatch.setattr(localstack, "checkout_root", lambda: None)
    assert install_method(prefix) == method


def test_an_extra_is_added_the_way_the_tool_was_installed(monkeypatch):
    pinned = f'-c {constraints_path()} "prompt-alchemy[postgres]"'
    assert extra_command("postgres", "pipx") == f"pipx runpip prompt-alchemy install {pinned}"
    assert extra_command("postgres", "uv") == f"uv pip install --python {sys.executable} {pinned}"
    assert extra_command("postgres", "pip") == f"{sys.executable} -m pip install {pinned}"
    monkeypatch.chdir(ROOT)
    command = extra_command("postgres", "checkout")
    assert command.endswith(' -m pip install -c src/prompt_alchemy/data/constraints.txt -e ".[postgres]"')
    assert "make" not in command


def test_a_missing_extra_says_what_is_missing_and_the_command():
    err = ModuleNotFoundError("No module named 'redis'", name="redis")
    message = missing_extra("redis", err)
    assert message.startswith("the redis extra is not installed (redis); run '")
    assert "prompt-alchemy[redis]" in message or "[redis]" in message


def test_a_constraints_file_without_pins_says_lock_in_a_checkout_and_reinstall_elsewhere(monkeypatch):
    assert localstack.lock_hint() == "run 'make lock'"
    monkeypatch.setattr(localstack, "checkout_root", lambda: None)
    assert "make" not in localstack.lock_hint() and "reinstall" in localstack.lock_hint()


BLOCK_PSYCOPG = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg_pool"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


def test_a_postgres_url_without_the_extra_names_the_install_command(tmp_path, home, monkeypatch):
    """A real run with psycopg not importable: one error line naming the command that adds the extra, no
    traceback, no 'unexpected' error."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_PSYCOPG, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(site), *(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
        ),
        "PROMPT_ALCHEMY_HOME": str(home),
        "PROMPT_ALCHEMY_DATABASE_URL": "postgresql://alice:s3cret@127.0.0.1:9/library",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "prompt_alchemy", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: storage.url is a PostgreSQL database"), proc.stderr
    assert "the postgres extra is not installed (psycopg)" in lines[0]
    monkeypatch.chdir(tmp_path)  # the command as the child, started there, names it
    assert extra_command("postgres") in lines[0]
    assert "unexpected" not in proc.stderr and "s3cret" not in proc.stderr
