"""`prompt-alchemy batch FILE`: generate prompts for many ideas, with a results file and --resume."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from prompt_alchemy.cli._common import Output, print_json, progress_bar, run_with_service, stdout_console

if TYPE_CHECKING:
    from prompt_alchemy.models import BatchReport


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)


def batch(
    ctx: typer.Context,
    file: str = typer.Argument(
        ...,
        help="Ideas: JSONL (.jsonl: {\"idea\": ..., options} per line), CSV (.csv: an 'idea' or 'prompt' column) "
        "or one idea per line; '-' reads stdin.",
    ),
    workers: int = typer.Option(2, "--workers", "-w", help="Items generated at the same time, 1-32."),
    output_file: Path = typer.Option(
        None, "--output-file", "-O", help="Results file, JSONL (default: FILE.results.jsonl)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted batch: skip the items the results file already holds."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate every item and show what would run; generate and write nothing."
    ),
    fmt: str = typer.Option(None, "--format", help="jsonl, csv or text (default: by extension, else by content)."),
    phases: str = typer.Option(
        None, "--phases", "-p", help="Default phases for items that set none (comma-separated, in order)."
    ),
    count: int = typer.Option(None, "--count", "-n", help="Default variants per phase, 1-10."),
    persona: str = typer.Option(None, "--persona", help="Default persona."),
    target_model: str = typer.Option(None, "--target-model", help="Default target model."),
    provider: str = typer.Option(None, "--provider", help="Default provider for every phase."),
    temperature: float = typer.Option(None, "--temperature", help="Default temperature for every phase, 0-2."),
    max_tokens: int = typer.Option(None, "--max-tokens", help="Default max tokens per call."),
    tags: list[str] = typer.Option(
        None, "--tags", "-t", metavar="TAG[,TAG]", help="Default tags (comma-separated, repeatable)."
    ),
    no_save: bool = typer.Option(False, "--no-save", help="Do not store the prompts in the library."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    run_async: bool = typer.Option(
        False,
        "--async",
        help="Submit the batch as a job and print its id (see 'jobs show'): on a PostgreSQL library any worker "
        "runs it; on SQLite it runs here, as a job.",
    ),
) -> None:
    """Generate prompts for every idea in FILE; per-item options override these defaults."""
    from prompt_alchemy.errors import InputError
    from prompt_alchemy.models import BatchOptions

    text = None
    if file == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no batch input on stdin; pass a FILE or pipe the ideas in")
        from prompt_alchemy.security import read_stdin_text

        text = read_stdin_text("the batch")
    results_file = output_file or Path("batch.results.jsonl" if file == "-" else f"{file}.results.jsonl")
    tag_list = [t for group in tags or [] for t in group.split(",") if t.strip()] or None
    try:
        defaults = BatchOptions(
            phases=phases,
            count=count,
            persona=persona,
            target_model=target_model,
            provider=provider,
            temperature=temperature,
            max_tokens=max_tokens,
            tags=tag_list,
        )
    except ValueError as exc:
        err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        raise InputError(
            f"invalid --{'-'.join(str(p) for p in err['loc']).replace('_', '-')}: "
            f"{err['msg'].removeprefix('Value error, ')}"
        ) from None

    if run_async:
        submit_job(ctx, file, fmt, text, defaults, not no_save, output)
        return

    async def work(service):
        items = service.read_batch_items(file, fmt, text=text)
        with progress_bar("batch", len(items)) as bar:
            on_progress = _batch_progress(bar) if bar and not dry_run else None
            return await service.batch_generate(
                items,
                workers=workers,
                defaults=defaults,
                save=not no_save,
                results_file=results_file,
                resume=resume,
                dry_run=dry_run,
                source="stdin" if file == "-" else str(file),
                progress=on_progress,
            )

    try:
        report = run_with_service(ctx, work)
    except KeyboardInterrupt:
        sys.stderr.write(
            f"interrupted; finished items are in {results_file}. Continue with: prompt-alchemy batch "
            f"{file} --output-file {results_file} --resume\n"
        )
        raise
    if output is Output.json:
        print_json(report.model_dump(mode="json"))
    else:
        render_text(report)
    if report.failed:
        sys.stderr.write(
            f"error: {report.failed} of {report.total} item(s) failed (see {report.results_file}); "
            f"run again with --resume to retry them\n"
        )
        raise typer.Exit(1)


def submit_job(
    ctx: typer.Context, file: str, fmt: str | None, text: str | None, defaults, save: bool, output: Output
) -> None:
    """`batch --async`: the items become a job (queued on PostgreSQL; run here, as a job, on SQLite)."""
    from prompt_alchemy.cli.jobs import submit

    async def work(service):
        items = service.read_batch_items(file, fmt, text=text)
        return await service.jobs.submit_batch(
            items,
            defaults=defaults,
            save=save,
            wait=not service.jobs.queued,
            source="stdin" if file == "-" else str(file),
        )

    submit(ctx, work, output)


def _batch_progress(bar):
    """Adapt the progress bar to the batch runner's per-item callback, counting failures."""
    failed = 0

    def update(result, done: int, total: int) -> None:
        nonlocal failed
        failed += result.status == "error"
        bar(done, total, f"batch · {failed} failed" if failed else "batch")

    return update


def render_text(report: BatchReport) -> None:
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("#", "status", "best", "score", "idea"):
        table.add_column(column, overflow="fold")  # long values wrap (rich folds a cell without an overflow too)
    styles = {"ok": "green", "error": "red", "skipped": "dim", "planned": "cyan"}
    for item in report.items:
        detail = item.error if item.status == "error" else " ".join(item.idea.split())[:70]
        table.add_row(
            str(item.index),
            Text(item.status, style=styles[item.status]),
            (item.best_id or "")[:8],
            f"{item.best_score:.2f}" if item.best_score is not None else "",
            Text(detail or ""),
        )
    console.print(table)
    if report.dry_run:
        planned = sum(i.status == "planned" for i in report.items)
        summary = f"dry run: {planned} of {report.total} item(s) would be generated"
        if report.skipped:
            summary += f", {report.skipped} already done"
        console.print(Text(summary + "; nothing was generated or written", style="dim"))
    else:
        console.print(
            Text(
                f"{report.generated} generated · {report.failed} failed · {report.skipped} already done"
                f" · {report.wall_ms / 1000:.1f}s · results in {report.results_file}",
                style="dim",
            )
        )
