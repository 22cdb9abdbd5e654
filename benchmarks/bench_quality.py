"""Quality of the default `generate` with the embedded model: does the best final prompt work as a prompt?

Runs 30 ideas (coding, writing, analysis, education, business, personal; with and without `{variables}`; one line
and a paragraph) through `generate` as a user would (the installed CLI, a fresh home, default settings, no key),
then judges each best final prompt with an independent checker defined here, not with the product's ranker:

- addressed to a model; neither the deliverable itself nor advice to a human;
- keeps the idea's key words; stays on topic (embedding similarity to the idea);
- has a role, a task, context, constraints and an output format;
- free of repetition and degenerate text; leaks no scaffolding; keeps the idea's `{variables}`.

`--before` also runs each idea with `generation.mode: freeform` (the phase templates, as before the structured path)
in the same run. Prints one JSON object: pass rates, per-check failures, wall and model time, and every failing
prompt with its reasons. `--ideas N` runs the first N ideas only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"

IDEAS: list[tuple[str, str]] = [
    ("coding", "build a CLI that summarizes git logs"),
    ("coding", "write a Python function that validates {email_address} and explains why it is invalid"),
    ("coding", "review my pull request for security problems"),
    ("coding", "convert this SQL query to a pandas dataframe operation: {sql_query}"),
    ("coding", "Design a REST API for a library system. Books can be borrowed and returned. Members have a limit "
               "of five books. Overdue books accrue a daily fine."),
    ("writing", "write a cover letter for a junior data analyst job"),
    ("writing", "a newsletter about Rust for beginners"),
    ("writing", "write a wedding toast for my sister {sister_name} and her husband {partner_name}"),
    ("writing", "Write a short story for children about a lighthouse keeper who befriends a seagull. It should "
                "be gentle, about 500 words, and end with a lesson about patience."),
    ("writing", "draft a product description for a standing desk"),
    ("analysis", "analyze customer churn from {churn_data} and suggest three retention strategies"),
    ("analysis", "compare PostgreSQL and MongoDB for an analytics startup"),
    ("analysis", "summarize {transcript} into action items for {team}"),
    ("analysis", "Investigate why our website conversion rate dropped last month. Traffic is stable, but the "
                 "checkout page was redesigned and a new payment provider was added."),
    ("analysis", "extract the invoice number, date and total from {invoice_text} as JSON"),
    ("education", "explain quantum entanglement to high school students"),
    ("education", "create a 10-question quiz on the French Revolution"),
    ("education", "teach me the basics of {topic} in 15 minutes a day for a week"),
    ("education", "I am preparing a lesson for adult learners on budgeting. They have little math background. "
                  "I want practical exercises and a short reading they can finish in class."),
    ("education", "make flashcards for learning Spanish irregular verbs"),
    ("business", "plan a marketing launch for a mobile budgeting app"),
    ("business", "write a job posting for a senior backend engineer at {company}"),
    ("business", "classify customer support tickets by urgency"),
    ("business", "Prepare a quarterly business review for our biggest client. Cover usage growth, open support "
                 "issues and the renewal proposal. Keep it under ten slides."),
    ("business", "brainstorm names for a coffee subscription service"),
    ("personal", "help me negotiate a raise with my manager"),
    ("personal", "plan a 3-day trip to Lisbon on a budget"),
    ("personal", "create a weekly meal plan for a vegetarian family of four"),
    ("personal", "suggest a morning routine that helps me focus, given {wake_time} and {commute_minutes}"),
    ("personal", "I keep procrastinating on my thesis. Give me a realistic plan to finish the literature review "
                 "in four weeks while working part-time."),
]

# ------------------------------------------------------------------------------------ the independent checker

_STOP = set("""a an the and or but of for to in on at by with from into about as is are be it its this that these
those i me my we our you your they them their what which who how why when where can could would should will may
might must do does did have has had not no so than too very just also please want need like some any each every all
more most much many few such own same other make help get let one two up out over under new way""".split())
_VARIABLE = re.compile(r"\{\{?\s*([A-Za-z_]\w*)\s*\}?\}")


def _content_words(text: str) -> list[str]:
    text = _VARIABLE.sub(" ", text)
    out = []
    for w in re.findall(r"[a-z][a-z0-9+#'-]*", text.lower()):
        w = w.strip("'-")
        if len(w) >= 3 and w not in _STOP and w not in out:
            out.append(w)
    return out


def _sentences(text: str) -> list[str]:
    return [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 15]


def check(prompt: str, idea: str, similarity: float) -> dict[str, bool]:
    low = prompt.lower()
    words = re.findall(r"[a-z']+", low)
    first_person = sum(1 for w in words if w in ("i", "i'm", "i've", "me", "my", "mine"))
    unquoted_fp = first_person - len(re.findall(r"\"[^\"]*\b(?:i|my|me)\b[^\"]*\"", low))
    advice = re.search(r"here(?:'s| is| are) (?:how|some)|you can start by|start by crafting|here are some tips|"
                       r"i recommend|i suggest|you might want to|good luck|hope this helps", low)
    salutation = re.search(r"^\s*(dear|to whom it may concern|sincerely|best regards|kind regards|yours truly)\b",
                           low, re.M)
    narrative = re.search(r"\bi am (thrilled|excited|writing|delighted|eager|an ai)|\bi look forward\b", low)
    idea_words = _content_words(idea)
    have = {w[:5] for w in _content_words(prompt)}
    kept = sum(1 for w in idea_words if w[:5] in have) / max(1, len(idea_words))
    sents = _sentences(prompt)
    tokens = re.findall(r"\w+", low)
    grams = [tuple(tokens[i:i + 3]) for i in range(max(0, len(tokens) - 2))]
    distinct = len(set(grams)) / len(grams) if grams else 1.0
    return {
        "addressed_to_model": bool(re.search(r"\byou\b|\byour\b", low)) and not advice,
        "not_deliverable_or_advice": not salutation and not narrative and not advice
        and unquoted_fp <= max(1, len(words) // 40),
        "keeps_key_words": kept >= 0.7,
        "on_topic": similarity >= 0.45,
        "has_role": bool(re.search(r"\byou are\b|\bact as\b|\brole\b", low)),
        "has_task": bool(re.search(r"\btask\b|^\s*(write|build|create|explain|plan|analy[sz]e|summari[sz]e|review|"
                                   r"design|draft|compare|classify|extract|suggest|make|teach|prepare|investigate|"
                                   r"convert|help|brainstorm)\b", low, re.M)),
        "has_context": bool(re.search(r"\bcontext\b|\baudience\b|\bis for\b|\bfor (?:the|a|an) ", low)),
        "has_constraints": bool(re.search(r"\bconstraints?\b|\bmust\b|\bdo not\b|\bdon't\b|\bavoid\b|\bnever\b|"
                                          r"\bonly\b|\bkeep\b", low)),
        "has_output_format": bool(re.search(r"\boutput\b|\bformat\b|\brespond with\b|\breturn\b|\breply\b", low)),
        "no_repetition": len(sents) == len(set(sents)) and distinct >= 0.7,
        "no_scaffolding": not re.search(r"prima[- ]materia|solutio|coagulatio|<idea>|<draft>|<remarks>|<pre>|"
                                        r"field sources|kind of task|^```", low, re.M),
        "keeps_variables": set(_VARIABLE.findall(idea)) <= set(_VARIABLE.findall(prompt)),
    }


# ------------------------------------------------------------------------------------------------------ runs


def _generate(home: str, idea: str, mode: str | None) -> tuple[dict, float]:
    env = dict(os.environ, PROMPT_ALCHEMY_HOME=home)
    if mode:
        env["PROMPT_ALCHEMY_GENERATION__MODE"] = mode
    start = time.perf_counter()
    proc = subprocess.run([str(SCRIPT), "generate", "--no-cache", "--output", "json", idea],
                          capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"generate failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout), wall


async def _similarities(pairs: list[tuple[str, str]]) -> list[float]:
    from prompt_alchemy.config import load_settings
    from prompt_alchemy.embeddings import make_embedder
    from prompt_alchemy.providers.registry import ProviderRegistry

    settings = load_settings().settings
    embedder = make_embedder(settings, ProviderRegistry(settings))
    out = []
    for prompt, idea in pairs:
        a, b = await embedder.embed([prompt, idea])
        out.append(float(a @ b))
    return out


def run_mode(ideas: list[tuple[str, str]], mode: str | None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as home:
        for area, idea in ideas:
            data, wall = _generate(home, idea, mode)
            print(f"{mode or 'default'}: {wall:5.1f}s {idea[:60]}", file=sys.stderr, flush=True)
            best = data["best"]
            rows.append({"area": area, "idea": idea, "best": best["content"], "wall_s": wall,
                         "model_s": data["model_ms"] / 1000})
    sims = asyncio.run(_similarities([(r["best"], r["idea"]) for r in rows]))
    failures: dict[str, int] = {}
    failing = []
    for row, sim in zip(rows, sims):
        checks = check(row["best"], row["idea"], sim)
        row["passed"] = all(checks.values())
        for name, ok in checks.items():
            if not ok:
                failures[name] = failures.get(name, 0) + 1
        if not row["passed"]:
            failing.append({"idea": row["idea"], "failed": [n for n, ok in checks.items() if not ok],
                            "similarity": round(sim, 3), "best": row["best"][:600]})
    walls = sorted(r["wall_s"] for r in rows)
    return {
        "mode": mode or "default", "ideas": len(rows),
        "pass_rate": round(sum(r["passed"] for r in rows) / len(rows), 3),
        "failures_by_check": failures,
        "wall_s_median": round(walls[len(walls) // 2], 2), "wall_s_max": round(walls[-1], 2),
        "model_s_median": round(sorted(r["model_s"] for r in rows)[len(rows) // 2], 2),
        "failing": failing,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", action="store_true", help="also run the freeform path (the baseline)")
    parser.add_argument("--before-only", action="store_true", help="run only the freeform baseline")
    parser.add_argument("--ideas", type=int, default=len(IDEAS))
    args = parser.parse_args()
    ideas = IDEAS[:args.ideas]
    result: dict = {"benchmark": "quality_local_default"}
    if not args.before_only:
        result["after"] = run_mode(ideas, None)
    if args.before or args.before_only:
        result["before"] = run_mode(ideas, "freeform")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
