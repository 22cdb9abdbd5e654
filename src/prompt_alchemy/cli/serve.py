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


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    transport: Transport = typer.Option(Transport.stdio, "--transport", help="stdio (for desktop clients) or http (streamable HTTP at /mcp)."),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP: address to listen on."),
    port: int = typer.Option(8080, "--port", help="HTTP: port to listen on (0 picks a free one)."),
    log_file: Path = typer.Option(None, "--log-file", help="Write logs to this file instead of stderr."),
) -> None:
    """Run the MCP server: every tool (generate_prompts, search_prompts, batch_generate, ...) over stdio or HTTP.
    In stdio mode stdout carries only protocol messages; logs go to stderr or --log-file."""
    import asyncio

    from prompt_alchemy.errors import InputError
    from prompt_alchemy.server import runtime

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {port}")
    runtime.configure_logging("DEBUG" if state(ctx).debug else "INFO", log_file)
    service = make_service(ctx)
    asyncio.run(runtime.run(service, transport.value, host, port))
