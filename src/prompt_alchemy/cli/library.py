"""The library: `search`, `show`, `list`, `update`, `history`, `delete`. IDs may be abbreviated to a unique prefix."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from prompt_alchemy.cli._common import Output, ProjectOpt, print_json, run_with_service, stdout_console

if TYPE_CHECKING:
    from prompt_alchemy.models import Prompt, SearchFilters


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("show")(show)
    app.command("list")(list_cmd)
    app.command("update")(update)
    app.command("history")(history)
    app.command("delete")(delete)


# ------------------------------------------------------------------------------------------- shared options

PhaseOpt = typer.Option(
    None,
    "--phase",
    metavar="PHASE",
    help="Only this phase: prima-materia/idea, solutio/human, coagulatio/precision (repeatable).",
)
ProviderOpt = typer.Option(None, "--provider", help="Only prompts made by this provider.")
ModelOpt = typer.Option(None, "--model", help="Only prompts made by this model.")
PersonaOpt = typer.Option(None, "--persona", help="Only prompts made with this persona.")
TagOpt = typer.Option(
    None,
    "--tag",
    "-t",
    metavar="TAG[,TAG]",
    help="Only prompts with this tag (repeatable, or comma-separated: all must match).",
)
SinceOpt = typer.Option(
    None, "--since", help="Created at or after: YYYY-MM-DD, an ISO datetime, or an age like 7d, 12h."
)
UntilOpt = typer.Option(
    None, "--until", help="Created before: YYYY-MM-DD (that day included), an ISO datetime, or an age."
)
MinRatingOpt = typer.Option(None, "--min-rating", help="Average feedback rating at least this (1-5).")
OutputOpt = typer.Option(Output.text, "--output", "-o", help="text or json.")


def build_filters(
    phase: list[str] | None = None,
    provider: str | None = None,
    model: str | None = None,
    persona: str | None = None,
    tag: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    min_rating: float | None = None,
) -> SearchFilters:
    """The filter options as SearchFilters; a bad value is an InputError naming the option."""
    from pydantic import ValidationError

    from prompt_alchemy.errors import InputError
    from prompt_alchemy.models import SearchFilters

    try:
        return SearchFilters(
            phase=phase or [],
            provider=provider,
            model=model,
            persona=persona,
            tags=tag or [],
            since=since,
            until=until,
            min_rating=min_rating,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        option = "--" + str(err["loc"][0]).replace("_", "-").replace("tags", "tag") if err["loc"] else "filter"
        raise InputError(f"invalid {option}: {err['msg'].removeprefix('Value error, ')}") from None


def prompt_dict(p: Prompt, *, full: bool = False) -> dict[str, Any]:
    """The JSON shape of a prompt: a summary, or with `full` every stored field except the vector itself."""
    if full:
        data = p.model_dump(mode="json", exclude={"embedding"})
        data["has_embedding"] = p.embedding is not None
        return data
    return {
        "id": p.id,
        "title": p.title,
        "phase": p.phase.value if p.phase else None,
        "variant": p.variant,
        "provider": p.provider,
        "model": p.model,
        "persona": p.persona_used,
        "tags": p.tags,
        "score": p.score,
        "parent_id": p.parent_id,
        "session_id": p.session_id,
        "source_type": p.source_type,
        "created_at": p.created_at.isoformat(),
        "content": p.content,
    }


def _one_line(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _label(p: Prompt) -> str:
    return p.phase.value if p.phase else (p.source_type or "")


def _table(prompts: list[Prompt], title: str | None = None, extra: dict[str, list[str]] | None = None):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, expand=False)
    for name in extra or {}:
        table.add_column(name, justify="right")
    table.add_column("id", no_wrap=True)
    table.add_column("phase/source", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("prompt", overflow="fold")
    for i, p in enumerate(prompts):
        cells = [values[i] for values in (extra or {}).values()]
        head = f"[{p.title}] " if p.title else ""
        table.add_row(
            *cells,
            p.id[:8],
            Text(_label(p)),
            p.created_at.strftime("%Y-%m-%d %H:%M"),
            Text(_one_line(head + p.content)),
        )  # Text: brackets in prompts are not Rich markup
    return table


# ------------------------------------------------------------------------------------------- commands


def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Words or a description of what you are looking for."),
    mode: str = typer.Option("hybrid", "--mode", "-m", help="hybrid (words and meaning, fused), semantic or text."),
    limit: int = typer.Option(10, "--limit", "-n", help="How many results (1-1000)."),
    phase: list[str] = PhaseOpt,
    provider: str = ProviderOpt,
    model: str = ModelOpt,
    persona: str = PersonaOpt,
    tag: list[str] = TagOpt,
    since: str = SinceOpt,
    until: str = UntilOpt,
    min_rating: float = MinRatingOpt,
    output: Output = OutputOpt,
) -> None:
    """Find prompts by words (FTS5, bm25), by meaning (embeddings) or both (reciprocal rank fusion)."""
    filters = build_filters(phase, provider, model, persona, tag, since, until, min_rating)

    async def work(service):
        results = await service.search(query, mode=mode, filters=filters, limit=limit)
        by_meaning = mode == "semantic" or (mode == "hybrid" and not any(r.semantic_rank for r in results))
        hint = await service.library_service.embedding_mismatch() if by_meaning else None
        return results, hint

    results, hint = run_with_service(ctx, work)
    if hint and (not results or mode == "hybrid"):
        typer.echo(f"note: {hint}", err=True)
    if output is Output.json:
        print_json({"query": query, "mode": mode, "results": [r.public_dict() for r in results]})
        return
    if not results:
        typer.echo("no matching prompts", err=True)
        return
    scores = [f"{r.score:.3f}" for r in results]
    stdout_console().print(
        _table([r.prompt for r in results], extra={"#": [str(i) for i in range(1, len(results) + 1)], "score": scores})
    )


def show(
    ctx: typer.Context,
    prompt_id: str = typer.Argument(..., metavar="ID", help="A prompt id or a unique prefix of one."),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Everything about one prompt, with its context and lineage (ancestors and descendants)."""

    from prompt_alchemy.ranking.features import variable_names

    async def work(service):
        prompt = await service.get_prompt(prompt_id)
        return (
            prompt,
            await service.get_context(prompt.id),
            await service.lineage(prompt.id),
            (await service.labels_for([prompt.id])).get(prompt.id, []),
            (await service.names_for([prompt.id])).get(prompt.id),
        )

    prompt, context, lineage, labels, named = run_with_service(ctx, work, project=project)
    name, version = named if named else (None, None)
    variables = variable_names(prompt.content)
    if output is Output.json:
        print_json(
            {
                "prompt": dict(prompt_dict(prompt, full=True), name=name, version=version),
                "variables": variables,
                "labels": labels,
                "context": [c.model_dump() for c in context],
                "lineage": {k: [prompt_dict(p) for p in v] for k, v in lineage.items()},
            }
        )
        return
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    console.print(Rule(f"prompt {prompt.id}"))
    meta = Table.grid(padding=(0, 2))
    meta.add_column(style="bold")
    meta.add_column(overflow="fold")
    rows = {
        "name": name,
        "version": None if version is None else str(version),
        "title": prompt.title,
        "phase": f"{prompt.phase.value} ({prompt.phase.alias})" if prompt.phase else None,
        "variant": None if prompt.variant is None else str(prompt.variant + 1),
        "source": prompt.source_type + (f" ({prompt.enhancement_method})" if prompt.enhancement_method else ""),
        "provider": f"{prompt.provider}/{prompt.model}" if prompt.provider else None,
        "persona": prompt.persona_used,
        "target model": prompt.target_model,
        "temperature": None if prompt.temperature is None else str(prompt.temperature),
        "tokens": f"{prompt.input_tokens} in / {prompt.output_tokens} out" if prompt.actual_tokens else None,
        "cost": f"${prompt.cost_usd:.6f}" if prompt.cost_usd else None,
        "latency": f"{prompt.latency_ms:.0f} ms" if prompt.latency_ms else None,
        "score": None if prompt.score is None else f"{prompt.score:.3f}",
        "tags": ", ".join(prompt.tags) or None,
        "labels": ", ".join(labels) or None,
        "variables": ", ".join(variables) or None,
        "session": prompt.session_id,
        "parent": prompt.parent_id,
        "created": prompt.created_at.isoformat(),
        "embedding": (f"{prompt.embedding_model} ({prompt.embedding_dim}-d)" if prompt.embedding_model else "none"),
        "idea": _one_line(prompt.original_input, 100) if prompt.original_input else None,
        "notes": prompt.notes,
    }
    for key, value in rows.items():
        if value:
            meta.add_row(key, Text(value))
    console.print(meta)
    console.print(Rule("content", style="dim"))
    console.print(Text(prompt.content))
    for item in context:
        console.print(Rule(f"context: {item.source}", style="dim"))
        console.print(Text(_one_line(item.content, 200)))
    if lineage["ancestors"] or lineage["descendants"]:
        console.print(Rule("lineage", style="dim"))
        for p in lineage["ancestors"]:
            console.print(Text(f"  ↑ {p.id[:8]}  {_label(p):<14} {_one_line(p.content, 60)}"))
        console.print(Text(f"  ● {prompt.id[:8]}  {_label(prompt):<14} (this prompt)", style="bold"))
        for p in lineage["descendants"]:
            console.print(Text(f"  ↓ {p.id[:8]}  {_label(p):<14} {_one_line(p.content, 60)}"))


def list_cmd(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", help="Prompts per page (1-1000)."),
    page: int = typer.Option(1, "--page", help="Page number, from 1."),
    phase: list[str] = PhaseOpt,
    provider: str = ProviderOpt,
    model: str = ModelOpt,
    persona: str = PersonaOpt,
    tag: list[str] = TagOpt,
    since: str = SinceOpt,
    until: str = UntilOpt,
    min_rating: float = MinRatingOpt,
    output: Output = OutputOpt,
) -> None:
    """List the library, most recent first, one page at a time."""
    from prompt_alchemy.errors import InputError

    if not 1 <= page <= 10**9:
        raise InputError(f"--page must be between 1 and 1,000,000,000, got {page}")
    filters = build_filters(phase, provider, model, persona, tag, since, until, min_rating)

    async def work(service):
        return (
            await service.list_prompts(filters, limit=limit, offset=(page - 1) * limit),
            await service.count_prompts(filters),
        )

    prompts, total = run_with_service(ctx, work)
    if output is Output.json:
        print_json({"total": total, "page": page, "limit": limit, "prompts": [prompt_dict(p) for p in prompts]})
        return
    pages = max(1, -(-total // limit))
    stdout_console().print(_table(prompts, title=f"{total} prompts · page {page} of {pages}"))


def update(
    ctx: typer.Context,
    prompt_id: str = typer.Argument(..., metavar="ID", help="A prompt id or a unique prefix of one."),
    content: str = typer.Option(None, "--content", help="The new content ('-' reads it from stdin)."),
    tags: list[str] = typer.Option(
        None, "--tags", metavar="TAG[,TAG]", help="Replace the tags (comma-separated, repeatable; '' clears them)."
    ),
    notes: str = typer.Option(None, "--notes", help="Replace the notes ('' clears them)."),
    edit: bool = typer.Option(
        False,
        "--edit",
        "-e",
        help="Edit the content in $VISUAL or $EDITOR; a new version is " "saved only if the text changed.",
    ),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Save a new version of a prompt (linked to the old one by parent_id; the old one is kept) and re-embed it."""
    from prompt_alchemy.errors import InputError

    if edit and content is not None:
        raise InputError("give either --edit or --content, not both")
    if edit:
        current = run_with_service(ctx, lambda service: service.get_prompt(prompt_id), project=project)
        edited = edit_text(current.content, suffix=".md")
        if edited.strip() == current.content.strip():
            if tags is None and notes is None:
                typer.echo(f"no changes; nothing saved ({current.id} is unchanged)", err=True)
                if output is Output.json:
                    print_json({"prompt": prompt_dict(current, full=True), "previous_id": None, "changed": False})
                return
        else:
            content = edited
        prompt_id = current.id
    if content == "-":
        from prompt_alchemy.security import read_stdin_text

        content = read_stdin_text("--content")
    tag_list = None if tags is None else [t for group in tags for t in group.split(",")]

    async def work(service):
        return await service.update_prompt(prompt_id, content=content, tags=tag_list, notes=notes)

    new = run_with_service(ctx, work, project=project)
    if output is Output.json:
        print_json({"prompt": prompt_dict(new, full=True), "previous_id": new.parent_id})
        return
    typer.echo(f"saved new version {new.id} (previous version {new.parent_id})")


def history(
    ctx: typer.Context,
    prompt_id: str = typer.Argument(..., metavar="ID", help="A prompt id, a unique prefix of one, or a label."),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Every version of a prompt, oldest first, with the labels pointing at each."""

    async def work(service):
        versions = await service.history(prompt_id)
        return versions, await service.labels_for([p.id for p in versions])

    versions, labels = run_with_service(ctx, work, project=project)
    if output is Output.json:
        print_json(
            {
                "versions": [
                    dict(prompt_dict(p), version=i, labels=labels.get(p.id, [])) for i, p in enumerate(versions, 1)
                ]
            }
        )
        return
    stdout_console().print(
        _table(
            versions,
            title=f"{len(versions)} version(s)",
            extra={
                "v": [str(i) for i in range(1, len(versions) + 1)],
                "labels": [", ".join(labels.get(p.id, [])) for p in versions],
            },
        )
    )


def edit_text(text: str, suffix: str = ".txt") -> str:
    """`text` as the user leaves it after editing it in $VISUAL, else $EDITOR, else vi. An editor that cannot be
    started or exits with an error is a failure (exit 1) and nothing is saved."""
    import os
    import shlex
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from prompt_alchemy.errors import AlchemyError, InputError
    from prompt_alchemy.security import read_text_file

    editor = (os.environ.get("VISUAL") or os.environ.get("EDITOR") or "").strip()
    if not editor:
        if shutil.which("vi") is None:
            raise InputError("no editor: set $VISUAL or $EDITOR (or use --content)")
        editor = "vi"
    try:
        command = shlex.split(editor)
    except ValueError as exc:
        raise InputError(f"cannot parse the editor command '{editor}': {exc}") from None
    fd, name = tempfile.mkstemp(prefix="prompt-alchemy-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        try:
            code = subprocess.call([*command, str(path)])
        except OSError as exc:
            raise AlchemyError(
                f"cannot start the editor '{command[0]}': {exc.strerror or exc}; nothing saved"
            ) from None
        if code != 0:
            raise AlchemyError(f"the editor '{command[0]}' exited with status {code}; nothing saved")
        return read_text_file(path, "the edited prompt")
    finally:
        _remove_edit_file(path)


def _remove_edit_file(path) -> None:
    """Remove the editing file, or what the editor left in its place (a directory: only that directory)."""
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def delete(
    ctx: typer.Context,
    prompt_ids: list[str] = typer.Argument(..., metavar="ID...", help="Prompt ids or unique prefixes."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: Output = OutputOpt,
    project: str = ProjectOpt,
) -> None:
    """Delete prompts with their vectors, context and metrics. Their children are relinked to their parents."""
    from prompt_alchemy.errors import AlchemyError, InputError

    async def work(service):
        prompts = [await service.get_prompt(pid) for pid in prompt_ids]
        if not yes:
            if not sys.stdin.isatty():
                raise InputError("refusing to delete without confirmation; pass --yes")
            for p in prompts:
                typer.echo(f"{p.id}  {_label(p)}  {_one_line(p.content, 60)}", err=True)
            if not typer.confirm(f"Delete {len(prompts)} prompt(s)?", err=True):
                raise AlchemyError("nothing deleted")
        for p in prompts:
            await service.delete_prompt(p.id)
        return [p.id for p in prompts]

    deleted = run_with_service(ctx, work, project=project)
    if output is Output.json:
        print_json({"deleted": deleted})
        return
    for pid in deleted:
        typer.echo(f"deleted {pid}")
