"""A simulated user with a hidden preference, and prompts built from the awesome-chatgpt-prompts CSV.

The user likes prompts that say what the output should look like and that are over 400 characters. They judge
"says what the output should look like" with their own notion (the regex below, not the ranker's rubric), and
one rating in ten is off by one, as real ratings are.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from testkit import AWESOME_CSV

FORMAT_SENTENCES = (
    "Format the answer as a Markdown table.",
    "Reply in JSON with the fields title and body.",
    "Give the output as a numbered list.",
    "Present the result as bullet points under short headings.",
    "Put any code in a single code block and nothing else.",
    "Return the output formatted as YAML.",
)
_USER_FORMAT = re.compile(r"\b(format(?:ted)?|json|yaml|markdown|table|bullet|numbered|code block|"
                          r"reply with|respond with|output)\b", re.I)


def wants_format(text: str) -> bool:
    return bool(_USER_FORMAT.search(text))


def true_rating(text: str) -> int:
    """The user's noise-free rating: 1 (neither), 3 (one of the two), 5 (both)."""
    return 1 + 2 * wants_format(text) + 2 * (len(text) > 400)


def noisy_rating(text: str, rng: random.Random) -> int:
    rating = true_rating(text)
    if rng.random() < 0.1:
        rating = min(5, max(1, rating + rng.choice((-1, 1))))
    return rating


def _shorten(text: str, limit: int = 380) -> str:
    out = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    if not out:
        out = text[:limit].rsplit(" ", 1)[0]
    return out


@dataclass
class SimPrompt:
    id: str
    content: str
    act: str


def build_prompts(n: int, *, seed: int, offset: int = 0, prefix: str = "sim") -> list[SimPrompt]:
    """`n` prompts from CSV rows `offset`.. (seeded order): about half shortened below 400 characters and about
    half given an output-format sentence, so every combination of the two preferences occurs."""
    with open(AWESOME_CSV, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if len(r["prompt"]) > 420]
    random.Random(1234).shuffle(rows)
    rng = random.Random(seed)
    out = []
    for i, row in enumerate(rows[offset:offset + n]):
        text = " ".join(row["prompt"].split())
        if rng.random() < 0.5:
            text = _shorten(text, rng.choice((200, 300, 380)))
            if rng.random() < 0.5:
                text = _shorten(text, 380 - 70)  # room for a format sentence without passing 400
        if rng.random() < 0.5:
            text = f"{text} {rng.choice(FORMAT_SENTENCES)}"
        out.append(SimPrompt(id=f"{prefix}-{offset + i:04d}", content=text, act=row["act"]))
    return out


def write_jsonl(prompts: list[SimPrompt], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for p in prompts:
            fh.write(json.dumps({"id": p.id, "content": p.content, "title": p.act}) + "\n")
    return path


def pairwise_accuracy(scores: dict[str, float], prompts: list[SimPrompt]) -> float:
    """Share of pairs with different true ratings that `scores` orders the user's way (ties count half)."""
    won = total = 0.0
    for i, a in enumerate(prompts):
        for b in prompts[i + 1:]:
            ra, rb = true_rating(a.content), true_rating(b.content)
            if ra == rb:
                continue
            better, worse = (a, b) if ra > rb else (b, a)
            total += 1
            sb, sw = scores[better.id], scores[worse.id]
            won += 1.0 if sb > sw else 0.5 if sb == sw else 0.0
    return won / total


# ------------------------------------------------------------------------------------------------ the library

TRAIN_N, HELD_N = 300, 100
SCRIPTED = {f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}


def sim_prompts() -> tuple[list[SimPrompt], list[SimPrompt]]:
    """The prompts the user rates, and held-out prompts they never rate (disjoint CSV rows)."""
    return build_prompts(TRAIN_N, seed=1), build_prompts(HELD_N, seed=2, offset=TRAIN_N, prefix="held")


def store_prompts(service, prompts: list[SimPrompt]) -> None:
    """Library rows built directly through the store (imported prompts: no session, no idea, no embedding)."""
    from prompt_alchemy.models import Prompt

    service.store.save_session([Prompt(id=p.id, content=p.content, title=p.act, source_type="imported",
                                       tags=[p.act]) for p in prompts])


def rate_all(service, prompts: list[SimPrompt], seed: int = 7) -> None:
    rng = random.Random(seed)
    for p in prompts:
        service.rate(p.id, noisy_rating(p.content, rng), source="cli")


def ranker_accuracy(service, prompts: list[SimPrompt]) -> float:
    """Held-out pairwise accuracy of the service's ranker (as `score`/`generate` use it) on `prompts`."""
    import asyncio

    stored = service.store.get_prompts([p.id for p in prompts])
    contexts = asyncio.run(service._stored_feature_contexts(list(stored.values())))
    return pairwise_accuracy({p.id: service.ranker.score(p.content, contexts[p.id]).total for p in prompts}, prompts)


@pytest.fixture(scope="session")
def sim_db(tmp_path_factory) -> Path:
    """A database (built once per test session) holding the simulated user's 300 ratings and 100 unrated
    held-out prompts."""
    import asyncio
    import os

    from prompt_alchemy.services import AlchemyService

    home = tmp_path_factory.mktemp("sim-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
    service = AlchemyService.from_environment(env={**env, "PROMPT_ALCHEMY_HOME": str(home)})
    train, held = sim_prompts()
    store_prompts(service, train + held)
    rate_all(service, train)
    asyncio.run(service.aclose())
    return home / "prompts.db"


@pytest.fixture
def sim_home(home, sim_db) -> Path:
    """The test's PROMPT_ALCHEMY_HOME with a copy of the simulated user's library."""
    import shutil

    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{sim_db}{suffix}")
        if src.exists():
            shutil.copy(src, home / f"prompts.db{suffix}")
    return home


def make_service(**overrides):
    from prompt_alchemy.services import AlchemyService

    return AlchemyService.from_environment(overrides={**SCRIPTED, **overrides})
