"""A simulated user with a hidden preference, and prompts built from the awesome-chatgpt-prompts CSV.

The user likes prompts that say what the output should look like and that are over 400 characters. They judge
"says what the output should look like" with their own notion (the regex below, not the ranker's rubric), and
one rating in ten is off by one, as real ratings are.
"""

from __future__ import annotations

import asyncio
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
_USER_FORMAT = re.compile(
    r"\b(format(?:ted)?|json|yaml|markdown|table|bullet|numbered|code block|" r"reply with|respond with|output)\b", re.I
)


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
    for i, row in enumerate(rows[offset : offset + n]):
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
        for b in prompts[i + 1 :]:
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

    service.store.save_session(
        [Prompt(id=p.id, content=p.content, title=p.act, source_type="imported", tags=[p.act]) for p in prompts]
    )


def _rate(service, ratings: list[tuple[str, int]]) -> None:
    """Rate through the service, from sync or async tests alike (on an event loop of its own)."""
    from concurrent.futures import ThreadPoolExecutor

    async def rate() -> None:
        for prompt_id, rating in ratings:
            await service.rate(prompt_id, rating, source="cli")

    with ThreadPoolExecutor(1) as worker:
        worker.submit(asyncio.run, rate()).result()


def rate_all(service, prompts: list[SimPrompt], seed: int = 7) -> None:
    rng = random.Random(seed)
    _rate(service, [(p.id, noisy_rating(p.content, rng)) for p in prompts])


def ranker_accuracy(service, prompts: list[SimPrompt]) -> float:
    """Held-out pairwise accuracy of the service's ranker (as `score`/`generate` use it) on `prompts`."""
    import asyncio

    stored = service.store.get_prompts([p.id for p in prompts])
    contexts = asyncio.run(service.learning.stored_feature_contexts(list(stored.values())))
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


@pytest.fixture(scope="session")
def sim_pg(pg_server, sim_db) -> str:
    """The simulated user's library in PostgreSQL (copied once per test session from `sim_db`, as `db copy` does):
    the name of a template database each PostgreSQL test clones."""
    return pg_template(pg_server, "alchemy_sim", sim_db)


@pytest.fixture
def sim_home(home, sim_db, backend, request) -> Path:
    """The test's PROMPT_ALCHEMY_HOME with a copy of the simulated user's library (the SQLite file, or on
    PostgreSQL the test's database cloned from `sim_pg`)."""
    import shutil

    if backend == "postgres":
        pg_clone(
            request.getfixturevalue("pg_server"),
            request.getfixturevalue("sim_pg"),
            request.getfixturevalue("postgres_url"),
        )
        return home
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{sim_db}{suffix}")
        if src.exists():
            shutil.copy(src, home / f"prompts.db{suffix}")
    return home


# ------------------------------------------------------------------------------------------------ either backend


def pg_template(pg_server, name: str, sqlite_db: Path) -> str:
    """A PostgreSQL template database `name` holding every row of the SQLite library `sqlite_db` (copied as
    `db copy` does); its name."""
    import psycopg
    from pg_testkit import _TEMPLATE

    from prompt_alchemy.storage.copy import copy_library
    from prompt_alchemy.storage.postgres import PostgresStore
    from prompt_alchemy.storage.sqlite import SQLiteStore

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    source, target = SQLiteStore(sqlite_db), PostgresStore(pg_server.get_uri(name))
    try:
        copy_library(source, target)
    finally:
        source.close()
        target.close()
    return name


def pg_clone(pg_server, template: str, url: str) -> None:
    """Make the (fresh, unused) database at `url` a copy of the template database `template`."""
    import psycopg

    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")


_pg_reader: list = []  # [url, connection]: the last PostgreSQL library read (polled by the schedule tests)


def library_rows(home: Path, sql: str) -> list[dict]:
    """The rows of `sql` on the test's library, whichever the backend: the SQLite file in `home`, or the
    PostgreSQL database PROMPT_ALCHEMY_DATABASE_URL names (the same schema: the same columns and values)."""
    import os
    import sqlite3

    url = os.environ.get("PROMPT_ALCHEMY_DATABASE_URL")
    if not url:
        with sqlite3.connect(home / "prompts.db") as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql)]
    import psycopg
    from psycopg.rows import dict_row

    if not _pg_reader or _pg_reader[0] != url or _pg_reader[1].closed:
        if _pg_reader:
            _pg_reader[1].close()
        _pg_reader[:] = [url, psycopg.connect(url, autocommit=True, row_factory=dict_row)]
    return _pg_reader[1].execute(sql).fetchall()


def integrity_error() -> type[Exception]:
    """What the test's backend raises when a write breaks a constraint."""
    import os
    import sqlite3

    if os.environ.get("PROMPT_ALCHEMY_DATABASE_URL"):
        import psycopg

        return psycopg.IntegrityError
    return sqlite3.IntegrityError


def make_service(**overrides):
    from prompt_alchemy.services import AlchemyService

    return AlchemyService.from_environment(overrides={**SCRIPTED, **overrides})


# ---------------------------------------------------------------------------------------- varied prompts and tastes

ROLE_SENTENCE = re.compile(
    r"^\s*(?:i want you to act as|i want you to be|act as|you are|you're|i would like you to "
    r"act as|imagine you are|pretend (?:to be|you are))\b[^.!?]*[.!?]\s*",
    re.I,
)
EXAMPLE_SENTENCES = (
    "For example, if I ask about recursion, start with a one-line definition and then a tiny code sample.",
    "Example input: 'my printer is offline'. Example output: 'Check the cable, then restart the spooler.'",
    "For instance, a good answer to 'plan a picnic' lists food, place and a backup plan for rain.",
    "Here is an example of the tone I want: 'Short, warm and to the point.'",
    "E.g. when I send a headline, reply with three alternatives ranked by clarity.",
)
CONSTRAINT_SENTENCES = (
    "Never invent facts; say when you do not know.",
    "Keep every answer under 150 words.",
    "Do not use jargon without explaining it.",
    "Always ask one clarifying question first if the request is vague.",
)
IMPERATIVE_OPENERS = ("Help me with this:", "Work as follows.", "Please read carefully.", "Your task is below.")


def usable(text: str) -> bool:
    """The ranker's non-prompt gate passes `text` (judged on its own, as an imported prompt is)."""
    from prompt_alchemy.ranking.features import NON_PROMPT_CHECKS, rubric

    return all(f.value >= 0.5 for f in rubric(text) if f.name in NON_PROMPT_CHECKS)


def build_varied_prompts(n: int, *, seed: int, offset: int = 0, prefix: str = "var") -> list[SimPrompt]:
    """`n` prompts from CSV rows `offset`.. (a fixed shuffle), each transformed at random so that concise and long
    prompts, prompts with and without a role line, with and without examples, format and constraint sentences all
    occur: the raw material for simulated users with different tastes. Only usable prompts are kept (those the
    ranker's non-prompt gate passes: learning never moves a text the gate rejects, so those say nothing about
    learning); the transforms are tried on the next rows until `n` are kept."""
    with open(AWESOME_CSV, encoding="utf-8") as fh:
        rows = [
            r for r in csv.DictReader(fh) if len(r["prompt"].split()) >= 25 and not r["prompt"].lstrip().startswith("{")
        ]
    random.Random(4321).shuffle(rows)
    rng = random.Random(seed)
    out: list[SimPrompt] = []
    for i, row in enumerate(rows[offset:]):
        if len(out) == n:
            break
        text = " ".join(row["prompt"].split())
        if rng.random() < 0.4:
            stripped = ROLE_SENTENCE.sub("", text, count=1)
            if stripped != text and len(stripped.split()) >= 8:
                text = stripped if rng.random() < 0.5 else f"{rng.choice(IMPERATIVE_OPENERS)} {stripped}"
        if rng.random() < 0.45:
            text = _shorten(text, rng.choice((120, 200, 280, 360)))
        if rng.random() < 0.35:
            text = f"{text} {rng.choice(EXAMPLE_SENTENCES)}"
        if rng.random() < 0.3:
            text = f"{text} {rng.choice(FORMAT_SENTENCES)}"
        if rng.random() < 0.25:
            text = f"{text} {rng.choice(CONSTRAINT_SENTENCES)}"
        if usable(text):
            out.append(SimPrompt(id=f"{prefix}-{offset + i:04d}", content=text, act=row["act"]))
    return out


_USER_ROLE = re.compile(
    r"\b(act as|acting as|you are|you're|your role|i want you to be|pretend to be|imagine you are|"
    r"as an? (?:expert|assistant|consultant)\b)",
    re.I,
)
_USER_EXAMPLE = re.compile(r"\b(for example|e\.g\.|for instance|example|such as|sample)\b", re.I)


def concise_taste(text: str) -> int:
    """Likes short prompts: 60 words or fewer."""
    return 5 if len(text.split()) <= 60 else 1


def no_role_taste(text: str) -> int:
    """Dislikes a role line ("act as ...", "you are ...") anywhere in the opening."""
    return 1 if _USER_ROLE.search(text[:200]) else 5


def examples_taste(text: str) -> int:
    """Likes prompts that show an example."""
    return 5 if _USER_EXAMPLE.search(text) else 1


TASTES = {
    "concise": concise_taste,
    "no_role": no_role_taste,
    "examples": examples_taste,
    "format_and_detail": true_rating,
}


def taste_accuracy(scores: dict[str, float], prompts: list[SimPrompt], taste) -> float:
    """Pairwise agreement of `scores` with `taste` on every pair it rates differently (ties count half)."""
    won = total = 0.0
    truth = {p.id: taste(p.content) for p in prompts}
    for i, a in enumerate(prompts):
        for b in prompts[i + 1 :]:
            ra, rb = truth[a.id], truth[b.id]
            if ra == rb:
                continue
            better, worse = (a, b) if ra > rb else (b, a)
            total += 1
            sb, sw = scores[better.id], scores[worse.id]
            won += 1.0 if sb > sw else 0.5 if sb == sw else 0.0
    return won / total if total else 0.0


def rate_with(service, prompts: list[SimPrompt], taste, *, seed: int = 7, noise: float = 0.1) -> None:
    """Rate `prompts` as a user with `taste` would: one rating in ten (by default) off by one."""
    rng = random.Random(seed)
    ratings = []
    for p in prompts:
        rating = taste(p.content)
        if rng.random() < noise:
            rating = min(5, max(1, rating + rng.choice((-1, 1))))
        ratings.append((p.id, rating))
    _rate(service, ratings)


def ranker_scores(service, prompts: list[SimPrompt]) -> dict[str, float]:
    """The service's ranker's totals (as `score`/`generate` compute them) for stored `prompts`."""
    import asyncio

    stored = service.store.get_prompts([p.id for p in prompts])
    contexts = asyncio.run(service.learning.stored_feature_contexts(list(stored.values())))
    return {p.id: service.ranker.score(p.content, contexts[p.id]).total for p in prompts}
