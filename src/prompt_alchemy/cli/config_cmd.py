"""`prompt-alchemy config init | show | validate`."""

from __future__ import annotations

import sys

import typer

from prompt_alchemy.cli._common import Output, print_json, state, stdout_console

app = typer.Typer(help="Create, inspect and check the configuration.", no_args_is_help=True)


@app.command("init")
def init(ctx: typer.Context, force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a commented config file (mode 0600). Keys are referenced as ${VAR}, never stored."""

    from prompt_alchemy.config import CONFIG_TEMPLATE, resolve_paths
    from prompt_alchemy.errors import InputError
    from prompt_alchemy.security import check_output_path, write_text_atomically

    paths = resolve_paths(config_file=state(ctx).config_file)
    path = paths.config_file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {path.parent}: {exc.strerror}") from None
    # the same guard as every other written file: never the library database, a backup or a device
    check_output_path(
        path,
        force=force,
        what="config file",
        protected=[paths.default_database],
        protected_dirs=[paths.default_database.parent / "backups"],
    )
    write_text_atomically(path, lambda fh: fh.write(CONFIG_TEMPLATE), what="config file", mode=0o600)
    typer.echo(f"wrote {path}")


@app.command("show")
def show(ctx: typer.Context, output: Output = typer.Option(Output.text, "--output", "-o")) -> None:
    """Print the merged configuration with secrets masked, and where each value came from."""
    from prompt_alchemy.config import flatten, load_settings, masked_dump

    loaded = load_settings(config_file=state(ctx).config_file)
    data = masked_dump(loaded.settings)
    flat = flatten(data)
    sources = {key: loaded.sources.get(key, "default") for key in flat}
    if output is Output.json:
        print_json(
            {
                "config_file": str(loaded.paths.config_file),
                "database": str(loaded.database_path),
                "config": data,
                "sources": sources,
            }
        )
        return
    from rich.table import Table

    table = Table(title=f"config: {loaded.paths.config_file}", show_lines=False)
    # a key cut short ("providers.openai.timeo…") or broken across lines says nothing: keys keep their width
    table.add_column("key", no_wrap=True, min_width=max((len(key) for key in flat), default=3))
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for key, value in flat.items():
        table.add_row(key, "" if value is None else str(value), sources[key])
    stdout_console().print(table)


@app.command("validate")
def validate(ctx: typer.Context, output: Output = typer.Option(Output.text, "--output", "-o")) -> None:
    """Report every problem in the configuration (exit 2 when there is any)."""
    from prompt_alchemy.config import resolve_paths
    from prompt_alchemy.services import check_configuration

    path = resolve_paths(config_file=state(ctx).config_file).config_file
    problems = check_configuration(state(ctx).config_file)
    if output is Output.json:
        print_json({"config_file": str(path), "valid": not problems, "problems": problems})
    elif problems:
        for problem in problems:
            typer.echo(problem)
    else:
        typer.echo(f"configuration is valid ({path}{'' if path.exists() else ', not present: defaults'})")
    if problems:
        sys.stderr.write(f"error: {len(problems)} problem(s) in the configuration\n")
        raise typer.Exit(2)
