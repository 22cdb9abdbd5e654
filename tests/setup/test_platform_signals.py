"""Serving where the event loop takes no signal handlers (Windows' event loops raise NotImplementedError, and there is
no SIGALRM): the stdio MCP server that Claude Desktop starts still runs and ends when its work ends, and a stop
request does not reach for an alarm that does not exist. POSIX machines keep the handlers (tests/mcp, tests/api)."""

from __future__ import annotations

import asyncio
import signal

from prompt_alchemy.server import runtime


def _refuse(*args, **kwargs):
    raise NotImplementedError


async def test_stdio_serving_runs_when_the_loop_takes_no_signal_handlers(monkeypatch):
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "add_signal_handler", _refuse)
    monkeypatch.setattr(loop, "remove_signal_handler", _refuse)
    events: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0)
        events.append("served")

    await asyncio.wait_for(runtime.until_terminated(work(), lambda: events.append("announced")), timeout=30)
    assert events == ["announced", "served"]


async def test_a_failing_server_still_raises_without_signal_handlers(monkeypatch):
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "add_signal_handler", _refuse)
    monkeypatch.setattr(loop, "remove_signal_handler", _refuse)

    async def work() -> None:
        raise RuntimeError("stdin broke")

    try:
        await asyncio.wait_for(runtime.until_terminated(work(), lambda: None), timeout=30)
    except RuntimeError as exc:
        assert str(exc) == "stdin broke"
    else:
        raise AssertionError("the server's error was swallowed")


def test_the_exit_deadline_needs_no_alarm_where_there_is_none(monkeypatch):
    monkeypatch.delattr(signal, "SIGALRM")
    monkeypatch.setattr(runtime.arm_exit_deadline, "armed", False, raising=False)
    runtime.arm_exit_deadline()  # before: AttributeError on signal.SIGALRM
    assert runtime.arm_exit_deadline.armed is True
