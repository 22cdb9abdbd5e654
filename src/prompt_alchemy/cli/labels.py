"""`label set|list|rm|history|protect|unprotect|versions`: labels of a prompt name (`movie-critic@production`), each
pointing at one version of that name."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import Output, ProjectOpt, print_json, run_with_service, stdout_console

app = typer.Typer(
    help="Labels of a prompt name: `production` of movie-critic points at one of its versions; use "
    "it as NAME@LABEL wherever an ID goes.",
    no_args_is_help=True,
)
OutputOpt = typer.Option(Output.text, "--output", "-o", help="text or json.")
ForceOpt = typer.Option(False, "--force", help="Move a protected label.")


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., metavar="NAME", help="The prompt name (or a prompt id, prefix or " "NAME@VERSION: its name is used)."
    ),
    label: str = typer.Argument(..., metavar="LABEL", help="The label (letters, digits, '.', '_', '-')."),
    version: int = typer.Argument(None, metavar="[VERSION]", help="The version of NAME (default: its latest).", min=1),
    force: bool = ForceOpt,
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Point a label of a name at one of its versions; if it points at another version of that name it moves, and
    the move is recorded. Labels of other names are never touched.

    Example: prompt-alchemy label set movie-critic production 7
    """
    out = run_with_service(
        ctx, lambda service: service.set_label(target, label, version=version, force=force), project=project
    )
    if output is Output.json:
        print_json(out)
        return
    where = f"{out['prompt_name']}@{out['name']}"
    if not out["changed"]:
        typer.echo(f"{where} already points at version {out['version']} ({out['prompt_id']})")
    elif out["previous_id"]:
        typer.echo(
            f"moved {where} from version {out['previous_version']} to version {out['version']} " f"({out['prompt_id']})"
        )
    else:
        typer.echo(f"{where} -> version {out['version']} ({out['prompt_id']})")


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(None, metavar="[NAME]", help="One prompt name (default: all)."),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Every label and the version it points at."""
    labels = run_with_service(ctx, lambda service: service.list_labels(name), project=project)
    if output is Output.json:
        print_json({"labels": labels})
        return
    if not labels:
        typer.echo("no labels (add one with 'prompt-alchemy label set NAME LABEL [VERSION]')", err=True)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in ("name", "label", "version", "id", "since", "prompt"):
        table.add_column(column, overflow="fold")  # long values wrap (rich folds a cell without an overflow too)
    for row in labels:
        flat = " ".join((row["content"] or "").split())
        table.add_row(
            Text(row["prompt_name"]),
            Text(row["name"] + (" (protected)" if row["protected"] else "")),
            str(row["version"]),
            row["prompt_id"][:8],
            row["updated_at"][:16],
            Text(flat[:69] + "…" if len(flat) > 70 else flat),
        )
    stdout_console().print(table)


@app.command("rm")
def rm_cmd(
    ctx: typer.Context,
    first: str = typer.Argument(
        ..., metavar="NAME", help="The prompt name (or the label, when only one name " "has it)."
    ),
    label: str = typer.Argument(None, metavar="[LABEL]", help="The label to remove (the version is kept)."),
    force: bool = ForceOpt,
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Remove a label of a name; the version it pointed at is kept, and the removal is recorded."""
    prompt_name, name = (first, label) if label else (None, first)
    out = run_with_service(
        ctx, lambda service: service.remove_label(name, prompt_name=prompt_name, force=force), project=project
    )
    if output is Output.json:
        print_json(out)
    else:
        typer.echo(f"removed {out['prompt_name']}@{out['name']} (was {out['prompt_id']})")


@app.command("history")
def history_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(None, metavar="[LABEL]", help="One label (default: all)."),
    prompt_name: str = typer.Option(None, "--name", help="Only the labels of this prompt name."),
    limit: int = typer.Option(50, "--limit", "-n", help="How many changes, newest first."),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Every set, move and removal of a label, newest first."""
    rows = run_with_service(
        ctx, lambda service: service.label_history(name, limit, prompt_name=prompt_name), project=project
    )
    if output is Output.json:
        print_json({"history": rows})
        return
    for r in rows:
        where = {
            "set": f"-> {r['prompt_id']}",
            "move": f"{r['previous_id']} -> {r['prompt_id']}",
            "remove": f"removed (was {r['previous_id']})",
            "deleted": f"removed: version {r['previous_id']} was deleted",
        }[r["action"]]
        label = f"{r['prompt_name']}@{r['name']}" if r["prompt_name"] else f"{r['name']} (global)"
        typer.echo(f"{r['created_at'][:19]}  {label:<28} {where}  ({r['actor']}, {r['source']})")


def _protect(ctx: typer.Context, label: str, protected: bool, output: Output, project: str | None) -> None:
    out = run_with_service(ctx, lambda service: service.protect_label(label, protected), project=project)
    if output is Output.json:
        print_json(out)
    else:
        state = "protected" if protected else "no longer protected"
        typer.echo(f"{out['name']} is {state}" + ("" if out["changed"] else " (unchanged)"))


@app.command("protect")
def protect_cmd(
    ctx: typer.Context,
    label: str = typer.Argument(
        ..., metavar="LABEL", help="The label, for every prompt name of the project (production)."
    ),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Protect a label: it then moves only with --force here, or with an admin key over REST and MCP."""
    _protect(ctx, label, True, output, project)


@app.command("unprotect")
def unprotect_cmd(
    ctx: typer.Context,
    label: str = typer.Argument(..., metavar="LABEL", help="The label."),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Lift a label's protection."""
    _protect(ctx, label, False, output, project)


@app.command("versions")
def versions_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The prompt name."),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Every version of a name, oldest first, with the labels pointing at each (latest is the last)."""
    out = run_with_service(ctx, lambda service: service.name_versions(name), project=project)
    if output is Output.json:
        print_json(out)
        return
    for v in out["versions"]:
        labels = list(v["labels"]) + (["latest"] if v["version"] == out["latest"] else [])
        typer.echo(f"{out['name']}@{v['version']}  {v['prompt_id']}  {v['created_at'][:16]}  " f"{', '.join(labels)}")
