"""`prompt-alchemy metrics`: what the tool has done, from the library and the metrics table."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"


def metrics(
    ctx: typer.Context,
    since: str = typer.Option(None, "--since", help="Only since: YYYY-MM-DD, an ISO datetime, or an age like 7d."),
    phase: str = typer.Option(None, "--phase", help="Only this phase."),
    provider: str = typer.Option(None, "--provider", help="Only this provider."),
    days: int = typer.Option(14, "--days", help="Days shown in the prompts-per-day chart (text output)."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Counts by phase, provider, model and persona; tokens and cost; latency p50/p95 per phase; provider
    response times and error rates; database size; prompts per day."""

    data = run_with_service(ctx, lambda service: service.metrics_report(since=since, phase=phase, provider=provider))
    if output is Output.json:
        print_json(data)
        return
    from rich.columns import Columns
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    prompts, totals = data["prompts"], data["totals"]
    console.print(
        f"[bold]{prompts['total']}[/bold] prompts · {totals['input_tokens']:,} input + "
        f"{totals['output_tokens']:,} output tokens · ${totals['cost_usd']:.4f} · "
        f"{totals['calls']} provider calls, {totals['failovers']} failovers · database "
        f"{data['database']['database'] / 1048576:.1f} MB"
    )

    def counts(title: str, values: dict[str, int]) -> Table:
        table = Table(title=title, title_justify="left")
        table.add_column("name")
        table.add_column("prompts", justify="right")
        for key, value in list(values.items())[:10]:
            table.add_row(Text(key), str(value))
        return table

    console.print(
        Columns(
            [
                counts("by phase", prompts["by_phase"]),
                counts("by provider", prompts["by_provider"]),
                counts("by model", prompts["by_model"]),
                counts("by persona", prompts["by_persona"]),
            ]
        )
    )
    if data["phase_latency_ms"]:
        table = Table(title="generation latency per phase", title_justify="left")
        for col in ("phase", "calls", "p50", "p95"):
            table.add_column(col, justify="left" if col == "phase" else "right")
        for name, v in data["phase_latency_ms"].items():
            table.add_row(Text(name), str(v["count"]), _ms(v["p50"]), _ms(v["p95"]))
        console.print(table)
    if data["providers"]:
        table = Table(title="providers", title_justify="left")
        for col in ("provider", "calls", "errors", "error rate", "p50", "p95"):
            table.add_column(col, justify="left" if col == "provider" else "right")
        for name, v in data["providers"].items():
            table.add_row(
                Text(name),
                str(v["calls"]),
                str(v["errors"]),
                f"{v['error_rate']:.1%}",
                _ms(v["p50_ms"]),
                _ms(v["p95_ms"]),
            )
        console.print(table)
    per_day = list(prompts["per_day"].items())[-max(days, 1) :]
    if per_day:
        peak = max(n for _, n in per_day)
        chart = Table(title="prompts per day", title_justify="left", show_header=False, box=None)
        chart.add_column()
        chart.add_column(justify="right")
        chart.add_column()
        for day, n in per_day:
            chart.add_row(day, str(n), "[cyan]" + "█" * max(1, round(30 * n / peak)) + "[/cyan]")
        console.print(chart)
