"""`label set|list|rm|history`: names that point at one prompt version (`production`, `staging`)."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console

app = typer.Typer(help="Labels: a name pointing at exactly one prompt version; usable wherever an ID is.",
                  no_args_is_help=True)
OutputOpt = typer.Option(Output.text, "--output", "-o", help="text or json.")


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    prompt_id: str = typer.Argument(..., metavar="ID", help="The version to point at: an id, prefix or label."),
    name: str = typer.Argument(..., metavar="NAME", help="The label (letters, digits, '.', '_', '-')."),
    output: Output = OutputOpt,
) -> None:
    """Point a label at a version; if it points elsewhere it moves, and the move is recorded."""
    out = run_with_service(ctx, lambda service: service.set_label(prompt_id, name))
    if output is Output.json:
        print_json(out)
    elif not out["changed"]:
        typer.echo(f"{out['name']} already points at {out['prompt_id']}")
    elif out["previous_id"]:
        typer.echo(f"moved {out['name']} from {out['previous_id']} to {out['prompt_id']}")
    else:
        typer.echo(f"{out['name']} -> {out['prompt_id']}")


@app.command("list")
def list_cmd(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Every label and the version it points at."""
    labels = run_with_service(ctx, lambda service: service.list_labels())
    if output is Output.json:
        print_json({"labels": labels})
        return
    if not labels:
        typer.echo("no labels (add one with 'prompt-alchemy label set ID NAME')", err=True)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in ("label", "id", "phase", "since", "prompt"):
        table.add_column(column, overflow="fold" if column == "prompt" else None)
    for row in labels:
        flat = " ".join((row["content"] or "").split())
        table.add_row(Text(row["name"]), row["prompt_id"][:8], row["phase"] or "", row["updated_at"][:16],
                      Text(flat[:69] + "…" if len(flat) > 70 else flat))
    stdout_console().print(table)


@app.command("rm")
def rm_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The label to remove (the version is kept)."),
    output: Output = OutputOpt,
) -> None:
    """Remove a label; the version it pointed at is kept, and the removal is recorded."""
    out = run_with_service(ctx, lambda service: service.remove_label(name))
    if output is Output.json:
        print_json(out)
    else:
        typer.echo(f"removed {out['name']} (was {out['prompt_id']})")


@app.command("history")
def history_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(None, metavar="[NAME]", help="One label (default: all)."),
    limit: int = typer.Option(50, "--limit", "-n", help="How many changes, newest first."),
    output: Output = OutputOpt,
) -> None:
    """Every set, move and removal of a label, newest first."""
    rows = run_with_service(ctx, lambda service: service.label_history(name, limit))
    if output is Output.json:
        print_json({"history": rows})
        return
    for r in rows:
        where = {"set": f"-> {r['prompt_id']}", "move": f"{r['previous_id']} -> {r['prompt_id']}",
                 "remove": f"removed (was {r['previous_id']})",
                 "deleted": f"removed: version {r['previous_id']} was deleted"}[r["action"]]
        typer.echo(f"{r['created_at'][:19]}  {r['name']:<16} {where}  ({r['actor']}, {r['source']})")
