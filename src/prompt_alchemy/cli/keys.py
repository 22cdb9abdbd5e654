"""`prompt-alchemy keys set|list|remove|path`: provider API keys, stored as simonw/llm stores them.

`keys set openai` reads the key from a hidden prompt (or stdin when piped) and stores it in `keys.json` in the
config directory, mode 0600. Keys are never printed: `keys list` shows provider names only. The standard variables
(`OPENAI_API_KEY` ...) and the config file still win over the stored key.

The team server's API keys moved to `prompt-alchemy api-keys`; `keys create` and `keys revoke` (and `keys list
--server`) still work for this release, with a note on stderr.
"""

from __future__ import annotations

import sys

import typer

from prompt_alchemy.cli import api_keys
from prompt_alchemy.cli._common import Output, print_json, state

app = typer.Typer(
    help="Provider API keys (OpenAI, Anthropic ...), stored owner-only in keys.json. Team server "
    "keys are 'api-keys'.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")


def _keys_path(ctx: typer.Context):
    from prompt_alchemy.config import resolve_paths

    return resolve_paths(config_file=state(ctx).config_file).keys_file


def _check_name(name: str) -> str:
    from prompt_alchemy.config import KEYED_PROVIDERS
    from prompt_alchemy.errors import InputError

    name = name.strip().lower()
    if name not in KEYED_PROVIDERS:
        raise InputError(f"unknown provider '{name}' for a key; providers with keys: {', '.join(KEYED_PROVIDERS)}")
    return name


def _read_secret(name: str) -> str:
    """The key from a hidden prompt on a terminal, else the first line of stdin; never echoed."""
    from prompt_alchemy.errors import InputError

    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"Enter the {name} API key (hidden): ")
    else:
        value = sys.stdin.readline() if sys.stdin is not None else ""
    value = value.strip()
    if not value:
        raise InputError("no key given; type it at the prompt or pipe it on stdin (nothing was stored)")
    if any(not c.isprintable() or c.isspace() for c in value):
        raise InputError("the key holds spaces or control characters; paste the key alone (nothing was stored)")
    return value


@app.command("set")
def set_key(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="PROVIDER", help="openai, anthropic, google, openrouter ..."),
) -> None:
    """Store PROVIDER's API key, read from a hidden prompt (or stdin when piped), in keys.json (mode 0600)."""
    from prompt_alchemy.config import KEY_ENV_VARS
    from prompt_alchemy.keyfile import set_key as store
    from prompt_alchemy.security import register_secret

    name = _check_name(name)
    value = _read_secret(name)
    register_secret(value)
    path = _keys_path(ctx)
    store(path, name, value)
    typer.echo(f"stored the {name} key in {path}", err=True)
    import os

    shadow = next((var for var in KEY_ENV_VARS.get(name, ()) if os.environ.get(var)), None)
    if shadow:
        typer.echo(f"note: {shadow} is set in the environment and wins over the stored key", err=True)


@app.command("list")
def list_keys(
    ctx: typer.Context,
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    server: bool = typer.Option(
        False, "--server", hidden=True, help="The team server's API keys (now 'api-keys list')."
    ),
    include_revoked: bool = typer.Option(False, "--all", hidden=True, help="With --server: include revoked keys."),
) -> None:
    """The providers that have a stored key (names only, never the keys)."""
    if server or include_revoked:
        _moved("list")
        api_keys.list_keys(ctx, include_revoked=include_revoked, output=output)
        return
    from prompt_alchemy.keyfile import read_keys

    names = sorted(read_keys(_keys_path(ctx)))
    if output is Output.json:
        print_json(names)
    elif names:
        typer.echo("\n".join(names))
    else:
        typer.echo("no stored keys (store one with 'prompt-alchemy keys set openai')", err=True)


@app.command("remove")
def remove_key(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="PROVIDER", help="The provider whose stored key to delete."),
) -> None:
    """Delete PROVIDER's stored key from keys.json."""
    from prompt_alchemy.errors import NotFoundError
    from prompt_alchemy.keyfile import remove_key as delete

    name = _check_name(name)
    path = _keys_path(ctx)
    if not delete(path, name):
        raise NotFoundError(f"no stored key for {name} in {path}")
    typer.echo(f"removed the {name} key from {path}", err=True)


@app.command("path")
def key_path(ctx: typer.Context) -> None:
    """Where the keys are stored."""
    typer.echo(str(_keys_path(ctx)))


def _moved(command: str) -> None:
    sys.stderr.write(
        f"note: 'prompt-alchemy keys {command}' for the team server's API keys is now "
        f"'prompt-alchemy api-keys {command}'; the old spelling goes away in the next release\n"
    )


@app.command("create", hidden=True)
def create(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name"),
    scope: api_keys.Scope = typer.Option(api_keys.Scope.read, "--scope"),
    rate_limit: int = typer.Option(None, "--rate-limit"),
    output: Output = typer.Option(Output.text, "--output", "-o"),
) -> None:
    """Old spelling of 'api-keys create'."""
    _moved("create")
    api_keys.create(ctx, name=name, scope=scope, rate_limit=rate_limit, output=output)


@app.command("revoke", hidden=True)
def revoke(
    ctx: typer.Context,
    key: str = typer.Argument(...),
    output: Output = typer.Option(Output.text, "--output", "-o"),
) -> None:
    """Old spelling of 'api-keys revoke'."""
    _moved("revoke")
    api_keys.revoke(ctx, key=key, output=output)
