"""The long-running server: the MCP server over stdio or streamable HTTP (`/mcp`, `/health`), with the library's
maintenance and the nightly training running beside it until stdin closes or a signal arrives.

Heavy imports (the MCP SDK, uvicorn, starlette) happen inside the functions, so importing this module is cheap.

Shutdown is bounded: on SIGTERM/SIGINT the HTTP server stops accepting, gives requests in flight (and open MCP event
streams) SHUTDOWN_GRACE_S to finish, then cancels them, closes the service and returns. If anything still holds
the process (a model call in a worker thread cannot be interrupted), the kernel ends it SHUTDOWN_DEADLINE_S after
the signal (SIGALRM, whose default action needs neither the interpreter lock nor a writable log). Logging never
blocks the event loop (server/logsink.py), so a log nobody reads cannot keep the signal from being handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prompt_alchemy.errors import AlchemyError, InputError
from prompt_alchemy.logging_setup import get_logger

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("serve")

Transport = Literal["stdio", "http"]
MAINTENANCE_INTERVAL_S = 600.0
SHUTDOWN_GRACE_S = 5.0
SHUTDOWN_DEADLINE_S = 9.0


def configure_logging(level: str, log_file: Path | None) -> None:
    """The package's logs at `level`, everything else (the SDK, uvicorn) at WARNING, all to stderr or the file.
    An unwritable `log_file` is bad input (nothing is started)."""
    from prompt_alchemy.logging_setup import setup_logging
    from prompt_alchemy.security import RedactingFilter

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file.open("a").close()
        except OSError as exc:
            raise InputError(f"cannot write --log-file {log_file}: {exc.strerror}") from None
    from prompt_alchemy.logging_setup import LOGGER_NAME
    from prompt_alchemy.server.logsink import BackgroundLogHandler

    setup_logging(level, str(log_file) if log_file else None)
    handler = BackgroundLogHandler.to_file(log_file) if log_file else BackgroundLogHandler.to_stderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root, package = logging.getLogger(), logging.getLogger(LOGGER_NAME)
    for logger in (root, package):  # one writer thread for both: the package's logs and everything else's
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
    root.setLevel("WARNING")


async def run(
    service: AlchemyService,
    transport: Transport,
    host: str,
    port: int,
    *,
    role: str = "all",
    concurrency: int = 2,
    schedule: bool = True,
) -> None:
    """Serve `service` over `transport` until stdin closes (stdio) or SIGINT/SIGTERM arrives; maintenance and the
    training schedule run beside it. The service is closed on the way out. `role`: `all` serves and (on a
    PostgreSQL library) runs queued jobs; `api` only serves; `worker` runs queued jobs and the training schedule,
    and serves nothing (see server/worker.py)."""
    if role == "worker":
        await run_worker_role(service, concurrency, probes=(host, port) if transport == "http" else None)
        return
    from prompt_alchemy.mcp.server import build_server
    from prompt_alchemy.public_errors import register_paths

    register_paths(
        {
            service.examples_dir(): "server.examples_dir",
            service.loaded.paths.data_dir: "(data folder)",
            str(service.loaded.database_path): "(database file)",
        }
    )
    server = build_server(service)
    if transport == "http":
        from prompt_alchemy import telemetry
        from prompt_alchemy.api.logs import apply_format

        apply_format(service.settings.logging.format)
        if telemetry.enable_tracing():
            log.info("OpenTelemetry traces go to %s", os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    from prompt_alchemy.server.schedule import run_learning_loop

    # `schedule` off (stdio's default: a desktop client starts and stops the process): no backups, vacuum or training
    maintenance = asyncio.create_task(run_maintenance(service)) if schedule else None
    learning = asyncio.create_task(run_learning_loop(service)) if role == "all" and schedule else None
    jobs = None
    if role == "all" and service.jobs.queued:
        from prompt_alchemy.server.worker import run_queue_worker

        jobs = asyncio.create_task(run_queue_worker(service, concurrency=concurrency, install_signal_handlers=False))
    try:
        if transport == "stdio":
            from prompt_alchemy.mcp.stdio import run_stdio

            await until_terminated(
                run_stdio(server),
                lambda: log.info("prompt-alchemy MCP server on stdio (database %s)", service.loaded.database_location),
            )
        else:
            await serve_http(server, service, host, port)
    finally:
        for task in (maintenance, learning, jobs):
            if task is not None:
                task.cancel()
        await service.aclose()
        log.info("prompt-alchemy MCP server stopped")


async def run_worker_role(service: AlchemyService, concurrency: int, *, probes: tuple[str, int] | None = None) -> None:
    """`serve --role worker`: queued jobs and the training schedule, until SIGINT/SIGTERM (running items finish);
    with `--transport http`, /livez, /readyz and /metrics on --host/--port for the orchestrator."""
    from prompt_alchemy.server.schedule import run_learning_loop
    from prompt_alchemy.server.worker import run_queue_worker, serve_probes

    maintenance = asyncio.create_task(run_maintenance(service))
    learning = asyncio.create_task(run_learning_loop(service))
    worker = asyncio.create_task(run_queue_worker(service, concurrency=concurrency, install_signal_handlers=False))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # a cancelled worker lets its running items finish
        loop.add_signal_handler(sig, worker.cancel)
    try:
        if probes is not None:
            await serve_probes(service, worker, *probes)
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    finally:
        maintenance.cancel()
        learning.cancel()
        await service.aclose()


async def until_terminated(work: Awaitable[None], announce: Callable[[], None]) -> None:
    """Run `work` until it ends (stdin closed) or SIGTERM arrives; either way the caller's cleanup runs. `announce`
    is called once the SIGTERM handler is in place."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_sigterm() -> None:
        arm_exit_deadline()
        stop.set()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        handled = True
    except NotImplementedError:  # Windows' event loops take no signal handlers: closing stdin or Ctrl+C stops it
        handled = False
    announce()
    serving = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGTERM)
        for task in (serving, stopping):
            task.cancel()
    if serving.done() and not serving.cancelled() and (error := serving.exception()) is not None:
        raise error


def arm_exit_deadline() -> None:
    """Make sure the process is gone SHUTDOWN_DEADLINE_S from now (see the module docstring). Armed once, by the
    first stop signal; only ever called in the `serve` process."""
    if getattr(arm_exit_deadline, "armed", False):
        return
    arm_exit_deadline.armed = True  # type: ignore[attr-defined]
    log.info(
        "stopping: requests in flight get %.0f s, the process ends within %.0f s", SHUTDOWN_GRACE_S, SHUTDOWN_DEADLINE_S
    )
    if hasattr(signal, "SIGALRM"):  # POSIX; Windows has no alarm, and the grace period alone applies
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(SHUTDOWN_DEADLINE_S))


async def run_maintenance(service: AlchemyService) -> None:
    """Run the library's maintenance hook (backups, vacuum, the retention purge) every few minutes (or every
    `retention.interval` when that is shorter); it acts only when one is due."""
    while True:
        try:
            ran = await service.run_maintenance_if_due()
            if ran:
                log.info("maintenance: %s", ", ".join(ran))
        except Exception as exc:  # noqa: BLE001 - maintenance must never take the server down
            log.warning("maintenance failed: %s", exc)
        await asyncio.sleep(service.maintenance_poll_seconds(MAINTENANCE_INTERVAL_S))


async def serve_http(server: Any, service: AlchemyService, host: str, port: int) -> None:
    """Serve `server` (the MCPServer) at http://host:port/mcp with /health, until SIGINT/SIGTERM."""
    import uvicorn

    from prompt_alchemy.mcp.http import build_http_app, is_loopback
    from prompt_alchemy.server.hosts import HostPolicy

    _add_health_route(server, service)
    allowed_hosts = list(service.settings.server.allowed_hosts)
    try:
        HostPolicy(allowed_hosts)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    # Host/Origin are checked in front of everything (api.app.TeamServer) with the parser of server/hosts.py
    app = build_http_app(server, host=host, allowed_hosts=allowed_hosts, host_checks=False)
    from prompt_alchemy.api import mount

    app = mount(app, service, host=host)  # the REST API, /metrics, API keys and request ids in front of /mcp
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host

    keys = len(await service.list_keys()) if app.require_auth else 0

    def announce() -> None:
        log.info(
            "prompt-alchemy MCP server listening on http://%s:%d/mcp (REST API: /api/v1, health: /health, "
            "metrics: /metrics, database %s)",
            shown,
            bound,
            service.loaded.database_location,
        )
        if app.require_auth:
            log.info("API keys are required on /api/v1 and /mcp (%d active)", keys)
            if keys == 0:
                log.warning(
                    "no API key exists: every request will be refused; create one with "
                    "'prompt-alchemy api-keys create --name NAME --scope write'"
                )
        if not is_loopback(host):
            checks = (
                f"Host/Origin limited to server.allowed_hosts ({', '.join(allowed_hosts)})"
                if allowed_hosts
                else "no Host/Origin check (set server.allowed_hosts to the names clients use)"
            )
            message = (
                f"listening on {host} beyond loopback: API keys are required, but {checks}; serve it over "
                f"TLS (a reverse proxy) so keys are not sent in the clear"
            )
            log.warning(message)
            if not _logs_to_stderr():  # impossible to miss: on stderr too when the log goes to a file
                sys.stderr.write(f"warning: {message}\n")
                sys.stderr.flush()

    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
    )
    await _uvicorn_server_class(announce)(config).serve(sockets=[sock])


def _add_health_route(server: Any, service: AlchemyService) -> None:
    """GET /health: the version and the number of stored prompts, or 503 when the database cannot answer (the
    reason goes to the log). Under the Host allow-list; the probes are /livez and /readyz (api.app)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from prompt_alchemy import __version__

    @server.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> JSONResponse:
        try:
            prompts = await service.count_prompts()
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            log.warning("/health: the database did not answer: %s", exc)
            return JSONResponse(
                {
                    "status": "error",
                    "version": __version__,
                    "error": "the database did not " "answer (the server log has the reason)",
                },
                status_code=503,
            )
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "server": "prompt-alchemy",
                "transport": "streamable-http",
                "prompts": prompts,
            }
        )


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one); a busy or unknown address is an error that
    names what to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off only on sockets that name it, and with Nagle on,
    # a reply written in two parts (headers, then body) waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AlchemyError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port " f"or --host"
        ) from None
    sock.listen(128)
    return sock


def _logs_to_stderr() -> bool:
    return any(
        getattr(h, "target", None) == "stderr"
        or (isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr)
        for h in logging.getLogger().handlers
    )


def _uvicorn_server_class(announce: Callable[[], None]) -> Any:
    import uvicorn

    class _Server(uvicorn.Server):
        """Stops gracefully on SIGINT/SIGTERM and then returns, so the service is closed and the exit is clean
        (uvicorn's own handler re-raises the signal after shutdown, which skips the caller's cleanup). It announces
        itself once it serves, with those handlers in place: a SIGTERM right after the announcement stops it
        cleanly."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            arm_exit_deadline()
            super().handle_exit(sig, frame)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                announce()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            try:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self.handle_exit, sig, None)
            except NotImplementedError:  # Windows' event loops: uvicorn's own handlers (signal.signal)
                with super().capture_signals():
                    yield
                return
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    return _Server
