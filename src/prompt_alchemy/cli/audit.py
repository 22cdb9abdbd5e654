"""`prompt-alchemy audit list`: the audit log of every write (who, what, which ids, the outcome)."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console

app = typer.Typer(help="The audit log of every write.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")


@app.command("list")
def list_audit(
    ctx: typer.Context,
    actor: str = typer.Option(None, "--actor", help="Only this actor (an API key's name, or 'local')."),
    action: str = typer.Option(
        None,
        "--action",
        help="Only this action (generate, update, delete, rate, choose, " "train, import, key.create, key.revoke).",
    ),
    target: str = typer.Option(None, "--target", help="Only rows naming this id."),
    since: str = typer.Option(None, "--since", help="Only since: YYYY-MM-DD, an ISO datetime, or an age like 7d."),
    limit: int = typer.Option(50, "--limit", "-n", help="How many rows, newest first."),
    offset: int = typer.Option(0, "--offset", help="Skip this many rows."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Audit rows, newest first."""
    rows = run_with_service(
        ctx,
        lambda s: s.list_audit(actor_name=actor, action=action, target=target, since=since, limit=limit, offset=offset),
    )
    if output is Output.json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no audit rows")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for col in ("time", "actor", "action", "targets", "outcome"):
        table.add_column(col)
    for r in rows:
        targets = ", ".join(t[:8] for t in r["targets"][:4]) + (" …" if len(r["targets"]) > 4 else "")
        table.add_row(r["created_at"][:19], Text(r["actor"]), r["action"], targets, Text(r["outcome"]))
    stdout_console().print(table)
