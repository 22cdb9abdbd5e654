"""`prompt-alchemy generate IDEA`: run the phases; the best final prompt goes to stdout (so it can be piped), and a
short summary (variants, scores, where they are stored, notes) to stderr. `--all` shows every variant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer

from prompt_alchemy.cli._common import (
    RichOutput,
    print_json,
    print_yaml,
    progress_bar,
    run_with_service,
    stderr_console,
    stdout_console,
)
from prompt_alchemy.request_fields import field_help

if TYPE_CHECKING:
    from prompt_alchemy.engine.engine import ProgressEvent, TokenEvent
    from prompt_alchemy.models import GenerationResult, Phase, Prompt


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)


def generate(
    ctx: typer.Context,
    idea: str = typer.Argument(None, help=field_help("idea") + " Omit it (or pass '-') to read it from stdin."),
    phases: str = typer.Option(None, "--phases", "-p", help=field_help("phases") + " Comma-separated."),
    count: int = typer.Option(None, "--count", "-n", help=field_help("count")),
    persona: str = typer.Option(None, "--persona", help=field_help("persona")),
    target_model: str = typer.Option(None, "--target-model", help=field_help("target_model")),
    provider: str = typer.Option(None, "--provider", help=field_help("provider")),
    temperature: float = typer.Option(None, "--temperature", help=field_help("temperature")),
    max_tokens: int = typer.Option(None, "--max-tokens", help=field_help("max_tokens")),
    tags: list[str] = typer.Option(
        None, "--tags", "-t", metavar="TAG[,TAG]", help=field_help("tags") + " Comma-separated, repeatable."
    ),
    context_files: list[Path] = typer.Option(
        None, "--context", metavar="FILE", help=field_help("context_files") + " Repeatable."
    ),
    output: RichOutput = typer.Option(RichOutput.text, "--output", "-o", help="text, json, yaml or markdown."),
    save: bool = typer.Option(True, "--save/--no-save", help=field_help("save")),
    use_cache: bool = typer.Option(True, "--cache/--no-cache", help=field_help("use_cache")),
    max_cost: float = typer.Option(None, "--max-cost", metavar="USD", help=field_help("max_cost")),
    judge: bool = typer.Option(False, "--judge", help=field_help("judge")),
    interactive: bool = typer.Option(
        False,
        "--interactive",
        "-i",
        help="Then pick the best final prompt (a line read from stdin); it is recorded as chosen and its siblings "
        "as skipped, to teach the ranker.",
    ),
    stream: bool = typer.Option(
        False,
        "--stream",
        "-s",
        help="Print the final phase's text as it arrives (one variant at a time), then the best prompt.",
    ),
    show_all: bool = typer.Option(
        False,
        "--all",
        "-a",
        help="Text output: every variant of every phase, then the best prompt (default: the best prompt alone).",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="Text output: the best prompt alone, with no summary on stderr (notes still go there).",
    ),
    run_async: bool = typer.Option(
        False,
        "--async",
        help="Run it as a job and print the job (see 'jobs show'): on a PostgreSQL library a worker runs it.",
    ),
) -> None:
    """Generate refined prompts from an idea through the alchemical phases."""
    from prompt_alchemy.errors import InputError

    if interactive and (idea is None or idea == "-"):
        raise InputError("--interactive reads your choice from stdin; give the idea as an argument")
    if interactive and not save:
        raise InputError("--interactive records your choice in the library; it cannot be used with --no-save")
    if stream and output is not RichOutput.text:
        raise InputError(f"--stream prints text as it arrives; it cannot be used with --output {output.value}")
    if show_all and quiet:
        raise InputError("--all shows every variant and --quiet only the best prompt; choose one")

    if idea is None or idea == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no idea given; pass it as an argument or pipe it on stdin")
        from prompt_alchemy.security import read_stdin_text

        idea = read_stdin_text("the idea")
    fields = {
        "idea": idea,
        "phases": phases,
        "count": count,
        "persona": persona,
        "target_model": target_model,
        "provider": provider,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "tags": [t for group in tags or [] for t in group.split(",")],
        "context_files": context_files,
        "save": save,
        "use_cache": use_cache,
        "max_cost": max_cost,
        "judge": judge,
    }
    if run_async:
        from prompt_alchemy.cli.jobs import submit

        submit(ctx, lambda svc: svc.jobs.submit_generate(svc.build_request(fields), wait=not svc.jobs.queued), output)
        return

    async def work(service):
        request = service.build_request(fields)
        if stream:
            live = LiveText(sys.stdout, request.phases[-1])
            try:
                return await service.generate(request, live.progress, on_token=live.token)
            finally:
                live.close()
        with progress_bar("generating", len(request.phases) * request.count) as bar:
            on_progress = (
                (lambda e: bar(e.done, e.total, f"{e.phase.value} · variant {e.variant + 1}")) if bar else None
            )
            return await service.generate(request, on_progress)

    where: list[str] = []

    async def located(service):
        where.append(service.loaded.database_location)
        return await work(service)

    result = run_with_service(ctx, located)
    if output is RichOutput.text:
        render_notes(result)
    if stream:
        render_best(result, rule=True)
    elif output is RichOutput.json:
        print_json(result.public_dict())
    elif output is RichOutput.yaml:
        print_yaml(result.public_dict())
    elif output is RichOutput.markdown:
        sys.stdout.write(render_markdown(result))
    elif show_all:
        render_text(result)
    else:
        render_best(result)
    if output is RichOutput.text and not quiet:
        render_summary(result, where[0] if where else None)
    if interactive:
        _pick_best(ctx, result)


def _pick_best(ctx: typer.Context, result: GenerationResult) -> None:
    """Ask (on stderr) which final prompt is best and record the answer read from stdin."""
    from prompt_alchemy.errors import InputError

    finals = sorted(result.final_prompts(), key=lambda p: p.variant or 0)
    err = stderr_console()
    if len(finals) < 2:
        err.print("only one final prompt: nothing to choose (rate it with 'prompt-alchemy rate ID SCORE')")
        return
    for n, p in enumerate(finals, 1):
        score = f"score {p.score:.2f} · " if p.score is not None else ""
        star = " ★" if p.id == result.best_id else ""
        err.print(
            f"[{n}] {p.id[:8]} · {score}{' '.join(p.content.split())[:70]}{star}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    err.print(f"Which final prompt is best? [1-{len(finals)}, or Enter to skip]: ", end="", markup=False)
    answer = (sys.stdin.readline() if sys.stdin is not None else "").strip()
    if not answer:
        err.print("no choice recorded", markup=False)
        return
    chosen: Prompt | None
    if answer.isdigit() and 1 <= int(answer) <= len(finals):
        chosen = finals[int(answer) - 1]
    else:
        chosen = next((p for p in finals if len(answer) >= 4 and p.id.startswith(answer)), None)
    if chosen is None:
        raise InputError(
            f"'{answer}' is not a variant number from 1 to {len(finals)} or a final prompt's id; "
            f"nothing recorded (rate prompts later with 'prompt-alchemy rate ID SCORE')"
        )

    async def record(service):
        return await service.record_choice(result.session_id, chosen.id, source="cli")

    data = run_with_service(ctx, record)
    err.print(f"recorded: {chosen.id[:8]} chosen over {len(data['skipped'])} sibling(s)", markup=False)


def render_text(result: GenerationResult) -> None:
    """Every variant of every phase, each under a heading, then the best prompt under a rule (stdout)."""
    from rich.rule import Rule
    from rich.text import Text

    console = stdout_console()
    console.print(
        Text(
            f"session {result.session_id[:8]} · persona {result.persona}"
            + (f" · target {result.target_model}" if result.target_model else "")
            + ("" if result.saved else " · not saved")
        )
    )
    for phase in result.phases:
        console.print(Rule(f"{phase.value} ({phase.alias})", style="cyan"))
        for p in (x for x in result.prompts if x.phase == phase):
            star = "★ best" if p.id == result.best_id else ""
            score = f" · score {p.score:.2f}" if p.score is not None else ""
            verdict = result.scores.get(p.id)
            if verdict is not None and verdict.rejected:
                star = (f"{star} · " if star else "") + f"✗ not a usable prompt: {verdict.rejected[0]}"
            head = Text(
                f"[{(p.variant or 0) + 1}] {p.id[:8]} · {p.provider}/{p.model} · {p.actual_tokens} tok · "
                f"{p.latency_ms / 1000:.1f}s{score} {star}".rstrip(),
                style="bold" if star else "",
            )
            console.print(head)
            console.print(Text(p.content), "")
    render_best(result, rule=True)


def render_best(result: GenerationResult, rule: bool = False) -> None:
    """The best final prompt on stdout: alone (ready to pipe), or under a rule naming it after other text."""
    best = result.best
    if best is None:
        return
    if rule:
        from rich.rule import Rule

        stdout_console().print(Rule(f"best prompt · {best.id}", style="green"))
    sys.stdout.write(best.content.rstrip("\n") + "\n")
    sys.stdout.flush()


def render_notes(result: GenerationResult) -> None:
    """The run's notes (failovers, prompts not embedded ...), once each, on stderr."""
    from rich.text import Text

    err = stderr_console()
    for event in dict.fromkeys(result.events):
        err.print(Text(f"note: {event}", style="yellow"), soft_wrap=True)


def summary_lines(result: GenerationResult, location: str | None) -> list[str]:
    """What the run made, in two or three short lines: variants and their scores, where they are stored (or not),
    the chosen pattern when the result names one, tokens, cost and time."""
    finals = sorted(result.final_prompts(), key=lambda p: p.variant or 0)
    scores = ", ".join(
        (f"{p.score:.2f}" if p.score is not None else "-") + ("*" if p.id == result.best_id else "") for p in finals
    )
    made = f"{len(finals)} variant{'s' if len(finals) != 1 else ''}"
    if len(result.phases) > 1:
        made += f" ({len(result.prompts)} prompts over {len(result.phases)} phases)"
    lines = [f"{made} · scores {scores} (* best)" if scores else made]
    if result.saved:
        lines.append(
            f"stored in {location or 'the library'} · session {result.session_id[:8]}"
            + (f" · best {result.best_id[:8]}" if result.best_id else "")
            + " (--all shows every variant)"
        )
    else:
        lines.append("not saved (--no-save) · --all shows every variant")
    pattern = getattr(result, "pattern", None)
    if pattern:
        lines.append(f"pattern: {getattr(pattern, 'name', pattern)}")
    tokens_in = sum(p.input_tokens for p in result.prompts)
    lines.append(
        f"{result.total_tokens} tokens ({tokens_in} in, {result.total_tokens - tokens_in} out) · "
        f"${result.total_cost:.4f} · {result.wall_ms / 1000:.1f}s"
    )
    return lines


def render_summary(result: GenerationResult, location: str | None) -> None:
    from rich.text import Text

    err = stderr_console()
    for line in summary_lines(result, location):
        err.print(Text(line, style="dim"), soft_wrap=True)


class LiveText:
    """Prints the final phase's text as it arrives. Variants run at once, so one is shown live and the others are
    held until it ends; then the finished ones are shown whole and the next one goes live. Other phases' progress
    goes to stderr when it is a terminal."""

    def __init__(self, out: TextIO, final_phase: Phase) -> None:
        self.out = out
        self.final_phase = final_phase
        self.texts: dict[int, list[str]] = {}
        self.finished: set[int] = set()
        self.shown: set[int] = set()
        self.live: int | None = None
        self.status = sys.stderr.isatty()

    def token(self, event: TokenEvent) -> None:
        self.texts.setdefault(event.variant, []).append(event.delta)
        if self.live is None and event.variant not in self.shown:
            self._show(event.variant)
        elif self.live == event.variant:
            self._write(event.delta)

    def progress(self, event: ProgressEvent) -> None:
        if event.phase != self.final_phase:
            if self.status:
                sys.stderr.write(
                    f"  {event.phase.value} · variant {event.variant + 1} done ({event.done}/" f"{event.total})\n"
                )
            return
        self.finished.add(event.variant)
        if event.variant == self.live:
            self._write("\n")
            self.live = None
            self._catch_up()

    def close(self) -> None:
        """Show whatever was held (a run that ended early, or an error)."""
        if self.live is not None:
            self._write("\n")
            self.live = None
        self.finished |= set(self.texts)
        self._catch_up()

    def _catch_up(self) -> None:
        for variant in sorted(v for v in self.texts if v not in self.shown):
            self._show(variant)
            if variant not in self.finished:
                return  # it goes on live
            self._write("\n")
            self.live = None

    def _show(self, variant: int) -> None:
        self.shown.add(variant)
        self.live = variant
        self._write(f"── {self.final_phase.value} · variant {variant + 1} ──\n" + "".join(self.texts[variant]))

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def render_markdown(result: GenerationResult) -> str:
    lines = [f"# Prompt Alchemy session {result.session_id}", "", f"**Idea:** {result.idea}", ""]
    for phase in result.phases:
        lines += [f"## {phase.value} ({phase.alias})", ""]
        for p in (x for x in result.prompts if x.phase == phase):
            mark = " ★ best" if p.id == result.best_id else ""
            lines += [
                f"### Variant {(p.variant or 0) + 1}{mark}",
                "",
                f"`{p.id}` · {p.provider}/{p.model}" + (f" · score {p.score:.2f}" if p.score is not None else ""),
                "",
                p.content,
                "",
            ]
    return "\n".join(lines) + "\n"
