"""`prompt-alchemy api-keys create|list|revoke`: API keys for the team server's REST API and MCP over HTTP.

A key is shown once, when created; the library stores only a salted hash of it. (Provider keys, such as your
OpenAI key, are `prompt-alchemy keys set NAME`.)"""

from __future__ import annotations

from enum import Enum

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console

app = typer.Typer(
    help="API keys for the team server (REST API and MCP over HTTP); provider keys are 'keys'.", no_args_is_help=True
)


class Scope(str, Enum):
    read = "read"
    write = "write"
    admin = "admin"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="api-keys")


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Who uses the key; recorded as the actor of what it writes."),
    scope: Scope = typer.Option(
        Scope.read,
        "--scope",
        help="read (GET routes), write (also generate, edit, rate, " "import, train; MCP), admin (also the audit log).",
    ),
    rate_limit: int = typer.Option(
        None, "--rate-limit", help="Requests per minute for this key (default: " "server.rate_limit_per_minute)."
    ),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Create a key and print it once: it cannot be shown again (only its hash is stored)."""
    secret, row = run_with_service(ctx, lambda s: s.create_key(name, scope.value, rate_limit))
    if output is Output.json:
        print_json({**row, "key": secret})
        return
    typer.echo(secret)
    typer.echo(
        f"created key '{row['name']}' (id {row['id']}, scope {row['scope']}); store it now: it is not "
        f"shown again. Send it as 'Authorization: Bearer <key>'.",
        err=True,
    )


@app.command("list")
def list_keys(
    ctx: typer.Context,
    include_revoked: bool = typer.Option(False, "--all", help="Include revoked keys."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """The keys (never their secrets): id, name, scope, rate limit, when created and revoked."""
    rows = run_with_service(ctx, lambda s: s.list_keys(include_revoked))
    if output is Output.json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no API keys (create one with 'prompt-alchemy api-keys create --name NAME --scope read')")
        return
    from rich.table import Table

    table = Table()
    for col in ("id", "name", "scope", "rate limit", "created", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            r["scope"],
            str(r["rate_limit"] or "default"),
            r["created_at"][:19],
            (r["revoked_at"] or "")[:19],
        )
    stdout_console().print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key's name or id."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Revoke a key: every request with it is refused from now on."""
    row = run_with_service(ctx, lambda s: s.revoke_key(key))
    if output is Output.json:
        print_json(row)
        return
    typer.echo(f"revoked key '{row['name']}' (id {row['id']})")
