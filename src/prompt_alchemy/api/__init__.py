"""The REST API (/api/v1) and the team server's front door (auth, rate limits, /metrics, request ids).

`mount(mcp_app, service, host=...)` returns the ASGI app the HTTP server runs: this package's routes, API keys and
observability in front of the MCP app. Heavy imports (starlette, prometheus_client) happen when it is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompt_alchemy.services import AlchemyService

__all__ = ["mount"]


def mount(mcp_app: Any, service: AlchemyService, *, host: str) -> Any:
    from prompt_alchemy.api.app import TeamServer

    return TeamServer(mcp_app, service, host=host)
