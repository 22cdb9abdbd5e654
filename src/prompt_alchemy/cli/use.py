"""`use`: a stored prompt with its template variables filled, ready to paste or pipe."""

from __future__ import annotations

import typer

from prompt_alchemy.cli._common import Output, ProjectOpt, print_json, run_with_service

#: The largest file `-p NAME @FILE` reads.
MAX_VALUE_FILE_BYTES = 8 << 20


def register(app: typer.Typer) -> None:
    # -p takes two values and repeats, which Typer's options cannot declare: the tokens are parsed here.
    app.command("use", context_settings={"ignore_unknown_options": True})(use)


def parse_tokens(tokens: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """(the ID or label, the -p NAME VALUE pairs) from the command's positional tokens."""
    from prompt_alchemy.errors import InputError

    target: str | None = None
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("-p", "--param"):
            if len(tokens) - i < 3:
                raise InputError(f"{token} needs a name and a value: {token} NAME VALUE")
            pairs.append((tokens[i + 1], tokens[i + 2]))
            i += 3
            continue
        if token.startswith("--param="):
            raise InputError("--param takes two values: --param NAME VALUE")
        if token.startswith("-") and len(token) > 1 and target is None:
            raise InputError(f"no such option: {token}")
        if target is not None:
            raise InputError(f"unexpected argument '{token}'; give values as -p NAME VALUE")
        target = token
        i += 1
    if target is None:
        raise InputError("missing the prompt: prompt-alchemy use NAME[@LABEL|@VERSION]|ID -p NAME VALUE ...")
    return target, pairs


def read_values(pairs: list[tuple[str, str]] | None) -> dict[str, str]:
    """`-p NAME VALUE` pairs as a dict: `@FILE` reads the value from a file (size-capped), `@@text` is the literal
    `@text`. A name given twice is bad input."""
    from prompt_alchemy.errors import InputError
    from prompt_alchemy.security import read_text_file

    values: dict[str, str] = {}
    for name, value in pairs or []:
        name = name.strip()
        if not name:
            raise InputError("-p needs a variable name: -p NAME VALUE")
        if name in values:
            raise InputError(f"variable {name} is given twice")
        if value.startswith("@@"):
            value = value[1:]
        elif value.startswith("@") and len(value) > 1:
            value = read_text_file(value[1:], f"the file for {name}", limit=MAX_VALUE_FILE_BYTES)
            value = value[:-1] if value.endswith("\n") else value
        values[name] = value
    return values


def use(
    ctx: typer.Context,
    tokens: list[str] = typer.Argument(
        ...,
        metavar="PROMPT [-p NAME VALUE]...",
        help="A prompt name (its latest version), NAME@LABEL, NAME@VERSION, or a "
        "prompt id (or unique prefix), then one '-p NAME VALUE' per variable; "
        "VALUE '@FILE' reads the file, '@@' starts a literal '@'.",
    ),
    raw: bool = typer.Option(False, "--raw", help="Print the template itself, variables unfilled."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    project: str = ProjectOpt,
) -> None:
    """Print a stored prompt with its {variables} (or {{variables}}) filled: ready to paste or pipe into a model.

    Example: prompt-alchemy use release-notes@production -p topic "v2" -p diff @changes.diff
    """
    prompt_id, pairs = parse_tokens(tokens)
    values = read_values(pairs)

    rendered = run_with_service(
        ctx,
        lambda service: service.use_prompt(prompt_id, values, raw=raw, missing_hint=" (pass -p NAME VALUE for each)"),
        project=project,
    )
    if output is Output.json:
        print_json(
            {
                "id": rendered.prompt.id,
                "name": rendered.name,
                "version": rendered.version,
                "labels": rendered.labels,
                "raw": raw,
                "text": rendered.text,
                "variables": rendered.variables,
                "values": rendered.values,
            }
        )
        return
    typer.echo(rendered.text)
