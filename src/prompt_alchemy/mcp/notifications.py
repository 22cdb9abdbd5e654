"""What the server tells its clients unasked: log records as `notifications/message` (at or above the level a
client set with `logging/setLevel`), `notifications/resources/updated` for the `prompt://ID` resources a client
subscribed to, and `notifications/resources/list_changed` / `notifications/prompts/list_changed` when the library
changes, whether this process or another one changed it.

One `ClientHub` per server. A middleware records each connection the first time it sends a request (and forgets
it when the connection closes), and marks the request being handled, so that a record logged while a client's
request runs (a provider failover in its generation, a retry) goes to that client only; a record logged outside
any request (a scheduled training run) goes to every client that set a level. Records are redacted
(`security.redact`) before they leave the process.

Library changes are found by polling a number that changes with every commit (`AlchemyService.library_version`)
about once a second, and right after every tool call; only then are the lists compared, and the subscribed prompts'
versions checked. Notifications use the connection's standalone channel (stdout in stdio mode, the GET stream over
HTTP); a client that has no such channel open simply does not get them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from prompt_alchemy.errors import AlchemyError, NotFoundError
from prompt_alchemy.logging_setup import LOGGER_NAME, get_logger
from prompt_alchemy.security import redact

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

log = get_logger("mcp.notifications")

# MCP log levels (RFC 5424 order) and the Python level each one admits.
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_PYTHON_LEVEL = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": 25,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 1,
    "emergency": logging.CRITICAL + 2,
}
POLL_SECONDS = 1.0
RESOURCE_URI_PREFIX = "prompt://"
MAX_LOG_TEXT = 2000
QUEUE_LIMIT = 1000  # log records waiting to be sent; more are dropped (a client that does not read must not grow us)


def mcp_level(levelno: int) -> str:
    """The MCP level of a Python log record."""
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= 25:
        return "notice"
    return "info" if levelno >= logging.INFO else "debug"


@dataclass(eq=False)
class Client:
    """One connected client: the session of its latest request (whose standalone channel is the connection's),
    the log level it asked for (None: no log notifications), and the prompt resources it subscribed to (URI ->
    the full prompt id it resolved to)."""

    session: Any
    connection: Any
    level: str | None = None
    subscriptions: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        initialized = getattr(self.connection, "initialized", None)
        return initialized is None or initialized.is_set()

    async def notify(self, notification: Any) -> None:
        try:
            await self.session.send_notification(notification)
        except Exception as exc:  # noqa: BLE001 - best effort: a gone client must not stop the others
            log.debug("notification %s not sent: %s", getattr(notification, "method", "?"), exc)


_NOT_FORWARDED = (log.name, f"{LOGGER_NAME}.http")
_current: ContextVar[Client | None] = ContextVar("prompt_alchemy_mcp_client", default=None)


class _Forward(logging.Handler):
    """Hands the package's log records to the hub (from any thread)."""

    def __init__(self, hub: ClientHub) -> None:
        super().__init__(logging.DEBUG)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_NOT_FORWARDED):
            return  # our own sending (no loops), and the HTTP access log (other clients' requests)
        try:
            self.hub.forward(record)
        except Exception:  # noqa: BLE001 - logging must never fail the caller
            pass


class ClientHub:
    """The connected clients and what they asked to be told (see the module docstring)."""

    def __init__(self, service: AlchemyService, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.service = service
        self.poll_seconds = poll_seconds
        self.clients: dict[int, Client] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[Client, types.LoggingMessageNotification]] | None = None
        self._poke: asyncio.Event | None = None
        self._handler = _Forward(self)
        self._saved_levels: dict[logging.Handler, int] = {}
        self._base_level: int | None = None
        self._version: int | None = None
        self._lists: tuple[Any, Any] | None = None
        self._versions: dict[str, tuple[str, ...] | None] = {}

    # ------------------------------------------------------------------ lifecycle

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Forward log records and watch the library while the server runs."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE_LIMIT)
        self._poke = asyncio.Event()
        tasks = [asyncio.create_task(self._send_logs()), asyncio.create_task(self._watch())]
        try:
            yield
        finally:
            for task in tasks:  # not awaited: the server's own cancellation may be under way
                task.cancel()
            self._set_log_capture(None)
            self._loop = None

    def middleware(self) -> Any:
        """The server middleware that records connections and marks the request being handled."""
        hub = self

        async def track(ctx: Any, call_next: Any) -> Any:
            client = hub.client_for(ctx)
            token = _current.set(client)
            try:
                return await call_next(ctx)
            finally:
                _current.reset(token)
                if getattr(ctx, "method", None) == "tools/call":
                    hub.poke()

        return track

    def client_for(self, ctx: Any) -> Client | None:
        session = getattr(ctx, "session", None)
        if session is None:
            return None
        connection = getattr(session, "_connection", None) or session
        client = self.clients.get(id(connection))
        if client is None:
            client = self.clients[id(connection)] = Client(session, connection)
            stack = getattr(connection, "exit_stack", None)
            if stack is not None:
                stack.callback(self._forget, id(connection))
        else:
            client.session = session
        return client

    def _forget(self, key: int) -> None:
        client = self.clients.pop(key, None)
        if client is not None and client.level is not None:
            self._set_log_capture(self._lowest_level())

    def poke(self) -> None:
        """Check the library now (after a tool call that may have changed it)."""
        if self._poke is not None:
            self._poke.set()

    # ------------------------------------------------------------------ logging

    async def set_level(self, ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        client = self.client_for(ctx)
        if client is not None:
            client.level = params.level
            self._set_log_capture(self._lowest_level())
        return types.EmptyResult()

    def _lowest_level(self) -> int | None:
        levels = [_PYTHON_LEVEL[c.level] for c in self.clients.values() if c.level]
        return min(levels) if levels else None

    def _set_log_capture(self, level: int | None) -> None:
        """Capture the package's records at `level` and above (None: stop), without changing what the
        configured handlers (stderr, the log file) write: they keep the level the logger had."""
        logger = logging.getLogger(LOGGER_NAME)
        if level is None:
            if self._base_level is not None:
                logger.removeHandler(self._handler)
                logger.setLevel(self._base_level)
                for handler, saved in self._saved_levels.items():
                    handler.setLevel(saved)
                self._saved_levels.clear()
                self._base_level = None
            return
        if self._base_level is None:
            self._base_level = logger.level
            for handler in logger.handlers:
                self._saved_levels[handler] = handler.level
                handler.setLevel(max(handler.level, logger.getEffectiveLevel()))
            logger.addHandler(self._handler)
        logger.setLevel(min(level, self._base_level or logging.WARNING))

    def forward(self, record: logging.LogRecord) -> None:
        """Queue `record` for the clients whose level admits it: the client whose request is running, else all."""
        if self._loop is None or self._queue is None:
            return
        current = _current.get()
        targets = [current] if current is not None else list(self.clients.values())
        targets = [c for c in targets if c.level and record.levelno >= _PYTHON_LEVEL[c.level]]
        if not targets:
            return
        text = redact(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__})"  # the kind of failure, never a traceback
        text = text if len(text) <= MAX_LOG_TEXT else text[: MAX_LOG_TEXT - 1] + "…"
        logger_name = record.name.removeprefix(LOGGER_NAME + ".") or LOGGER_NAME
        notification = types.LoggingMessageNotification(
            params=types.LoggingMessageNotificationParams(
                level=mcp_level(record.levelno), data=text, logger=logger_name
            )
        )
        for client in targets:
            self._loop.call_soon_threadsafe(self._enqueue, client, notification)

    def _enqueue(self, client: Client, notification: types.LoggingMessageNotification) -> None:
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait((client, notification))

    async def _send_logs(self) -> None:
        assert self._queue is not None
        while True:
            client, notification = await self._queue.get()
            if client.ready:
                await client.notify(notification)

    # ------------------------------------------------------------------ subscriptions

    async def subscribe(self, ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        prompt_id = await self._resolve(uri)
        client = self.client_for(ctx)
        if client is not None:
            if prompt_id not in self._versions:  # the baseline first: a library check may run meanwhile
                versions = await self._prompt_versions(prompt_id)
                self._versions.setdefault(prompt_id, versions)
            client.subscriptions[uri] = prompt_id
        return types.EmptyResult()

    async def unsubscribe(self, ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        if not uri.startswith(RESOURCE_URI_PREFIX):
            raise MCPError(types.INVALID_PARAMS, f"Unknown resource: {uri[:120]}; subscriptions are for prompt://ID")
        client = self.client_for(ctx)
        if client is not None:  # unsubscribing twice, or from a deleted prompt, is fine
            client.subscriptions.pop(uri, None)
        return types.EmptyResult()

    async def _resolve(self, uri: str) -> str:
        if not uri.startswith(RESOURCE_URI_PREFIX) or len(uri) == len(RESOURCE_URI_PREFIX):
            raise MCPError(types.INVALID_PARAMS, f"Unknown resource: {uri[:120]}; subscriptions are for prompt://ID")
        try:
            prompt = await self.service.get_prompt(uri[len(RESOURCE_URI_PREFIX) :])
        except NotFoundError as exc:
            raise MCPError(types.INVALID_PARAMS, f"Unknown resource: {uri[:120]}: {redact(str(exc))}") from None
        except AlchemyError as exc:
            raise MCPError(types.INVALID_PARAMS, redact(str(exc))) from None
        return prompt.id

    async def _prompt_versions(self, prompt_id: str) -> tuple[str, ...] | None:
        """The ids of every version of a prompt (None once it is deleted): a new version or a deletion changes
        it."""
        try:
            return tuple(p.id for p in await self.service.history(prompt_id))
        except NotFoundError:
            return None

    # ------------------------------------------------------------------ the library watch

    async def _watch(self) -> None:
        assert self._poke is not None
        with contextlib.suppress(Exception):
            self._version = await self.service.library_version()
            self._lists = await self._list_fingerprints()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.poll_seconds)
            poked = self._poke.is_set()
            self._poke.clear()
            if not self.clients:
                continue
            try:
                version = await self.service.library_version()
                if poked or version != self._version:
                    self._version = version
                    await self.check_library()
            except Exception as exc:  # noqa: BLE001 - the watch goes on; the next round tries again
                log.debug("library check failed: %s", exc)

    async def _list_fingerprints(self) -> tuple[Any, Any]:
        """What the clients' resource and prompt lists are made of: the library's size and most recent ids, and
        the published prompts' names."""
        from prompt_alchemy.mcp.prompts import list_stored_prompts

        recent = await self.service.list_prompts(limit=100)
        listed = (await self.service.count_prompts(), tuple(p.id for p in recent))
        prompts = tuple(
            (p.name, tuple(a.name for a in p.arguments or ())) for p in await list_stored_prompts(self.service)
        )
        return listed, prompts

    async def check_library(self) -> None:
        """Compare the lists and the subscribed prompts with what the clients last saw; notify the changes."""
        lists = await self._list_fingerprints()
        previous, self._lists = self._lists, lists
        ready = [c for c in list(self.clients.values()) if c.ready]
        if previous is not None and lists[0] != previous[0]:
            for client in ready:
                await client.notify(types.ResourceListChangedNotification())
        if previous is not None and lists[1] != previous[1]:
            for client in ready:
                await client.notify(types.PromptListChangedNotification())
        watched = {pid for c in ready for pid in c.subscriptions.values()}
        changed = set()
        for prompt_id in watched:
            versions = await self._prompt_versions(prompt_id)
            if versions != self._versions.get(prompt_id):
                self._versions[prompt_id] = versions
                changed.add(prompt_id)
        for client in ready:
            for uri, prompt_id in list(client.subscriptions.items()):
                if prompt_id in changed:
                    await client.notify(
                        types.ResourceUpdatedNotification(params=types.ResourceUpdatedNotificationParams(uri=uri))
                    )


def install(server: Any, service: AlchemyService) -> ClientHub:
    """Serve `logging/setLevel`, `resources/subscribe` and `resources/unsubscribe` on `server` (an MCPServer)
    and track its clients; the caller runs `hub.running()` in the server's lifespan."""
    hub = ClientHub(service)
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("logging/setLevel", types.SetLevelRequestParams, hub.set_level)
    lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, hub.subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, hub.unsubscribe)
    server.middleware.append(hub.middleware())
    # Announce the list_changed notifications in the capabilities (the SDK's default options do not).
    from mcp.server.lowlevel.server import NotificationOptions

    create = lowlevel.create_initialization_options

    def create_initialization_options(notification_options: Any = None, *args: Any, **kwargs: Any) -> Any:
        return create(
            notification_options or NotificationOptions(prompts_changed=True, resources_changed=True), *args, **kwargs
        )

    lowlevel.create_initialization_options = create_initialization_options
    return hub
