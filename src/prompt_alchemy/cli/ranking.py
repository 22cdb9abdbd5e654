"""`score`, `judge` and `optimize`: explain a prompt's score, compare two prompts, improve a prompt on purpose."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from prompt_alchemy.cli._common import Output, print_json, run_with_service, stderr_console, stdout_console

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.status import Status

    from prompt_alchemy.ranking.optimizer import OptimizationResult


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("judge")(judge)
    app.command("optimize")(optimize)


def _read_stdin(what: str) -> str:
    from prompt_alchemy.errors import InputError

    if sys.stdin is None or sys.stdin.isatty():
        raise InputError(f"{what} is '-' but nothing is piped on stdin")
    from prompt_alchemy.security import read_stdin_text

    return read_stdin_text(what)


# ------------------------------------------------------------------------------------------------ score


def score(
    ctx: typer.Context,
    ids: list[str] = typer.Argument(None, metavar="[ID]...", help="IDs of stored prompts to score and rank."),
    text: str = typer.Option(None, "--text", help="Score this prompt text instead ('-' reads stdin)."),
    idea: str = typer.Option(
        None, "--idea", help="The original idea, for the intent check (default: a stored prompt's own idea)."
    ),
    judge: bool = typer.Option(False, "--judge", help="Add the AI judge's rubric score (calls a provider)."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Score prompts: the total and every component (rubric check, judge, learned model) with its reason."""
    if text == "-":
        text = _read_stdin("--text")

    async def work(service):
        return await service.score_prompts(ids=ids or None, text=text, idea=idea, judge=judge)

    ranked = run_with_service(ctx, work)
    if output is Output.json:
        print_json([r.model_dump(mode="json") for r in ranked])
        return
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    for item in ranked:
        label = item.id or "text"
        console.print(Text(f"#{item.rank} {label} · score {item.score.total:.3f}", style="bold"))
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("component", "value", "weight", "source", "reason"):
            table.add_column(column, justify="right" if column in ("value", "weight") else "left")
        for c in item.score.components:
            source = c.weight_source
            if c.default_weight is not None:
                source = f"learned (default {c.default_weight:g})"
            table.add_row(c.name, f"{c.value:.2f}", f"{c.weight:g}", source, c.reason)
        console.print(table)
        for note in item.score.notes:
            console.print(Text(f"note: {note}", style="yellow"))
        console.print("")


# ------------------------------------------------------------------------------------------------ judge


def judge(
    ctx: typer.Context,
    id_a: str = typer.Argument(..., help="A stored prompt."),
    id_b: str = typer.Argument(None, help="A second stored prompt to compare with the first; omit for rubric scores."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """Ask the AI judge which of two stored prompts is better (both orders; disagreement is a tie), or for one
    prompt's rubric scores."""

    async def work(service):
        return await service.judge_prompts(id_a, id_b)

    verdict = run_with_service(ctx, work)
    if output is Output.json:
        print_json(verdict)
        return
    from rich.text import Text

    console = stdout_console()
    who = f"judge {verdict['provider']}/{verdict['model']}"
    if verdict["mode"] == "rubric":
        _render_rubric(console, verdict, who)
        return
    lengths = verdict["lengths"]
    console.print(Text(f"A {verdict['a']} ({lengths['a']} words) vs B {verdict['b']} ({lengths['b']} words) · {who}"))
    if not verdict["scored"]:
        console.print(Text(f"unscored: {verdict['error']}", style="yellow"))
        return
    if verdict["winner"] == "tie":
        how = "the two orders disagreed" if not verdict["agreed"] else "both orders called it a tie"
        console.print(Text(f"tie ({how})", style="bold"))
    else:
        console.print(
            Text(f"winner: {verdict['winner'].upper()} {verdict['winner_id']} (both orders agree)", style="bold green")
        )
    for order in verdict["orders"]:
        shown = "A first" if order["first"] == "a" else "B first"
        console.print(
            Text(
                f"- {shown}: {order['winner'] if order['winner'] == 'tie' else order['winner'].upper()}"
                f" · {order['reasoning']}"
            )
        )


def _render_rubric(console: Any, verdict: dict[str, Any], who: str) -> None:
    from rich.text import Text

    if not verdict["scored"]:
        console.print(Text(f"{verdict['id']} · {who} · unscored: {verdict['error']}", style="yellow"))
        return
    console.print(Text(f"{verdict['id']} · {who} · overall {verdict['overall']:.1f}/10", style="bold"))
    for c in verdict["criteria"]:
        console.print(Text(f"- {c['name']}: {c['score']:g}/10 · {c['reasoning']}"))
    if verdict["summary"]:
        console.print(Text(verdict["summary"]))
    if verdict.get("error"):
        console.print(Text(f"note: {verdict['error']}", style="yellow"))


# ------------------------------------------------------------------------------------------------ optimize


def optimize(
    ctx: typer.Context,
    prompt_id: str = typer.Argument(None, metavar="[ID]", help="A stored prompt to optimize (or use --prompt)."),
    prompt: str = typer.Option(None, "--prompt", help="Prompt text to optimize ('-' reads stdin)."),
    task: str = typer.Option(None, "--task", help="What the prompt must get a model to do (required)."),
    examples: Path = typer.Option(
        None,
        "--examples",
        metavar="FILE",
        help='JSONL of {"input", "expected"[, "match": exact|contains|regex][, "split": propose|heldout]}: '
        "score objectively on held-out examples.",
    ),
    max_iterations: int = typer.Option(3, "--max-iterations", help="Rounds of critique and rewrite, 1-20."),
    target_score: float = typer.Option(None, "--target-score", help="Stop once the best score reaches this (0-1]."),
    max_cost: float = typer.Option(
        None, "--max-cost", metavar="USD", help="Stop before spending more than USD on provider calls."
    ),
    metric: str = typer.Option(
        "auto",
        "--metric",
        help="judge (no examples), accuracy or loglik (with examples); auto picks loglik when the local model is "
        "installed.",
    ),
    provider: str = typer.Option(
        None, "--provider", help="Provider that critiques and rewrites (default: the coagulatio phase's)."
    ),
    task_provider: str = typer.Option(
        None, "--task-provider", help="Provider that answers the examples for accuracy (default: local)."
    ),
    no_save: bool = typer.Option(False, "--no-save", help="Do not store the iterations in the library."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    run_async: bool = typer.Option(
        False,
        "--async",
        help="Run it as a job and print the job (see 'jobs show'): on a PostgreSQL library a worker runs it.",
    ),
) -> None:
    """Improve a prompt: evaluate, critique with the latest evaluation, rewrite, re-evaluate; keep the best and
    store every iteration with its lineage."""
    if prompt == "-":
        prompt = _read_stdin("--prompt")
    if run_async:
        from prompt_alchemy.cli.jobs import submit

        options = {
            "prompt_id": prompt_id,
            "prompt": prompt,
            "task": task,
            "examples_path": str(examples) if examples is not None else None,
            "max_iterations": max_iterations,
            "target_score": target_score,
            "max_cost": max_cost,
            "metric": metric,
            "provider": provider,
            "task_provider": task_provider,
            "save": not no_save,
        }
        submit(ctx, lambda svc: svc.jobs.submit_optimize(options, wait=not svc.jobs.queued), output)
        return

    async def work(service):
        with _status() as on_progress:
            return await service.optimize(
                prompt_id=prompt_id,
                prompt=prompt,
                task=task,
                examples_path=examples,
                max_iterations=max_iterations,
                target_score=target_score,
                max_cost=max_cost,
                metric=metric,
                provider=provider,
                task_provider=task_provider,
                save=not no_save,
                progress=on_progress,
            )

    result = run_with_service(ctx, work)
    if output is Output.json:
        print_json(result.model_dump(mode="json"))
    else:
        render_optimization(result)


class _status:
    """A spinner with the current step on stderr; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self.status: Status | None = None

    def __enter__(self) -> Callable[[str], None] | None:
        if not sys.stderr.isatty():
            return None
        status = self.status = stderr_console().status("optimizing")
        status.start()
        return status.update

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.stop()


def _fmt(score: float | None) -> str:
    return "unscored" if score is None else f"{score:.3f}"


def render_optimization(result: OptimizationResult) -> None:
    from rich.rule import Rule
    from rich.syntax import Syntax
    from rich.table import Table
    from rich.text import Text

    console = stdout_console()
    seed, best = result.seed, result.best
    console.print(
        Text(
            f"run {result.run_id} · metric {result.metric} · {result.iterations} round(s) · stopped: "
            f"{result.stop_reason} · ${result.total_cost_usd:.4f}",
            style="bold",
        )
    )
    if result.examples:
        console.print(
            Text(
                f"examples: {result.examples['propose']} propose (shown to the rewriter), "
                f"{result.examples['heldout']} held-out (scored)"
            )
        )
    console.print(Text(f"before: {_fmt(seed.score)} · {seed.describe()}"))
    console.print(Text(f"after:  {_fmt(best.score)} · {best.describe()}", style="green" if result.improved else ""))
    if result.improvement:
        imp = result.improvement
        console.print(
            Text(
                f"gain per held-out example: {imp['mean']:+.3f} (95% CI {imp['ci_low']:+.3f} to "
                f"{imp['ci_high']:+.3f})"
            )
        )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("round", "id", "method", "score", "parent", "best"):
        table.add_column(column)
    for s in result.steps:
        table.add_row(
            str(s.iteration),
            s.prompt_id[:8],
            s.method,
            _fmt(s.score),
            (s.parent_id or "")[:8],
            "★" if s is best or s.prompt_id == best.prompt_id else "",
        )
    console.print(table)
    if result.improved:
        console.print(Rule("what changed and why", style="cyan"))
        for line in result.changes:
            console.print(Text(f"- {line}"))
        console.print(Rule("diff (seed → best)", style="cyan"))
        console.print(Syntax(result.diff, "diff", theme="ansi_dark", word_wrap=True))
    else:
        console.print(Text("no candidate beat the seed; the seed is kept as the best", style="yellow"))
    for event in result.events:
        console.print(Text(f"note: {event}", style="yellow"))
    console.print(Rule(f"best prompt · {best.prompt_id}", style="green"))
    console.print(Text(best.content))
    if not result.saved:
        console.print(Text("not saved (--no-save)", style="dim"))
