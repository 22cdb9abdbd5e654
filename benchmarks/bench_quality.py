"""Quality of the default offline `generate` on the development set: does the best prompt FIT the request?

The development set (benchmarks/data/dev_ideas.yaml) is the TEST set: 250 ideas written by hand as users type
them, each with the pattern a prompt engineer would choose and hand-written expectations of what a fitting prompt
must contain (`must`: every check needs one of its alternatives) and must not contain (`must_not`). It is kept
apart from the pattern files' examples (the TRAINING set); tests/engine/test_dev_set.py checks both.

Each idea runs through the project's service layer in one worker process (the embedded local model, default
settings and variant count, a fresh PROMPT_ALCHEMY_HOME, no keys, nothing saved, no response cache); the BEST
(ranked) prompt is checked here, by this file's own checker, not by the product's ranker.

Prints one JSON object: pass rate overall, per expected pattern and for the subsets (non-English, AI-facing, with
numbers), pattern-choice accuracy when the engine reports the pattern it chose, median seconds per idea, and the
first failing checks per idea (bounded).

    python benchmarks/bench_quality.py [--limit N] [--pattern NAME] [--show N]
        [--src PATH_TO_SRC] [--baseline PATH_TO_SRC] [--label NAME] [--save FILE] [--rescore FILE... [--common]]

`--baseline` runs the same set against another checkout's `src` (e.g. `git worktree add /tmp/pa-before <commit>`)
in a second worker, in the same run, and prints both side by side. `--save` writes every best prompt to a JSON file;
`--rescore` re-checks such files without generating (after a correction to the expectations); given two runs (two
files, or one file of a --baseline run) it prints them side by side, the first as current; `--common` scores only
the ideas every run has (runs stopped early).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "benchmarks" / "data" / "dev_ideas.yaml"
RESULT_MARK = "@@result "

#: The AI-facing pattern names of the pattern-library contract (an idea expecting one is in the AI-facing subset).
AI_FACING = (
    "assistant-system-prompt",
    "support-bot",
    "internal-helpdesk-bot",
    "tutor",
    "coach",
    "agent-with-tools",
    "roleplay-character",
    "image-midjourney",
    "image-stable-diffusion",
    "image-dalle",
)
_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
)

# --------------------------------------------------------------------------------------------- the dev set


def load_dev_set(path: Path = DEV_SET) -> list[dict[str, Any]]:
    """The ideas with `must_not` expanded: '@group' references replaced by the group's entries, then the entries
    of every shape whose `only_for` names neither the idea's pattern nor an also_ok one, then the global entries.
    Each idea also gets `ai_facing`, `non_english` and `with_numbers` flags."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups: dict[str, list[str]] = data.get("groups") or {}
    global_not: list[str] = data.get("global_must_not") or []
    shapes: dict[str, dict[str, list[str]]] = data.get("shapes") or {}
    pattern_must: dict[str, list[list[str]]] = data.get("pattern_must") or {}
    ideas = []
    for raw in data["ideas"]:
        idea = dict(raw)
        idea["also_ok"] = list(raw.get("also_ok") or [])
        fits = {raw["pattern"], *idea["also_ok"]}
        foreign = [bad for shape in shapes.values() if not fits & set(shape["only_for"]) for bad in shape["must_not"]]
        idea["must_not"] = [*expand(raw.get("must_not") or [], groups), *foreign, *global_not]
        own = list(raw.get("must") or [])
        idea["must"] = own + [check for check in pattern_must.get(raw["pattern"], []) if check not in own]
        idea["ai_facing"] = bool(raw.get("ai", raw["pattern"] in AI_FACING))
        idea["non_english"] = bool(raw.get("lang")) and raw.get("lang") != "en"
        idea["with_numbers"] = bool(raw.get("numbers"))
        idea["batch"] = int(raw.get("batch", 1))
        ideas.append(idea)
    return ideas


def expand(entries: Iterable[str], groups: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for entry in entries:
        if entry.startswith("@"):
            if entry[1:] not in groups:
                raise ValueError(f"unknown must_not group {entry!r}")
            out.extend(groups[entry[1:]])
        else:
            out.append(entry)
    return out


# ------------------------------------------------------------------------------------------------ checker


def matches(alternative: str, text: str) -> bool:
    """A 're:' alternative is a regex (IGNORECASE, MULTILINE); anything else a case-insensitive substring."""
    if alternative.startswith("re:"):
        return re.search(alternative[3:], text, re.IGNORECASE | re.MULTILINE) is not None
    return alternative.casefold() in text.casefold()


def check_prompt(prompt: str, idea: dict[str, Any]) -> list[str]:
    """The failed checks, described: 'missing: a | b' for a must check none of whose alternatives appears, and
    'has: x' for a must_not entry that appears. Empty when the prompt fits."""
    failed = []
    for check in idea.get("must") or []:
        if not any(matches(alt, prompt) for alt in check):
            failed.append("missing: " + " | ".join(check))
    for bad in idea.get("must_not") or []:
        if matches(bad, prompt):
            failed.append("has: " + bad)
    return failed


def check_count(idea: dict[str, Any]) -> int:
    return len(idea.get("must") or []) + len(idea.get("must_not") or [])


# ------------------------------------------------------------------------------------------------- worker


def _chosen_pattern(result: Any, names: set[str]) -> str | None:
    """The pattern the engine reports it chose, wherever it records it (a result or prompt attribute, the spec
    text of the first phase, a note, an event); None when it records none."""
    for holder in (result, *result.prompts):
        for attr in ("pattern", "pattern_name"):
            value = getattr(holder, attr, None)
            if isinstance(value, str) and value in names:
                return value
    texts: list[str] = list(result.events)
    for p in result.prompts:
        texts.extend(str(v) for v in (getattr(p, "notes", None), p.enhancement_method, *(p.tags or [])) if v)
        if p.parent_id is None:
            texts.append(p.content)
    for text in texts:  # e.g. the spec rendering's "Kind of task: support-bot (similarity 0.61, margin 0.09)"
        for match in re.finditer(r"\b(?:pattern|kind of task)\b[\s:=\"'(]*([a-z][a-z-]+)", text, re.I):
            if match.group(1).lower() in names:
                return match.group(1).lower()
    return None


def worker(ideas_file: str) -> None:
    """Generate each idea through the service layer of the prompt_alchemy on sys.path; one result line each."""
    import asyncio

    import prompt_alchemy
    from prompt_alchemy.services import AlchemyService

    # the checkout's own pattern names: an engine without pattern files reports no choice
    names = {p.stem for p in (Path(prompt_alchemy.__file__).parent / "engine" / "patterns").glob("*.yaml")}
    ideas = json.loads(Path(ideas_file).read_text(encoding="utf-8"))

    async def run() -> None:
        svc = AlchemyService.from_environment()
        try:
            warm = svc.build_request("warm up the model", save=False, use_cache=False)
            await svc.generate(warm)
            for idea in ideas:
                start = time.perf_counter()
                row: dict[str, Any] = {"idea": idea}
                try:
                    result = await svc.generate(svc.build_request(idea, save=False, use_cache=False))
                    best = result.best
                    row.update(best=best.content if best else "", chosen=_chosen_pattern(result, names))
                except Exception as exc:  # one failing idea is reported, the rest still run
                    row.update(best="", chosen=None, error=f"{type(exc).__name__}: {exc}"[:300])
                row["seconds"] = round(time.perf_counter() - start, 3)
                print(RESULT_MARK + json.dumps(row, ensure_ascii=False), flush=True)
        finally:
            await svc.aclose()

    print(RESULT_MARK + json.dumps({"source": prompt_alchemy.__file__}), flush=True)
    asyncio.run(run())


def run_order(ideas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Round-robin over the expected patterns (one idea of each, then another of each, ...), so that any prefix
    (`--limit`, or a run stopped early) covers the patterns evenly; within a pattern in a fixed shuffled order
    (the file lists a pattern's non-English ideas last)."""
    by_pattern: dict[str, list[dict[str, Any]]] = {}
    for idea in ideas:
        by_pattern.setdefault(idea["pattern"], []).append(idea)
    for group in by_pattern.values():  # a fixed shuffle within each pattern: a prefix mixes languages and lengths
        group.sort(key=lambda i: hashlib.sha1(i["idea"].encode()).hexdigest())
    out = []
    for rank in range(max((len(v) for v in by_pattern.values()), default=0)):
        out.extend(group[rank] for group in by_pattern.values() if rank < len(group))
    return out


def generate_all(src: Path, ideas: list[dict[str, Any]], label: str, progress: Any = None) -> dict[str, Any]:
    """Run the worker against the checkout whose package directory is `src`, in a fresh home, without keys.
    `progress(run)` is called after each idea with the run so far (to save partial results)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_") and k not in _KEYS}
    env["PYTHONPATH"] = str(src)
    rows: dict[str, dict[str, Any]] = {}
    run: dict[str, Any] = {"src": str(src), "package": "", "commit": _commit(src), "rows": rows}
    with tempfile.TemporaryDirectory() as tmp:
        env["PROMPT_ALCHEMY_HOME"] = tmp
        ideas_file = Path(tmp) / "ideas.json"
        ideas_file.write_text(json.dumps([i["idea"] for i in ideas]), encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(ideas_file)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith(RESULT_MARK):
                continue
            row = json.loads(line[len(RESULT_MARK) :])
            if "source" in row:
                run["package"] = row["source"]
                continue
            rows[row["idea"]] = row
            print(
                f"{label} {len(rows)}/{len(ideas)} {row['seconds']:5.1f}s {row['idea'][:70]}",
                file=sys.stderr,
                flush=True,
            )
            if progress is not None:
                progress(run)
        if proc.wait() != 0:  # reported in the output: a run that lost ideas is not a clean measurement
            print(f"{label}: the worker exited with {proc.returncode}", file=sys.stderr)
            run["worker_exit"] = proc.returncode
    return run


def _commit(src: Path) -> str | None:
    proc = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True, text=True)
    return proc.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


# ------------------------------------------------------------------------------------------------ scoring


def _rate(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def score(run: dict[str, Any], ideas: list[dict[str, Any]], max_failing: int = 80) -> dict[str, Any]:
    rows = run["rows"]
    per_pattern: dict[str, list[bool]] = {}
    subsets: dict[str, list[bool]] = {"non_english": [], "ai_facing": [], "with_numbers": []}
    batches: dict[int, list[bool]] = {}
    chosen_ok: list[bool] = []
    checks_total = checks_failed = 0
    failing = []
    passed_all = []
    for idea in ideas:
        row = rows.get(idea["idea"])
        if row is None:
            continue
        failed = check_prompt(row["best"], idea) if not row.get("error") else ["error: " + row["error"]]
        ok = not failed
        passed_all.append(ok)
        checks_total += check_count(idea)
        checks_failed += len(failed)
        per_pattern.setdefault(idea["pattern"], []).append(ok)
        batches.setdefault(idea["batch"], []).append(ok)
        for name in subsets:
            if idea[name]:
                subsets[name].append(ok)
        if row.get("chosen"):
            chosen_ok.append(row["chosen"] in (idea["pattern"], *idea["also_ok"]))
        if failed and len(failing) < max_failing:
            failing.append(
                {
                    "idea": idea["idea"][:90],
                    "pattern": idea["pattern"],
                    "chosen": row.get("chosen"),
                    "failed": failed[:3] + ([f"... {len(failed) - 3} more"] if len(failed) > 3 else []),
                }
            )
    scored_rows = [rows[i["idea"]] for i in ideas if i["idea"] in rows]
    seconds = [r["seconds"] for r in scored_rows if not r.get("error")]
    accuracy: Any = _rate(chosen_ok) if chosen_ok else "not reported by this engine"
    return {
        "src": run["src"],
        "commit": run.get("commit"),
        "ideas": len(passed_all),
        **({"worker_exit": run["worker_exit"]} if run.get("worker_exit") else {}),
        "errors": sum(1 for r in scored_rows if r.get("error")),
        "pass_rate": _rate(passed_all),
        "check_pass_rate": round(1 - checks_failed / checks_total, 3) if checks_total else None,
        "subsets": {name: {"n": len(flags), "pass_rate": _rate(flags)} for name, flags in subsets.items()},
        "batches": {f"batch_{b}": {"n": len(flags), "pass_rate": _rate(flags)} for b, flags in sorted(batches.items())},
        "pattern_accuracy": accuracy,
        "pattern_reported_for": len(chosen_ok),
        "seconds_median": round(statistics.median(seconds), 2) if seconds else None,
        "per_pattern": {
            name: {"n": len(flags), "pass_rate": _rate(flags)} for name, flags in sorted(per_pattern.items())
        },
        "failing": failing,
    }


def side_by_side(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Pattern -> [current, baseline] pass rates, and the headline figures the same way."""
    names = sorted(set(current["per_pattern"]) | set(baseline["per_pattern"]))
    return {
        "pass_rate": [current["pass_rate"], baseline["pass_rate"]],
        "check_pass_rate": [current["check_pass_rate"], baseline["check_pass_rate"]],
        "seconds_median": [current["seconds_median"], baseline["seconds_median"]],
        "subsets": {
            k: [current["subsets"][k]["pass_rate"], baseline["subsets"][k]["pass_rate"]] for k in current["subsets"]
        },
        "per_pattern": {
            n: [current["per_pattern"].get(n, {}).get("pass_rate"), baseline["per_pattern"].get(n, {}).get("pass_rate")]
            for n in names
        },
    }


def show(run: dict[str, Any], ideas: list[dict[str, Any]], count: int, label: str) -> None:
    for idea in ideas[:count]:
        row = run["rows"].get(idea["idea"])
        if row is None:
            continue
        failed = check_prompt(row["best"], idea)
        print(
            f"\n===== {label} [{idea['pattern']} -> {row.get('chosen')}] {idea['idea']}\n"
            f"{row['best'] or row.get('error')}\n----- {'PASS' if not failed else '; '.join(failed)}",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------------------------------- main


def _merge_saved(paths: list[Path]) -> dict[str, Any]:
    """The runs of several --save files; a label taken already is replaced by the file's name."""
    runs: dict[str, Any] = {}
    for path in paths:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {path}: {exc}", file=sys.stderr)
            sys.exit(2)
        for label, run in saved.items():
            runs[label if label not in runs else path.stem] = run
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="the first N ideas in run order (after --pattern, --batch)")
    parser.add_argument("--offset", type=int, default=0, help="skip the first N ideas in run order")
    parser.add_argument("--pattern", help="only the ideas expecting this pattern")
    parser.add_argument("--subset", choices=("non_english", "ai_facing", "with_numbers"), help="only this subset")
    parser.add_argument("--batch", type=int, help="only this batch (2: held out, written after the pattern examples)")
    parser.add_argument("--show", type=int, default=0, help="print N best prompts and their checks to stderr")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the checkout's src directory to measure")
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory, run the same way")
    parser.add_argument("--save", type=Path, help="write every best prompt of the run(s) to this JSON file")
    parser.add_argument("--label", default="current", help="the name of the measured run in the output")
    parser.add_argument("--rescore", type=Path, nargs="+", help="check the prompts of --save files, no generating")
    parser.add_argument("--common", action="store_true", help="with --rescore: only the ideas every run has")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --save: keep the file's prompts and generate only the ideas it lacks",
    )
    parser.add_argument("--dev-set", type=Path, default=DEV_SET)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    ideas = load_dev_set(args.dev_set)
    if args.pattern:
        if args.pattern not in {i["pattern"] for i in ideas}:
            print(f"error: no idea in the development set expects the pattern {args.pattern!r}", file=sys.stderr)
            sys.exit(2)
        ideas = [i for i in ideas if i["pattern"] == args.pattern]
    if args.batch is not None:
        ideas = [i for i in ideas if i["batch"] == args.batch]
        if not ideas:
            print(f"error: the development set has no batch {args.batch}", file=sys.stderr)
            sys.exit(2)
    if args.subset:
        ideas = [i for i in ideas if i[args.subset]]
    ideas = run_order(ideas)
    ideas = ideas[args.offset :]
    if args.limit is not None:
        ideas = ideas[: args.limit]
    for path in (args.src, args.baseline):
        if path is not None and not args.rescore and not (path / "prompt_alchemy").is_dir():
            print(f"error: {path} has no prompt_alchemy package (pass a checkout's src directory)", file=sys.stderr)
            sys.exit(2)
    runs: dict[str, Any] = {}

    def save(label: str, run: dict[str, Any]) -> None:
        runs[label] = run
        if args.save:  # after every idea: a run stopped early can still be scored with --rescore
            args.save.write_text(json.dumps(runs, ensure_ascii=False, indent=1), encoding="utf-8")

    if args.rescore:
        runs = _merge_saved(args.rescore)
        if args.common:
            ideas = [i for i in ideas if all(i["idea"] in run["rows"] for run in runs.values())]
    else:
        kept: dict[str, Any] = {}
        if args.resume and args.save and args.save.exists():
            kept = json.loads(args.save.read_text(encoding="utf-8")).get(args.label, {}).get("rows", {})
        todo = [i for i in ideas if i["idea"] not in kept]

        def merged(run: dict[str, Any]) -> dict[str, Any]:
            return {**run, "rows": {**kept, **run["rows"]}}

        run = generate_all(args.src.resolve(), todo, args.label, lambda r: save(args.label, merged(r)))
        save(args.label, merged(run))
        if args.baseline:
            save("baseline", generate_all(args.baseline.resolve(), ideas, "baseline", lambda r: save("baseline", r)))
    for label, run in runs.items():
        if args.show:
            show(run, ideas, args.show, label)
    out: dict[str, Any] = {
        "benchmark": "quality_dev_set",
        "dev_set": str(args.dev_set.relative_to(ROOT)) if args.dev_set.is_relative_to(ROOT) else str(args.dev_set),
        "ideas_selected": len(ideas),
        "note": "seconds are wall time per idea on a shared machine (noisy)",
    }
    scored = {label: score(run, ideas) for label, run in runs.items()}
    out.update(scored)
    if len(scored) == 2:
        first, second = scored
        out["side_by_side"] = {"order": [first, second], **side_by_side(scored[first], scored[second])}
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
