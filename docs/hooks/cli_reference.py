"""MkDocs hook: the CLI reference page (cli.md), generated at build time from the Typer app, so it cannot go stale.

It walks the Click command tree that Typer builds (``typer.main.get_command``) and writes one section per command:
its usage line, its help, and a table of its arguments and options. Nothing is stored on disk; the page exists only
in the built site.
"""

from __future__ import annotations

from typing import Any

PAGE = "cli.md"
PROG = "prompt-alchemy"

INTRO = """# CLI reference

Every command of `prompt-alchemy`, generated from the program itself when this site is built. The same text is
available offline with `prompt-alchemy COMMAND --help`.

Exit codes: `0` success, `1` a runtime failure (a provider failed, an unknown ID), `2` bad usage or bad input. An
error is one line on stderr starting with `error:`; `--debug` adds logs and tracebacks (secrets masked).
See [errors and safety](safety.md).
"""


def _commands(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Every command under ``command`` (itself first), depth first in the order `--help` lists them."""
    found = [(path, command)]
    subcommands: dict[str, Any] = getattr(command, "commands", None) or {}
    for name in sorted(subcommands):
        sub = subcommands[name]
        if getattr(sub, "hidden", False):
            continue
        found.extend(_commands(sub, [*path, name]))
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _param_row(param: Any, ctx: Any) -> str | None:
    if getattr(param, "hidden", False):
        return None
    record = param.get_help_record(ctx)
    if record is None:  # an argument: Click gives arguments no help record
        name = param.make_metavar(ctx) if _takes_ctx(param.make_metavar) else param.make_metavar()
        helptext = getattr(param, "help", None) or ""
        required = "required" if param.required else "optional"
        return f"| `{_cell(name)}` | {_cell(helptext)} ({required}) |"
    names, helptext = record
    return f"| `{_cell(names)}` | {_cell(helptext)} |"


def _takes_ctx(method: Any) -> bool:
    import inspect

    return "ctx" in inspect.signature(method).parameters


def _section(path: list[str], command: Any, root_ctx: Any) -> str:
    ctx_class = type(root_ctx)
    ctx = ctx_class(command, info_name=path[-1], parent=root_ctx if len(path) > 1 else None)
    title = " ".join(path)
    level = "#" * min(len(path) + 1, 4)
    lines = [f"{level} `{title}`", ""]
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```", f"{title} {usage}".rstrip(), "```", ""]
    helptext = (command.help or "").strip()
    if helptext:
        lines += [helptext.replace("\b\n", ""), ""]
    rows = [row for row in (_param_row(p, ctx) for p in command.get_params(ctx)) if row]
    if rows:
        lines += ["| argument or option | meaning |", "|---|---|", *rows, ""]
    return "\n".join(lines)


def render() -> str:
    """The whole reference page as Markdown."""
    import typer

    from prompt_alchemy.cli import app

    root = typer.main.get_command(app)
    root_ctx = root.context_class(root, info_name=PROG)
    sections = [INTRO]
    for path, command in _commands(root, [PROG]):
        sections.append(_section(path, command, root_ctx))
    return "\n".join(sections)


def command_paths() -> list[str]:
    """Every command path, e.g. 'prompt-alchemy db backup' (the tests check each is in the built page)."""
    import typer

    from prompt_alchemy.cli import app

    return [" ".join(path) for path, _ in _commands(typer.main.get_command(app), [PROG])]


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files
