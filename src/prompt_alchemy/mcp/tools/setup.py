"""Setup tools: the providers the server can use, and the configuration it runs with."""

from typing import Annotated

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.mcp.tools._common import ToolContext, service, text_result, tool_errors


async def get_providers(
    ctx: ToolContext,
    check: Annotated[
        bool, Field(description="Also contact each configured provider (host reachable, key accepted).")
    ] = False,
) -> CallToolResult:
    """List the LLM providers: whether each is configured and available (and why not), its default model,
    the phases it serves, embedding support and price. With check=true each configured provider is
    contacted."""
    with tool_errors():
        rows = await service(ctx).providers_status(check=check)
    lines = []
    for row in rows:
        state = "available" if row.get("available") else f"unavailable ({row.get('reason')})"
        phases = ", ".join(f"{ph} ({info['role']})" for ph, info in (row.get("phases") or {}).items())
        line = f"- {row['name']}: {state} · model {row.get('default_model')}" + (f" · {phases}" if phases else "")
        probe = row.get("check")
        if probe:
            line += f" · check {'ok' if probe['ok'] else 'FAILED'}: {probe['detail']}"
        lines.append(line)
    return text_result({"providers": rows}, "\n".join(lines) or "no providers")


async def validate_config(ctx: ToolContext) -> CallToolResult:
    """Check the configuration file and environment the server runs with; lists every problem (unknown
    settings, bad values, unknown providers or personas, missing API keys)."""
    with tool_errors():
        config_file, problems = await service(ctx).validate_configuration()
    data = {"config_file": str(config_file), "valid": not problems, "problems": problems}
    summary = (
        f"configuration is valid ({config_file})"
        if not problems
        else f"{len(problems)} problem(s) in {config_file}:\n" + "\n".join(f"- {p}" for p in problems)
    )
    return text_result(data, summary)
