"""Shared CLI plumbing: global state, the service, output formats, async execution."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from prompt_alchemy.services import AlchemyService

T = TypeVar("T")


@dataclass
class State:
    config_file: str | None = None
    debug: bool = False


class Output(str, Enum):
    text = "text"
    json = "json"


class RichOutput(str, Enum):
    text = "text"
    json = "json"
    yaml = "yaml"
    markdown = "markdown"


#: --project of the commands that read or write named prompts and labels (run_with_service's `project`).
ProjectOpt = typer.Option(
    None,
    "--project",
    metavar="SLUG",
    help="The project whose names and labels to use, and where new prompts go (default: the 'project' setting, "
    "PROMPT_ALCHEMY_PROJECT, else 'default').",
)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def make_service(ctx: typer.Context, overrides: dict[str, Any] | None = None) -> AlchemyService:
    from prompt_alchemy.services import AlchemyService

    return AlchemyService.from_environment(
        config_file=state(ctx).config_file, overrides={k: v for k, v in (overrides or {}).items() if v is not None}
    )


def run_with_service(
    ctx: typer.Context,
    work: Callable[[AlchemyService], Awaitable[T]],
    overrides: dict[str, Any] | None = None,
    *,
    project: str | None | Literal[False] = False,
) -> T:
    """Create the service, await `work(service)` on one event loop, and always release the service. A command that
    works in one project (its names and labels) passes `project`: its --project, or None for the `project`
    setting; an unknown project fails before `work` runs."""
    import asyncio

    if project is not False:
        overrides = {**(overrides or {}), "project": project}
    service = make_service(ctx, overrides)

    async def _go() -> T:
        try:
            if project is not False:
                await service.people.work_in()
            return await work(service)
        finally:
            await service.aclose()

    return asyncio.run(_go())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_yaml(data: Any) -> None:
    import yaml

    sys.stdout.write(
        yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, allow_unicode=True, width=100)
    )


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[..., None] | None]:
    """A Rich progress bar on stderr fed by `update(done, total, description=None)` calls; None (no bar) when
    stderr is not a terminal, so piped and scripted runs stay clean."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total: int | None = None, description: str | None = None) -> None:
            bar.update(task, completed=done, total=total, description=description or None)

        yield update


def clean_help_types() -> None:
    """Help names a value by its metavar (ID..., TAG[,TAG], FILE) rather than its Python type: Typer 0.29 prints an
    argument's type even when it has a metavar ("ID... <list[str]>"). Options with a metavar are already shown
    by it alone; older Typers need nothing."""
    from typer import core

    argument = getattr(core, "TyperArgument", None)
    shown = getattr(argument, "display_type_rich", None)
    if argument is None or shown is None or getattr(shown, "_metavar_first", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if self.metavar is not None else shown(self, ctx)

    display_type_rich._metavar_first = True  # type: ignore[attr-defined]
    argument.display_type_rich = display_type_rich
