"""`prompt-alchemy doctor`: is this installation healthy, and if not, what to do. The checks live in
prompt_alchemy.selfcheck (shared with setup's smoke check); this module only renders them."""

from __future__ import annotations

import sys

import typer

from prompt_alchemy.cli._common import Output, print_json, state

_MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    ctx: typer.Context,
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Check the installation: the local model loads and generates (in a child process, so a crash is reported),
    the embedder works, the database is sound and its migrations current, the config is valid, and each
    configured provider is reachable with its key accepted. Exit 1 when any check fails."""
    import asyncio

    from prompt_alchemy.selfcheck import run_doctor

    checks = asyncio.run(run_doctor(state(ctx).config_file))
    failed = [c for c in checks if c.failed]
    if output is Output.json:
        print_json({"ok": not failed, "checks": [c.as_dict() for c in checks]})
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            typer.echo(f"{_MARKS.get(check.status, check.status)}  {check.name:<{width}}  {check.detail}")
            if check.fix and check.status in ("fail", "warn"):
                typer.echo(f"      {'':<{width}}  fix: {check.fix}")
    if failed:
        sys.stderr.write(f"error: {len(failed)} check(s) failed: {', '.join(c.name for c in failed)}\n")
        raise typer.Exit(1)
