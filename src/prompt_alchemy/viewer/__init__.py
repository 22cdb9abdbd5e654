"""The local web viewer (`prompt-alchemy view`): a Starlette app on 127.0.0.1 serving packaged static files (no CDN)
and small JSON routes that call the same AlchemyService methods as the CLI."""

from prompt_alchemy.viewer.app import build_app

__all__ = ["build_app"]
