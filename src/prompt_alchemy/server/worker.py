"""The worker role: run job items from the PostgreSQL queue (see prompt_alchemy.jobs.queue), and put back on the
queue the items of workers that stopped sending heartbeats. Used by `serve --role worker` and `--role all`."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prompt_alchemy.logging_setup import get_logger

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("worker")


async def run_queue_worker(service: AlchemyService, *, concurrency: int, install_signal_handlers: bool) -> None:
    """Run until cancelled (or, with `install_signal_handlers`, until SIGINT/SIGTERM: running items finish)."""
    from prompt_alchemy.jobs.queue import run_worker

    app = await service.jobs.queue_app()
    name = f"{socket.gethostname()}-{os.getpid()}"
    log.info(
        "job worker %s: %d item(s) at a time from the queue on %s", name, concurrency, service.loaded.database_location
    )
    stalled_after = service.settings.server.worker_stalled_after
    reaper = asyncio.create_task(_reap(app, stalled_after))
    try:
        await run_worker(
            app,
            service.jobs,
            concurrency=concurrency,
            name=name,
            install_signal_handlers=install_signal_handlers,
            stalled_after=stalled_after,
        )
    finally:
        reaper.cancel()
        log.info("job worker %s stopped", name)


async def _reap(app: object, stalled_after: float) -> None:
    """Every third of `stalled_after`: put the items of stopped workers back on the queue."""
    from prompt_alchemy.jobs.queue import retry_stalled

    while True:
        await asyncio.sleep(stalled_after / 3)
        try:
            await retry_stalled(app, stalled_after)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the worker
            log.warning("looking for stalled items failed: %s", exc)


async def serve_probes(service: AlchemyService, worker: asyncio.Task[None], host: str, port: int) -> None:
    """The worker's own HTTP: /livez (the worker runs), /readyz (the queue's database answers) and /metrics (the
    queue depth), until `worker` ends. Signals are left to the worker (it finishes its running items)."""
    import contextlib

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from prompt_alchemy import telemetry
    from prompt_alchemy.server.runtime import _listen

    telemetry.enable_metrics()

    async def livez(request: Request) -> Response:
        alive = not worker.done()
        return JSONResponse({"status": "ok" if alive else "stopped"}, status_code=200 if alive else 503)

    async def readyz(request: Request) -> Response:
        try:
            depth = await asyncio.wait_for(service.jobs.queue_depth(), 5)
        except Exception as exc:  # noqa: BLE001 - a probe reports, never raises
            log.warning("/readyz: the job queue's database is not ready: %s", exc or type(exc).__name__)
            return JSONResponse({"status": "unavailable", "checks": {"database": "unavailable"}}, status_code=503)
        telemetry.observe_queue_depth(depth)
        return JSONResponse({"status": "ok", "checks": {"database": "ok"}})

    async def metrics(request: Request) -> Response:
        with contextlib.suppress(Exception):
            telemetry.observe_queue_depth(await service.jobs.queue_depth())
        body, media = await asyncio.to_thread(telemetry.render_metrics)
        return Response(body, media_type=media)

    app = Starlette(routes=[Route("/livez", livez), Route("/readyz", readyz), Route("/metrics", metrics)])

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the worker handles SIGINT/SIGTERM

    sock = _listen(host, port)
    server = _Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("worker probes on http://%s:%d (/livez, /readyz, /metrics)", host, sock.getsockname()[1])
    try:
        await asyncio.wait({worker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        await asyncio.wait({serving}, timeout=5)
