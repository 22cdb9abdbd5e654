"""The server's learning loop: it picks up models trained elsewhere and trains at `learning.schedule`.

It runs as an asyncio task beside the server (`prompt-alchemy serve`). Every few seconds it asks when training
last ran; when that changed, another process trained (a replica, cron, `prompt-alchemy train`) and this
server's ranker switches to the model now active. When the day's scheduled time comes it trains, once across
replicas (see :meth:`LearningService.scheduled_train`); when the server was down at that time and training has
run before, it makes up the missed run on start (like anacron). When to train is computed in
:mod:`prompt_alchemy.ranking.schedule`, which also installs the cron entry for CLI-only users.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.ranking.schedule import Clock, is_due, local_now, next_slot

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("schedule")

#: Seconds between looks at when training last ran: how soon a model trained elsewhere is used here.
REFRESH_SECONDS = 5.0


async def run_learning_loop(
    service: AlchemyService,
    *,
    clock: Clock | None = None,
    poll: float = REFRESH_SECONDS,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Run until cancelled: refresh the ranker's model when another process trained, and train when
    `learning.schedule` comes. `clock` returns the current local time (aware); the loop wakes at least every
    `poll` seconds, so a clock that jumps (a test's, or a suspended laptop's) is noticed. A failed or skipped run
    is logged and counts as the night's attempt; nothing here ever stops the server."""
    clock = clock or local_now
    cfg = service.settings.learning
    if not cfg.enabled:
        log.info("learning is off (learning.enabled: false): no scheduled training, no model refresh")
        return
    started = clock()
    ran_at: datetime | None = None
    try:
        seen = await service.last_training_attempt()
    except Exception as exc:  # noqa: BLE001
        log.warning("learning loop: cannot read when training last ran: %s", exc)
        seen = None
    if cfg.schedule:
        log.info(
            "scheduled training at %s local time; next at %s",
            cfg.schedule,
            next_slot(started, cfg.schedule).isoformat(timespec="minutes"),
        )
    while True:
        now = clock()
        try:
            last = await service.last_training_attempt()
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the loop
            log.warning("learning loop: cannot read when training last ran: %s", exc)
            await sleep(poll)
            continue
        if last != seen:  # another process trained: use its model
            seen = last
            await service.refresh_learned_model()
        if not cfg.schedule:
            await sleep(poll)
            continue
        if ran_at is not None and (last is None or last < ran_at):
            last = ran_at  # the attempt could not be recorded: do not repeat it
        if is_due(now, cfg.schedule, last, started):
            await service.scheduled_train(now, partial(is_due, now, cfg.schedule, started=started))
            ran_at = now
            continue
        wait = (next_slot(now, cfg.schedule) - now).total_seconds()
        await sleep(max(0.0, min(poll, wait)))
