"""Help names values by their metavars, never by Python types such as <list[str]> or <list[Path]>, in every
command and subcommand."""

from __future__ import annotations

import re

import typer

from prompt_alchemy.cli import app

PYTHON_TYPE = re.compile(r"<(list|tuple|dict)\[|<Path>|<PosixPath>")


def _commands(command, path):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def test_no_python_types_in_any_help():
    root = typer.main.get_command(app)
    seen = 0
    for path, command in _commands(root, ["prompt-alchemy"]):
        ctx = command.make_context(" ".join(path), ["--help"], resilient_parsing=True)
        text = command.get_help(ctx)
        assert not PYTHON_TYPE.search(text), f"{' '.join(path)} --help:\n{text}"
        seen += 1
    assert seen > 30  # every command group was walked
    generate = typer.main.get_command(app).commands["generate"]
    text = generate.get_help(generate.make_context("generate", ["--help"], resilient_parsing=True))
    assert "--tags TAG[,TAG]" in text and "--context FILE" in text
