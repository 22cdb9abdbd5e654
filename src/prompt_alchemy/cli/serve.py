"""`prompt-alchemy serve`: the MCP server over stdio (desktop clients) or streamable HTTP (`/mcp`, `/health`).

The command parses and checks its options; the runtime lives in :mod:`prompt_alchemy.server.runtime`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from prompt_alchemy.cli._common import make_service, state


class Transport(str, Enum):
    stdio = "stdio"
    http = "http"


class Role(str, Enum):
    all = "all"
    api = "api"
    worker = "worker"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    transport: Transport = typer.Option(
        Transport.stdio, "--transport", help="stdio (for desktop clients) or http (streamable HTTP at /mcp)."
    ),
    host: str = typer.Option(
        None,
        "--host",
        help="HTTP: address to listen on (default: server.host, env PROMPT_ALCHEMY_SERVER__HOST, else 127.0.0.1).",
    ),
    port: int = typer.Option(
        None,
        "--port",
        help="HTTP: port to listen on, 0 picks a free one (default: server.port, env PROMPT_ALCHEMY_SERVER__PORT, "
        "else 8080).",
    ),
    schedule: bool = typer.Option(
        None,
        "--schedule/--no-schedule",
        help="Run the library's maintenance (backups, vacuum) and the nightly training beside the server "
        "(default: on for http, off for stdio, which desktop clients start and stop).",
    ),
    log_file: Path = typer.Option(None, "--log-file", help="Write logs to this file instead of stderr."),
    role: Role = typer.Option(
        Role.all,
        "--role",
        help="all: serve and run jobs (one machine); api: serve and queue jobs; worker: run queued jobs and the "
        "nightly training (api and worker need a PostgreSQL library; docs/jobs.md).",
    ),
    concurrency: int = typer.Option(2, "--concurrency", help="Worker: job items run at the same time, 1-32."),
) -> None:
    """Run the MCP server: every tool (generate_prompts, search_prompts, batch_generate, ...) over stdio or HTTP.
    In stdio mode stdout carries only protocol messages; logs go to stderr or --log-file."""
    import asyncio

    from prompt_alchemy.errors import InputError
    from prompt_alchemy.server import runtime

    if port is not None and not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {port}")
    if not 1 <= concurrency <= 32:
        raise InputError(f"--concurrency must be between 1 and 32, got {concurrency}")
    runtime.configure_logging("DEBUG" if state(ctx).debug else "INFO", log_file)
    service = make_service(ctx)
    if role is not Role.all and not service.jobs.queued:
        raise InputError(
            f"--role {role.value} needs a PostgreSQL library (storage.url) for the job queue; with "
            f"SQLite use --role all (jobs run in the server)"
        )
    host = host if host is not None else service.settings.server.host
    port = port if port is not None else service.settings.server.port
    if schedule is None:
        schedule = transport is Transport.http
    asyncio.run(
        runtime.run(service, transport.value, host, port, role=role.value, concurrency=concurrency, schedule=schedule)
    )
