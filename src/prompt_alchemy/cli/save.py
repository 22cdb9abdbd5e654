"""`save NAME [TEXT|-]`: a hand-written prompt stored as the next version of a name."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import Output, ProjectOpt, print_json, run_with_service

#: The most `save NAME -` reads from stdin.
MAX_STDIN_BYTES = 8 << 20


def register(app: typer.Typer) -> None:
    app.command("save")(save)


def read_text(text: str | None) -> str:
    """The prompt text: the argument, stdin for '-', else what the user writes in $VISUAL / $EDITOR."""
    import sys

    from prompt_alchemy.errors import InputError

    if text == "-":
        data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
        if len(data) > MAX_STDIN_BYTES:
            raise InputError(f"the text on stdin is larger than {MAX_STDIN_BYTES >> 20} MiB")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("the text on stdin is not UTF-8") from None
    if text is not None:
        return text
    from prompt_alchemy.cli.library import edit_text

    return edit_text("", suffix=".md")


def save(
    ctx: typer.Context,
    name: str = typer.Argument(
        ...,
        metavar="NAME",
        help="The prompt name (movie-critic): letters, digits, '.', '_', " "'-', starting with a letter.",
    ),
    text: str = typer.Argument(
        None, metavar="[TEXT|-]", help="The prompt text; '-' reads stdin; none opens " "$VISUAL / $EDITOR."
    ),
    title: str = typer.Option(None, "--title", help="A title (default: the name)."),
    tags: list[str] = typer.Option(None, "--tag", "-t", metavar="TAG", help="A tag (repeatable)."),
    label: str = typer.Option(None, "--label", "-l", help="Also point this label of NAME at the new version."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    project: str = ProjectOpt,
) -> None:
    """Store a hand-written prompt as the next version of NAME (version 1 of a new name).

    Example: prompt-alchemy save movie-critic "You are a film critic. Review {movie} in {words} words."
    """
    content = read_text(text)
    if not content.strip():
        from prompt_alchemy.errors import InputError

        raise InputError("the prompt text is empty; nothing saved")

    async def work(service):
        out = await service.save_version(name, content, title=title, tags=tags or [])
        if label:
            out["label"] = await service.set_label(out["name"], label, version=out["version"])
        return out

    out = run_with_service(ctx, work, project=project)
    if output is Output.json:
        print_json(out)
        return
    typer.echo(
        f"saved {out['name']}@{out['version']} ({out['prompt_id']})"
        + (f"; {out['name']}@{label} -> version {out['version']}" if label else "")
    )
