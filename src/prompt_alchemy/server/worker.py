"""The worker role: run job items from the PostgreSQL queue (see prompt_alchemy.jobs.queue), and put back on the
queue the items of workers that stopped sending heartbeats. Used by `serve --role worker` and `--role all`."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import TYPE_CHECKING

from prompt_alchemy.logging_setup import get_logger

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("worker")

#: seconds between looks for the items of stopped workers
REAP_EVERY_S = 3.0


async def run_queue_worker(service: AlchemyService, *, concurrency: int, install_signal_handlers: bool) -> None:
    """Run until cancelled (or, with `install_signal_handlers`, until SIGINT/SIGTERM: running items finish)."""
    from prompt_alchemy.jobs.queue import run_worker

    app = await service.jobs.queue_app()
    name = f"{socket.gethostname()}-{os.getpid()}"
    log.info("job worker %s: %d item(s) at a time from the queue on %s", name, concurrency,
             service.loaded.database_location)
    reaper = asyncio.create_task(_reap(app))
    try:
        await run_worker(app, service.jobs, concurrency=concurrency, name=name,
                         install_signal_handlers=install_signal_handlers)
    finally:
        reaper.cancel()
        log.info("job worker %s stopped", name)


async def _reap(app: object) -> None:
    from prompt_alchemy.jobs.queue import retry_stalled

    while True:
        await asyncio.sleep(REAP_EVERY_S)
        try:
            await retry_stalled(app)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the worker
            log.warning("looking for stalled items failed: %s", exc)
