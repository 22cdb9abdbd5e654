"""`view`: the local web viewer on 127.0.0.1 (search, prompts with lineage, versions and diffs, ratings, labels,
metrics, generation with live phase progress)."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import make_service


def register(app: typer.Typer) -> None:
    app.command("view")(view)


def view(
    ctx: typer.Context,
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1 (0 picks a free one)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the viewer in the default web browser."),
) -> None:
    """Browse, fill, rate, label and compare prompts in a local web page (127.0.0.1 only; works offline)."""
    import asyncio

    from prompt_alchemy.errors import InputError

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {port}")
    service = make_service(ctx)

    async def serve() -> None:
        import sys
        import webbrowser

        import uvicorn

        from prompt_alchemy.viewer import build_app

        server = uvicorn.Server(
            uvicorn.Config(build_app(service), host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        task = asyncio.create_task(server.serve())
        try:
            while not server.started and not task.done():
                await asyncio.sleep(0.05)
            if server.started:
                bound = server.servers[0].sockets[0].getsockname()[1]
                url = f"http://127.0.0.1:{bound}/"
                sys.stdout.write(f"Prompt Alchemy viewer: {url}\n")
                sys.stdout.flush()
                sys.stderr.write("press Ctrl+C to stop\n")
                if open_browser:
                    webbrowser.open(url)
            await task
        finally:
            await service.aclose()
        if not server.started:
            raise InputError(f"cannot listen on 127.0.0.1:{port} (is it in use? try --port 0)")

    asyncio.run(serve())
