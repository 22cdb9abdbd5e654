"""`prompt-alchemy users ...` and `prompt-alchemy projects ...`: the people of a team library, their roles in
projects, a project's keys, and data rights (a person's export and erase, the retention purge).

Nothing here is needed by one person on their own machine: the CLI is the local user, who sees every project and
writes to the default one. Users appear when they first sign in to the team server (OIDC)."""

from __future__ import annotations

from pathlib import Path

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stdout_console

users_app = typer.Typer(
    help="People of a team library: roles, export and erase of a person's data, retention.", no_args_is_help=True
)
projects_app = typer.Typer(
    help="Projects: libraries within the database, each with its own prompts and keys.", no_args_is_help=True
)


def register(root: typer.Typer) -> None:
    root.add_typer(users_app, name="users")
    root.add_typer(projects_app, name="projects")


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from rich.table import Table

    table = Table()
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    stdout_console().print(table)


@users_app.command("list")
def list_users(
    ctx: typer.Context, output: Output = typer.Option(Output.text, "--output", "-o", help="text or json.")
) -> None:
    """Users who have signed in, with their roles per project."""
    rows = run_with_service(ctx, lambda s: s.people.list_users())
    if output is Output.json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no users yet: people appear when they first sign in to the team server (see docs/teams.md)")
        return
    _table(
        ("handle", "email", "roles", "created", "disabled"),
        [
            (
                u["handle"],
                u["email"] or "",
                ", ".join(f"{p}:{r}" for p, r in u["roles"].items()),
                u["created_at"][:19],
                (u["disabled_at"] or "")[:19],
            )
            for u in rows
        ],
    )


@users_app.command("role")
def role(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The user's handle, e-mail or id."),
    project: str = typer.Argument(..., help="The project."),
    role_name: str = typer.Argument(
        ..., metavar="ROLE", help="owner, admin, member, viewer, or 'none' to " "take the role away."
    ),
) -> None:
    """Give a user a role in a project (an admin's grant: the sign-in claim does not override it)."""
    result = run_with_service(
        ctx, lambda s: s.people.set_role(user, project, None if role_name == "none" else role_name)
    )
    typer.echo(f"{result['user']} in {result['project']}: {result['role'] or 'no role'}", err=True)


@users_app.command("disable")
def disable(ctx: typer.Context, user: str = typer.Argument(..., help="The user's handle, e-mail or id.")) -> None:
    """Refuse the user's tokens and keys from now on (their data stays)."""
    run_with_service(ctx, lambda s: s.people.set_disabled(user, True))
    typer.echo(f"disabled {user}", err=True)


@users_app.command("enable")
def enable(ctx: typer.Context, user: str = typer.Argument(..., help="The user's handle, e-mail or id.")) -> None:
    """Accept a disabled user again."""
    run_with_service(ctx, lambda s: s.people.set_disabled(user, False))
    typer.echo(f"enabled {user}", err=True)


@users_app.command("export")
def export(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The user's handle ('local' for the CLI's own), e-mail or id."),
    out: Path = typer.Option(None, "--out", help="Write the JSON here instead of stdout (not overwritten)."),
) -> None:
    """Everything stored about a person, as JSON: their user row and roles, prompts, ratings, keys (never
    secrets) and the audit rows of what they did."""
    if out is not None and out.exists():
        raise typer.BadParameter(f"{out} exists; choose another file", param_hint="--out")
    data = run_with_service(ctx, lambda s: s.people.export_user(user))
    if out is None:
        print_json(data)
        return
    import json

    out.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    typer.echo(
        f"wrote {len(data['prompts'])} prompts, {len(data['ratings'])} ratings, {len(data['keys'])} keys "
        f"and {len(data['audit'])} audit rows of {user} to {out}",
        err=True,
    )


@users_app.command("erase")
def erase(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The user's handle, e-mail or id."),
    keep_prompts: bool = typer.Option(
        False, "--keep-prompts", help="Keep their prompts, without their name " "(default: delete them)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Delete a person's data in one transaction: ratings, keys, roles, the user, and their prompts (or keep them
    anonymised); the audit rows they acted in stay, anonymised. The erase is audited."""
    if not yes:
        typer.confirm(f"erase everything of {user}? This cannot be undone", abort=True, err=True)
    counts = run_with_service(ctx, lambda s: s.people.erase_user(user, keep_prompts=keep_prompts))
    if output is Output.json:
        print_json(counts)
        return
    typer.echo("erased " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()), err=True)


@users_app.command("purge")
def purge(
    ctx: typer.Context,
    sessions_days: int = typer.Option(
        None, "--sessions-days", help="Purge generation sessions older than " "this (default: retention.sessions_days)."
    ),
    audit_days: int = typer.Option(
        None, "--audit-days", help="Purge audit rows older than this (default: " "retention.audit_days)."
    ),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """The retention purge: old generation sessions (prompts with a name, a label or a rating are kept) and old
    audit rows, in one transaction."""
    counts = run_with_service(ctx, lambda s: s.people.purge(sessions_days=sessions_days, audit_days=audit_days))
    if output is Output.json:
        print_json(counts)
        return
    typer.echo("purged " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()), err=True)


@projects_app.command("list")
def list_projects(
    ctx: typer.Context, output: Output = typer.Option(Output.text, "--output", "-o", help="text or json.")
) -> None:
    """Projects with their numbers of prompts and members."""
    rows = run_with_service(ctx, lambda s: s.people.list_projects())
    if output is Output.json:
        print_json(rows)
        return
    _table(
        ("project", "prompts", "members", "created"),
        [(p["id"], str(p["prompts"]), str(p["members"]), p["created_at"][:19]) for p in rows],
    )


@projects_app.command("create")
def create_project(ctx: typer.Context, name: str = typer.Argument(..., help="A slug: team-a, marketing ...")) -> None:
    """Create a project."""
    run_with_service(ctx, lambda s: s.people.create_project(name))
    typer.echo(f"created project {name}", err=True)


@projects_app.command("key")
def create_key(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="The project the key belongs to."),
    name: str = typer.Option(..., "--name", help="The key's name (the actor of what it writes)."),
    scope: str = typer.Option("read", "--scope", help="read, write or admin (at most the user's role)."),
    user: str = typer.Option(None, "--user", help="The user the key acts for (their role bounds it)."),
    rate_limit: int = typer.Option(None, "--rate-limit", help="Requests per minute for this key."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Create a key of a project and print it once (only its hash is stored)."""
    secret, row = run_with_service(
        ctx, lambda s: s.people.create_project_key(project, name, scope, user_ref=user, rate_limit=rate_limit)
    )
    if output is Output.json:
        print_json({**row, "key": secret})
        return
    typer.echo(secret)
    typer.echo(
        f"created key '{row['name']}' of project {project} (scope {row['scope']}); store it now: it is not "
        f"shown again.",
        err=True,
    )
