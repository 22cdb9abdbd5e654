"""`import FILE` and `export FILE`: move prompts in and out of the library."""

from __future__ import annotations

import sys

import typer

from prompt_alchemy.cli._common import Output, print_json, progress_bar, run_with_service
from prompt_alchemy.cli.library import (
    MinRatingOpt,
    ModelOpt,
    PersonaOpt,
    PhaseOpt,
    ProviderOpt,
    SinceOpt,
    TagOpt,
    UntilOpt,
    build_filters,
)


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
    app.command("export")(export_cmd)


def import_cmd(
    ctx: typer.Context,
    path: str = typer.Argument(..., metavar="FILE", help="A .jsonl, .json or .csv file of prompts."),
    fmt: str = typer.Option(None, "--format", "-f", help="jsonl, json or csv (default: from the file name)."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Import prompts. CSV needs a 'content' (or 'prompt') column; in the awesome-chatgpt-prompts layout 'act'
    becomes the title and a tag. Rows may carry 'embedding' with 'embedding_model'. Duplicates (same content)
    are skipped; malformed rows are reported by line and skipped."""

    async def work(service):
        with progress_bar("importing") as on_progress:
            return await service.import_prompts(path, fmt, progress=on_progress)

    report = run_with_service(ctx, work)
    if output is Output.json:
        print_json(report.model_dump())
    else:
        typer.echo(
            f"imported {report.imported} of {report.rows} rows from {report.path} ({report.format}): "
            f"{report.duplicates} duplicates skipped, {report.failed} malformed, {report.embedded} embedded, "
            f"{report.wall_ms / 1000:.1f}s"
        )
    for line in report.errors:
        typer.echo(f"error: {line}", err=True)
    for line in report.warnings:
        typer.echo(f"warning: {line}", err=True)


def export_cmd(
    ctx: typer.Context,
    path: str = typer.Argument(..., metavar="FILE", help="Where to write; '-' for stdout."),
    fmt: str = typer.Option(
        None, "--format", "-f", help="jsonl, json, markdown or text (default: from the file name)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    phase: list[str] = PhaseOpt,
    provider: str = ProviderOpt,
    model: str = ModelOpt,
    persona: str = PersonaOpt,
    tag: list[str] = TagOpt,
    since: str = SinceOpt,
    until: str = UntilOpt,
    min_rating: float = MinRatingOpt,
    output: Output = typer.Option(Output.text, "--output", "-o", help="How to report the export: text or json."),
) -> None:
    """Export prompts, oldest first. JSONL and JSON keep every field (lineage, embeddings, context), so importing
    the file into an empty library reproduces it."""
    from prompt_alchemy.errors import InputError

    filters = build_filters(phase, provider, model, persona, tag, since, until, min_rating)
    if path == "-" and not fmt:
        raise InputError("give --format when exporting to stdout")
    if path == "-" and output is Output.json:
        raise InputError("--output json reports on an export to a file; with '-' the export itself is the output")

    count = run_with_service(
        ctx,
        lambda service: service.export_prompts(sys.stdout if path == "-" else path, fmt, filters=filters, force=force),
    )
    if path == "-":
        return
    if output is Output.json:
        print_json({"exported": count, "path": path})
    else:
        typer.echo(f"exported {count} prompts to {path}")
