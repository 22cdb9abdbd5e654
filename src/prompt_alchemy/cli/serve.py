"""`prompt-alchemy serve`: the MCP server over stdio (desktop clients) or streamable HTTP (`/mcp`, `/health`)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from prompt_alchemy.cli._common import make_service, state

MAINTENANCE_INTERVAL_S = 600.0


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

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {port}")
    _setup_logging("DEBUG" if state(ctx).debug else "INFO", log_file)
    service = make_service(ctx)
    asyncio.run(_run(service, transport, host, port))


def _setup_logging(level: str, log_file: Path | None) -> None:
    """The package's logs at `level`, everything else (the SDK, uvicorn) at WARNING, all to stderr or the file."""
    import logging

    from prompt_alchemy.errors import InputError
    from prompt_alchemy.observability import setup_logging
    from prompt_alchemy.security import RedactingFilter

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file.open("a").close()
        except OSError as exc:
            raise InputError(f"cannot write --log-file {log_file}: {exc.strerror}") from None
    setup_logging(level, str(log_file) if log_file else None)
    import sys

    root = logging.getLogger()
    root.handlers.clear()
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel("WARNING")


async def _run(service, transport: Transport, host: str, port: int) -> None:
    import asyncio

    from prompt_alchemy.mcp.server import build_server
    from prompt_alchemy.observability import get_logger

    log = get_logger("serve")
    server = build_server(service)
    maintenance = asyncio.create_task(_maintenance(service))
    training = asyncio.create_task(service.run_training_scheduler())  # learning (issue 6): nightly training
    try:
        if transport is Transport.stdio:
            from prompt_alchemy.mcp.stdio import run_stdio

            await _until_terminated(run_stdio(server), lambda: log.info(
                "prompt-alchemy MCP server on stdio (database %s)", service.loaded.database_path))
        else:
            await _serve_http(server, service, host, port)
    finally:
        maintenance.cancel()
        training.cancel()
        await service.aclose()
        log.info("prompt-alchemy MCP server stopped")


async def _until_terminated(work, announce) -> None:
    """Run `work` until it ends (stdin closed) or SIGTERM arrives; either way the caller's cleanup runs. `announce`
    is called once the SIGTERM handler is in place."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    announce()
    serving = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        for task in (serving, stopping):
            task.cancel()
    if serving.done() and not serving.cancelled() and serving.exception() is not None:
        raise serving.exception()


async def _maintenance(service) -> None:
    """Run the library's maintenance hook (backups, vacuum) every few minutes; it acts only when one is due."""
    import asyncio

    from prompt_alchemy.observability import get_logger

    log = get_logger("serve")
    while True:
        try:
            ran = await asyncio.to_thread(service.run_maintenance_if_due)
            if ran:
                log.info("maintenance: %s", ", ".join(ran))
        except Exception as exc:  # noqa: BLE001 - maintenance must never take the server down
            log.warning("maintenance failed: %s", exc)
        await asyncio.sleep(MAINTENANCE_INTERVAL_S)


async def _serve_http(server, service, host: str, port: int) -> None:
    import socket

    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from prompt_alchemy import __version__
    from prompt_alchemy.errors import AlchemyError
    import sys

    from prompt_alchemy.mcp.http import build_http_app, is_loopback
    from prompt_alchemy.observability import get_logger

    log = get_logger("serve")

    @server.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> JSONResponse:
        try:
            prompts = service.store.count_prompts()
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            return JSONResponse({"status": "error", "version": __version__, "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__, "server": "prompt-alchemy",
                             "transport": "streamable-http", "prompts": prompts})

    allowed_hosts = list(service.settings.server.allowed_hosts)
    app = build_http_app(server, host=host, allowed_hosts=allowed_hosts)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off only on sockets that name it, and with Nagle on,
    # a reply written in two parts (headers, then body) waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AlchemyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
                           f"or --host") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host

    def announce() -> None:
        log.info("prompt-alchemy MCP server listening on http://%s:%d/mcp (health: /health, database %s)",
                 shown, bound, service.loaded.database_path)
        if not is_loopback(host):
            checks = (f"Host/Origin limited to server.allowed_hosts ({', '.join(allowed_hosts)})" if allowed_hosts
                      else "no Host/Origin check (set server.allowed_hosts to the names clients use)")
            message = (f"listening on {host} beyond loopback without authentication: anyone who can reach this port "
                       f"can generate, read and delete prompts; {checks}; put it behind an authenticating proxy or "
                       f"bind 127.0.0.1")
            log.warning(message)
            if not _logs_to_stderr():  # impossible to miss: on stderr too when the log goes to a file
                sys.stderr.write(f"warning: {message}\n")
                sys.stderr.flush()

    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on")
    await _uvicorn_server_class(announce)(config).serve(sockets=[sock])


def _logs_to_stderr() -> bool:
    import logging
    import sys

    return any(isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr
               for h in logging.getLogger().handlers)


def _uvicorn_server_class(announce):
    import asyncio
    import contextlib
    import signal

    import uvicorn

    class _Server(uvicorn.Server):
        """Stops gracefully on SIGINT/SIGTERM and then returns, so the service is closed and the exit is clean
        (uvicorn's own handler re-raises the signal after shutdown, which skips the caller's cleanup). It announces
        itself once it serves, with those handlers in place: a SIGTERM right after the announcement stops it cleanly."""

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if not self.should_exit:
                announce()

        @contextlib.contextmanager
        def capture_signals(self):
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    return _Server
