"""The `prompt-alchemy` command line. Thin: parse, call a service, render. Heavy imports happen inside commands."""

from __future__ import annotations

import sys

import typer

from prompt_alchemy import __version__
from prompt_alchemy.cli._common import State, clean_help_types
from prompt_alchemy.cli._lazy import LazyGroup, lazy_root

app = typer.Typer(
    name="prompt-alchemy",
    help="Turn a raw idea into refined, ready-to-use LLM prompts: prima-materia → solutio → coagulatio.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prompt-alchemy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: str = typer.Option(
        None,
        "--config",
        metavar="FILE",
        help="Config file (default: ~/.config/prompt-alchemy/config.yaml, or $PROMPT_ALCHEMY_HOME/config.yaml).",
    ),
    debug: bool = typer.Option(False, "--debug", help="Verbose logs on stderr and full tracebacks."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    ctx.obj = State(config_file=config, debug=debug)
    from prompt_alchemy.logging_setup import setup_logging

    setup_logging("DEBUG" if debug else "WARNING")


from prompt_alchemy.cli import config_cmd, generate  # noqa: E402  (registers commands)

app.add_typer(config_cmd.app, name="config")
generate.register(app)
from prompt_alchemy.cli import providers  # noqa: E402  (providers)

providers.register(app)
from prompt_alchemy.cli import db, library, metrics, transfer  # noqa: E402  (the library)

library.register(app)
transfer.register(app)
db.register(app)
metrics.register(app)
from prompt_alchemy.cli import batch, serve  # noqa: E402  (MCP server and batch)

batch.register(app)
serve.register(app)
from prompt_alchemy.cli import ranking  # noqa: E402  (score, judge, optimize)

ranking.register(app)
from prompt_alchemy.cli import learning  # noqa: E402  (rate, feedback, train, learning)

learning.register(app)
from prompt_alchemy.cli import doctor  # noqa: E402  (installation health)

doctor.register(app)
from prompt_alchemy.cli import api_keys, audit, keys  # noqa: E402  (provider keys; server API keys, audit log)

keys.register(app)
api_keys.register(app)
audit.register(app)
from prompt_alchemy.cli import labels, use  # noqa: E402  (prompts in daily use: fill variables, labels)

use.register(app)
from prompt_alchemy.cli import save  # noqa: E402, I001  (named prompts: save NAME [TEXT|-])

save.register(app)
app.add_typer(labels.app, name="label")
from prompt_alchemy.cli import view  # noqa: E402  (the local web viewer)

view.register(app)
from prompt_alchemy.cli import jobs  # noqa: E402  (jobs: list, show, cancel, retry)

jobs.register(app)
from prompt_alchemy.cli import users  # noqa: E402  (users, projects, roles, data rights)

users.register(app)
from prompt_alchemy.cli import local  # noqa: E402  (the offline stack without the repository)

local.register(app)


clean_help_types()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear error line on stderr and a meaningful exit code, never a traceback
    unless --debug."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = lazy_root(app).main(args=argv, prog_name="prompt-alchemy", standalone_mode=False)
    except typer.Abort:
        _fail("aborted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except typer.TyperException as exc:  # Typer's (vendored Click's) usage and parameter errors
        code = getattr(exc, "exit_code", 2)
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path.split(" ", 1)[1] + " " if ctx is not None and " " in ctx.command_path else ""
        hint = f" (see 'prompt-alchemy {path}--help')" if code == 2 else ""
        _fail(f"{exc.format_message()}{hint}", code)
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into a clean exit
        from prompt_alchemy.errors import AlchemyError
        from prompt_alchemy.security import redact

        if debug:  # the full traceback, with every secret masked (URL passwords in pydantic's input_value too)
            import traceback

            sys.stderr.write(redact(traceback.format_exc()))
        if isinstance(exc, AlchemyError):
            _fail(redact(str(exc)), exc.exit_code)
        _fail(redact(f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)"), 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    # one line, whatever the input it quotes: line breaks and other control characters are shown escaped
    message = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)
