"""`prompt-alchemy jobs list|show|cancel|retry`: long work (batch, optimize, train, async generate) as jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console

if TYPE_CHECKING:
    from prompt_alchemy.jobs.models import JobInfo
    from prompt_alchemy.services import AlchemyService

jobs_app = typer.Typer(
    help="Jobs: batch, optimize, train and --async generate runs, with status and progress.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: str = typer.Option(None, "--status", help="queued, running, succeeded, failed or cancelled."),
    limit: int = typer.Option(50, "--limit", help="At most this many, newest first (1-1000)."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """List jobs, newest first."""
    jobs = run_with_service(ctx, lambda svc: svc.jobs.list_jobs(status=status, limit=limit))
    if output is Output.json:
        print_json({"count": len(jobs), "jobs": [j.model_dump(mode="json", exclude_none=True) for j in jobs]})
    else:
        render_table(jobs)


@jobs_app.command("show")
def show(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="The job's id."),
    items: bool = typer.Option(False, "--items", help="Also each item of a batch, with its status and result."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the job is succeeded, failed or cancelled."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """A job's status, progress and result."""

    async def work(svc):
        if wait:
            await svc.jobs.wait(job_id)
        return await svc.jobs.show(job_id, items=items)

    render(run_with_service(ctx, work), output)


@jobs_app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="The job's id."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Cancel a job's items that have not started (items running now finish and are kept)."""
    render(run_with_service(ctx, lambda svc: svc.jobs.cancel(job_id)), output)


@jobs_app.command("retry")
def retry(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="The job's id."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Queue a failed or cancelled job's unfinished items again (stored items are not redone). With SQLite the
    items run now, in this process."""
    render(run_with_service(ctx, lambda svc: svc.jobs.retry(job_id, wait=not svc.jobs.queued)), output)


def submit(ctx: typer.Context, make: Callable[[AlchemyService], Awaitable[JobInfo]], output: Enum | str) -> None:
    """`--async` on batch, generate, optimize and train: `make(service)` submits the job (queued on PostgreSQL; run
    here, as a job, on SQLite); prints it; exit 1 when it failed."""
    info = run_with_service(ctx, make)
    render(info, output)
    if info.status == "failed":
        raise typer.Exit(1)


def render(info: JobInfo, output: Enum | str) -> None:
    """`output`: any --output choice; json prints the job, anything else a short text."""
    if getattr(output, "value", output) == "json":
        print_json(info.model_dump(mode="json", exclude_none=True))
        return
    console = stdout_console()
    p = info.progress
    console.print(
        f"job {info.job} · {info.kind} · {info.status} · {p.done}/{p.total} done"
        + (f" · {p.failed} failed" if p.failed else "")
        + (f" · {p.running} running" if p.running else ""),
        markup=False,
        highlight=False,
    )
    if info.error:
        console.print(f"error: {info.error}", markup=False, highlight=False)
    if info.result:
        import json

        console.print(json.dumps(info.result, ensure_ascii=False)[:2000], markup=False, highlight=False)
    for item in info.items or []:
        detail = item.error or (item.result or {}).get("best_id") or ""
        console.print(f"  {item.index:>4} {item.status:<10} {detail}", markup=False, highlight=False)


def render_table(jobs: list[JobInfo]) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("id", "kind", "status", "progress", "created"):
        table.add_column(column)
    for j in jobs:
        table.add_row(str(j.job), j.kind, j.status, f"{j.progress.done}/{j.progress.total}", j.created_at[:19])
    stdout_console().print(table)
