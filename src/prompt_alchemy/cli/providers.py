"""`prompt-alchemy providers [--check]`: each provider's status, models, embedding support and price."""

from __future__ import annotations

from typing import Any

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console


def register(app: typer.Typer) -> None:
    app.command("providers")(providers)


def providers(
    ctx: typer.Context,
    check: bool = typer.Option(
        False, "--check", help="Contact each configured provider: host reachable, key accepted (exit 1 if any fails)."
    ),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Show every provider: configured and available, default and phase-assigned models, embeddings, and price with
    its source (genai-prices, or the dated fallback table for models it does not know)."""
    rows = run_with_service(ctx, lambda service: service.providers_status(check=check))
    if output is Output.json:
        print_json(rows)
    else:
        render_text(rows, check)
    failed = [r["name"] for r in rows if (r.get("check") or {}).get("ok") is False]
    if failed:
        import sys

        sys.stderr.write(f"error: check failed for {', '.join(failed)}\n")
        raise typer.Exit(1)


def _status(row: dict[str, Any]) -> str:
    if row["available"]:
        return "available"
    return "not configured" if not row["configured"] else "unavailable"


def render_text(rows: list[dict[str, Any]], check: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False)
    for column in ("provider", "status", "default model", "phases", "embeddings", "price in/out per 1M"):
        table.add_column(column, overflow="fold")
    if check:
        table.add_column("check", overflow="fold")
    for row in rows:
        phases = ", ".join(
            phase
            + (" (fallback)" if info["role"] == "fallback" else "")
            + (f": {info['model']}" if info["model"] != row["default_model"] else "")
            for phase, info in row["phases"].items()
        )
        embed = (row["embedding_model"] or "yes") if row["embeddings"] else "no"
        if row["embedder"]:
            embed += " (in use)"
        price = row["price_per_million"]
        source = f" ({row['price_source']})" if row.get("price_source") else ""
        cells = [
            row["name"],
            _status(row),
            row["default_model"],
            phases or "-",
            embed,
            f"${price['input']:g} / ${price['output']:g}{source}" if price else "unknown",
        ]
        if check:
            outcome = row.get("check")
            cells.append(
                "skipped (not configured)"
                if outcome is None
                else ("ok: " if outcome["ok"] else "FAILED: ") + outcome["detail"]
            )
        table.add_row(*cells)
    console = stdout_console()
    console.print(table)
    for row in rows:
        if row["reason"] and (row["configured"] or row["phases"]):
            console.print(Text(f"{row['name']}: {row['reason']}", style="yellow"))
    from prompt_alchemy.providers.pricing import sources_note

    console.print(Text(sources_note(), style="dim"))
