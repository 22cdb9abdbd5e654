"""`rate`, `feedback list`, `train` and `learning status`: teach the ranker what a good prompt is for you."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console

OutputOpt = typer.Option(Output.text, "--output", "-o", help="text or json.")
feedback_app = typer.Typer(help="Ratings and choices you have given prompts.", no_args_is_help=True)
learning_app = typer.Typer(help="The learned ranking model.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("rate")(rate)
    app.command("train")(train)
    app.add_typer(feedback_app, name="feedback")
    app.add_typer(learning_app, name="learning")


# ------------------------------------------------------------------------------------------------ rate


def rate(
    ctx: typer.Context,
    prompt_id: str = typer.Argument(..., metavar="ID", help="The prompt's id (or a unique prefix of 4+ characters)."),
    score: int = typer.Argument(..., metavar="SCORE", help="1 (useless) to 5 (excellent)."),
    comment: str = typer.Option(None, "--comment", "-m", help="Why: kept with the rating."),
    output: Output = OutputOpt,
) -> None:
    """Rate a stored prompt from 1 to 5; ratings teach the ranker (see 'train')."""
    row = run_with_service(ctx, lambda s: s.rate(prompt_id, score, comment=comment, source="cli"))
    if output is Output.json:
        print_json(row.model_dump(mode="json"))
        return
    note = f" · {row.comment}" if row.comment else ""
    typer.echo(f"rated {row.prompt_id} {row.rating}/5{note}")


# ------------------------------------------------------------------------------------------------ feedback list


@feedback_app.command("list")
def feedback_list(
    ctx: typer.Context,
    prompt_id: str = typer.Option(None, "--prompt", metavar="ID", help="Only feedback on this prompt."),
    session: str = typer.Option(None, "--session", metavar="ID", help="Only feedback from this generation session."),
    source: str = typer.Option(None, "--source", help="Only feedback given through cli, mcp or api."),
    kind: str = typer.Option(None, "--kind", help="rating or choice."),
    since: str = typer.Option(
        None, "--since", help="Given at or after: a date (YYYY-MM-DD), a datetime or an age like 7d."
    ),
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many rows (1-1000)."),
    offset: int = typer.Option(0, "--offset", help="Skip this many rows first."),
    output: Output = OutputOpt,
) -> None:
    """Ratings and choices, newest first."""
    rows = run_with_service(
        ctx,
        lambda s: s.list_feedback(
            prompt_id, session_id=session, source=source, kind=kind, since=since, limit=limit, offset=offset
        ),
    )
    if output is Output.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        typer.echo("no feedback yet; rate a prompt with 'prompt-alchemy rate ID SCORE'", err=True)
        return
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("when", "prompt", "feedback", "source", "comment"):
        table.add_column(column, overflow="fold")
    for r in rows:
        what = f"{r.rating}/5" if r.rating is not None else "chosen" if r.chosen else "skipped"
        table.add_row(r.created_at.strftime("%Y-%m-%d %H:%M"), r.prompt_id[:8], what, r.source, r.comment or "")
    stdout_console().print(table)


# ------------------------------------------------------------------------------------------------ train


def train(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Train and validate, report, but store and adopt nothing."),
    install_schedule: bool = typer.Option(
        False,
        "--install-schedule",
        help="Add a crontab entry that trains daily at learning.schedule (other entries are kept).",
    ),
    uninstall_schedule: bool = typer.Option(
        False, "--uninstall-schedule", help="Remove that crontab entry (other entries are kept)."
    ),
    crontab_file: Path = typer.Option(
        None,
        "--crontab-file",
        metavar="FILE",
        help="With --install/--uninstall-schedule: edit this crontab file instead of yours (for containers and tests).",
    ),
    trigger: str = typer.Option("cli", "--trigger", hidden=True),
    output: Output = OutputOpt,
    run_async: bool = typer.Option(
        False,
        "--async",
        help="Run training as a job and print the job (see 'jobs show'): on a PostgreSQL library a worker runs it.",
    ),
) -> None:
    """Train the learned ranking model on your ratings and choices; it is adopted only if it ranks the held-out
    feedback better than the current ranker."""
    from prompt_alchemy.errors import InputError

    if install_schedule and uninstall_schedule:
        raise InputError("give --install-schedule or --uninstall-schedule, not both")
    if (install_schedule or uninstall_schedule) and dry_run:
        raise InputError("--dry-run trains without adopting; it does not go with --install/--uninstall-schedule")
    if crontab_file is not None and not (install_schedule or uninstall_schedule):
        raise InputError("--crontab-file goes with --install-schedule or --uninstall-schedule")
    if trigger not in ("cli", "cron"):
        raise InputError(f"unknown --trigger '{trigger}'")
    if install_schedule or uninstall_schedule:
        method = "install_training_schedule" if install_schedule else "uninstall_training_schedule"
        data = run_with_service(ctx, lambda s: getattr(s, method)(crontab_file))
        if output is Output.json:
            print_json(data)
        elif install_schedule:
            verb = "replaced" if data["replaced"] else "installed"
            typer.echo(
                f"{verb} the nightly training entry in {data['crontab']} ({data['schedule']} local time; "
                f"log: {data['log_file']})"
            )
        elif data["removed"]:
            typer.echo(f"removed the nightly training entry from {data['crontab']}")
        else:
            typer.echo(f"no training entry in {data['crontab']}; nothing changed")
        return

    if run_async:
        from prompt_alchemy.cli.jobs import submit

        submit(ctx, lambda svc: svc.jobs.submit_train(dry_run=dry_run, wait=not svc.jobs.queued), output)
        return

    async def work(service):
        return await service.train(dry_run=dry_run, trigger=trigger)

    report = run_with_service(ctx, work)
    if output is Output.json:
        print_json(report.model_dump(mode="json"))
        return
    _render_report(report)


def _render_report(report: Any) -> None:
    from rich.text import Text

    console = stdout_console()
    title = "dry run" if report.dry_run else f"model v{report.version}"
    console.print(
        Text(
            f"{title}: trained on {report.ratings} ratings and {report.choices} choices of {report.prompts} prompts "
            f"({report.train_pairs} training pairs, {report.validation_pairs} validation pairs)",
            style="bold",
        )
    )
    current = f"v{report.current_version}" if report.current_version else "rubric alone"
    console.print(
        Text(
            f"validation pairwise accuracy: with the candidate {report.candidate_accuracy:.3f} · "
            f"current ranker ({current}) {report.current_accuracy:.3f} · rubric alone "
            f"{report.baseline_accuracy:.3f} · model alone {report.model_accuracy:.3f}"
        )
    )
    console.print(Text(report.reason, style="green" if report.adopted else "yellow"))
    console.print(
        Text(
            f"trust {report.trust:.2f} = evidence {report.evidence:.2f} × confidence "
            f"{report.confidence:.2f} (fully learned ranker: {report.full_accuracy:.3f})"
        )
    )
    if report.trust > 0:
        console.print(Text("the rubric's weights with the candidate (largest changes first):"))
        for w in report.learned_weights[:8]:
            console.print(Text(f"  {w['name']}: {w['default']:g} (default) → {w['weight']:g} (learned)"))
    _render_features(console, report.top_features)


def _render_features(console: Any, features: list[dict[str, Any]]) -> None:
    from rich.text import Text

    from prompt_alchemy.render import feature_lines

    for line in feature_lines(features):
        console.print(Text(line))


# ------------------------------------------------------------------------------------------------ status


@learning_app.command("status")
def status(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """The active model (version, metrics, feedback it was trained on, the features that matter most), recent
    versions, feedback so far and the training schedule."""
    data = run_with_service(ctx, lambda s: s.learning_status())
    if output is Output.json:
        print_json(data)
        return
    from rich.text import Text

    from prompt_alchemy.render import learning_status_lines

    console = stdout_console()
    for line in learning_status_lines(data, "train with 'prompt-alchemy train'"):
        console.print(Text(line))


# ------------------------------------------------------------------------------------------------ patterns


@learning_app.command("patterns")
def patterns(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Which characteristics go with high and with low ratings (sections, length band, opening, examples,
    {variables}, persona, provider, model, target, phase), with counts and 95% intervals; nothing where the
    evidence is thin."""
    report = run_with_service(ctx, lambda s: s.learning_patterns())
    if output is Output.json:
        print_json(report.model_dump(mode="json"))
        return
    from rich.text import Text

    from prompt_alchemy.render import pattern_lines

    console = stdout_console()
    for line in pattern_lines(report):
        console.print(Text(line))
