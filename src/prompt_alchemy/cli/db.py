"""`db stats | clear-cache | backup | restore | vacuum | copy | migrate` and the top-level `reembed`."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console

app = typer.Typer(help="Inspect and maintain the library database.", no_args_is_help=True)
OutputOpt = typer.Option(Output.text, "--output", "-o", help="text or json.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="db")
    root.command("reembed")(reembed)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command("stats")
def stats(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Counts, embeddings per model, FTS index, size on disk, migrations and last maintenance."""

    data = run_with_service(ctx, lambda service: service.db_stats())
    if output is Output.json:
        print_json(data)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    files = data["files"]
    emb = data["configured_embedding"]
    rows = [
        ("database", data["path"]),
        (
            "size",
            f"{_size(files['database'])} (+ {_size(files['database_wal'])} WAL), "
            f"{data['freelist_pages']} free pages",
        ),
        ("prompts", f"{data['prompts']} in {data['sessions']} sessions"),
        ("by phase", ", ".join(f"{k}: {v}" for k, v in data["by_phase"].items()) or "-"),
        ("by source", ", ".join(f"{k}: {v}" for k, v in data["by_source"].items()) or "-"),
        (
            "embeddings",
            "; ".join(f"{e['model']} ({e['dimensions']}-d): {e['prompts']}" for e in data["embeddings"])
            + f"; none: {data['without_embedding']}",
        ),
        ("configured", f"{emb['provider']}/{emb['model']} ({emb['dimensions']}-d)"),
        ("text index", f"{data['fts_documents']} documents"),
        ("rows", f"context {data['context_rows']}, metrics {data['metric_rows']}, feedback {data['feedback_rows']}"),
        ("migrations", ", ".join(data["migrations"])),
        ("last backup", data["maintenance"].get("backup", "never")),
        ("last vacuum", data["maintenance"].get("vacuum", "never")),
        (
            "backups",
            f"{len(data['backups'])} kept"
            + (
                f", {data['partial_backups']['files']} unfinished ({_size(data['partial_backups']['bytes'])}: "
                f"removed by the next backup)"
                if data["partial_backups"]["files"]
                else ""
            ),
        ),
        (
            "cache",
            f"{data['cache']['responses']} responses ({data['cache']['response_hits']} hits), "
            f"{data['cache']['embeddings']} embeddings",
        ),
    ]
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    stdout_console().print(table)


@app.command("clear-cache")
def clear_cache(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Forget every cached provider response and embedding (the library itself is untouched)."""

    data = run_with_service(ctx, lambda service: service.clear_cache())
    if output is Output.json:
        print_json(data)
        return
    stdout_console().print(
        f"cleared the response cache: {data['responses']} responses and " f"{data['embeddings']} embeddings"
    )


@app.command("backup")
def backup(
    ctx: typer.Context,
    path: str = typer.Argument(
        None,
        metavar="[PATH]",
        help="A file or folder (default: the backups folder beside the database, keeping storage.max_backups).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    output: Output = OutputOpt,
) -> None:
    """Copy the database with SQLite's online backup (safe while other processes use it)."""

    data = run_with_service(ctx, lambda service: service.backup_database(path, force=force))
    if output is Output.json:
        print_json(data)
        return
    typer.echo(f"backed up to {data['path']} ({_size(data['bytes'])})")
    for old in data["pruned"]:
        typer.echo(f"removed old backup {old}")
    for partial in data.get("removed_partials", []):
        typer.echo(f"removed unfinished backup {partial}")


@app.command("restore")
def restore(
    ctx: typer.Context,
    backup: str = typer.Argument(
        None,
        metavar="[BACKUP]",
        help="A backup file (default: the newest backup in the backups folder that passes its integrity check).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace the library even though it passes its integrity check."),
    output: Output = OutputOpt,
) -> None:
    """Put a backup back in place of the library (after damage). The current file is kept beside it as
    <name>.replaced-<time>; stop any server using the library first."""
    data = run_with_service(ctx, lambda service: service.restore_database(backup, force=force))
    if output is Output.json:
        print_json(data)
        return
    for skipped in data["skipped_damaged"]:
        typer.echo(f"skipped damaged backup {skipped}", err=True)
    typer.echo(
        f"restored {data['database']} from {data['restored']}"
        + (f" (the replaced file is kept as {data['previous']})" if data["previous"] else "")
    )


@app.command("vacuum")
def vacuum(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Rebuild the database file to reclaim free space (and rebuild the text index)."""

    data = run_with_service(ctx, lambda service: service.vacuum_database())
    if output is Output.json:
        print_json(data)
        return
    typer.echo(f"vacuumed: {_size(data['bytes_before'])} -> {_size(data['bytes_after'])}")


@app.command("copy")
def copy(
    ctx: typer.Context,
    to: str = typer.Option(
        ..., "--to", help="The empty library to copy into: a postgresql:// URL or a SQLite file path."
    ),
    source: str = typer.Option(None, "--from", help="The library to copy from (default: the configured one)."),
    strip_nul: bool = typer.Option(
        False,
        "--strip-nul",
        help="Remove NUL characters from the rows that hold them "
        "(PostgreSQL cannot store them; without this such a copy is refused, naming them).",
    ),
    output: Output = OutputOpt,
) -> None:
    """Copy a whole library (prompts, lineage, embeddings, context, metrics, feedback, models, labels, keys, audit
    log, cache) into an empty one: SQLite to PostgreSQL, back, or between two of either. One transaction."""

    data = run_with_service(ctx, lambda service: service.copy_database(to, source, strip_nul=strip_nul))
    if output is Output.json:
        print_json(data)
        return
    rows = sum(data["rows"].values())
    stripped = f"; NUL characters removed from {data['nul_stripped']} row(s)" if data["nul_stripped"] else ""
    typer.echo(
        f"copied {data['prompts']} prompts ({rows} rows in all) from {data['from']} to {data['to']} "
        f"in {data['wall_ms'] / 1000:.1f}s{stripped}"
    )


@app.command("migrate")
def migrate(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Apply pending schema migrations and list the applied ones."""

    data = run_with_service(ctx, lambda service: service.migrate_database())
    if output is Output.json:
        print_json(data)
        return
    if data["applied"]:
        typer.echo("applied: " + ", ".join(data["applied"]))
    typer.echo(f"schema up to date ({data['version']} migrations: {', '.join(data['migrations'])})")


def reembed(
    ctx: typer.Context,
    all_prompts: bool = typer.Option(
        False, "--all", help="Re-embed every prompt, not only those embedded by another model or dimension."
    ),
    output: Output = OutputOpt,
) -> None:
    """Re-embed stored prompts with the configured embedding model (after changing model or dimensions)."""
    from prompt_alchemy.cli._common import progress_bar

    async def work(service):
        with progress_bar("re-embedding") as on_progress:
            return await service.reembed(include_all=all_prompts, progress=on_progress)

    data = run_with_service(ctx, work)
    if output is Output.json:
        print_json(data)
        return
    typer.echo(
        f"re-embedded {data['reembedded']} prompts with {data['provider']}/{data['model']} "
        f"({data['dimensions']}-d) in {data['wall_ms'] / 1000:.1f}s"
    )
