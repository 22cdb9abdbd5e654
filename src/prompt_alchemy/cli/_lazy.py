"""The command tree `main` runs: each subcommand is built from its function only when it is looked up.

Typer turns every registered function into a Click command up front, reading each signature and every option's
annotation; for the whole CLI that is most of what `prompt-alchemy --help` costs. Here the root group keeps the
registrations and builds a subcommand (or a whole subgroup) the first time Click asks for it by name; the root
help lists the commands from their help text alone. `typer.main.get_command(app)` still builds everything (the
docs and the tests walk that tree), and the two trees print the same help.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter


class LazyCommands(MutableMapping[str, "Command"]):
    """A Typer app's subcommands by name, in registration order, each built when first read."""

    def __init__(self, app: typer.Typer) -> None:
        self.app = app
        self.built: dict[str, Command] = {}
        self.infos: dict[str, CommandInfo | TyperInfo] = {}
        for command in app.registered_commands:
            assert command.callback is not None, "a command needs its function"
            self.infos[command.name or typer.main.get_command_name(command.callback.__name__)] = command
        for group in app.registered_groups:
            name = typer.main.solve_typer_info_defaults(group).name
            assert name, "every subgroup of the CLI is added with a name"
            self.infos[name] = group

    def __getitem__(self, name: str) -> Command:
        if name not in self.built:
            self.built[name] = self._build(self.infos[name])
        return self.built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self.built[name] = command
        self.infos.pop(name, None)

    def __delitem__(self, name: str) -> None:
        self.built.pop(name, None)
        self.infos.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self.infos), **dict.fromkeys(self.built)})

    def __len__(self) -> int:
        return len(self.infos.keys() | self.built.keys())

    def summary(self, name: str) -> Command:
        """The command as the root help lists it: name and help text, without its options."""
        if name in self.built:
            return self.built[name]
        info = self.infos[name]
        if isinstance(info, CommandInfo):
            text = inspect.cleandoc(info.help) if info.help is not None else inspect.getdoc(info.callback)
            return TyperCommand(
                name, help=text, short_help=info.short_help, hidden=info.hidden, deprecated=info.deprecated
            )
        solved = typer.main.solve_typer_info_defaults(info)
        return TyperGroup(
            name=name,
            help=solved.help,
            short_help=solved.short_help,
            hidden=solved.hidden,
            deprecated=solved.deprecated,
        )

    def _build(self, info: CommandInfo | TyperInfo) -> Command:
        app = self.app
        if isinstance(info, CommandInfo):
            return typer.main.get_command_from_info(
                info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
            )
        return typer.main.get_group_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )


class LazyGroup(TyperGroup):
    """A TyperGroup whose commands may be :class:`LazyCommands`: listing them builds none."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            return super().format_commands(ctx, formatter)
        self.commands = {name: commands.summary(name) for name in commands}
        try:
            return super().format_commands(ctx, formatter)
        finally:
            self.commands = commands


def lazy_root(app: typer.Typer) -> TyperGroup:
    """`app` as a Click group (its callback, options and settings, as Typer builds them) whose subcommands are
    built on first use. `app` must be created with `cls=LazyGroup`."""
    registered = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = [], []
    try:  # the root alone: Typer builds a group for an app with a callback even when it has no commands
        root = typer.main.get_command(app)
    finally:
        app.registered_commands, app.registered_groups = registered
    assert isinstance(root, LazyGroup), "the app is created with cls=LazyGroup"
    root.commands = LazyCommands(app)
    return root
