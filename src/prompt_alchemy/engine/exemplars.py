"""Exemplars: real prompts that guide the small model's spec fields by example (few-shot).

The pool is the CC0 awesome-chatgpt-prompts data shipped in ``prompt_alchemy/data`` (see its LICENSE file),
curated by rule: text prompts of the "I want you to act as <role>. <request>" form whose request reads as an
instruction, giving (request, role, task) triples. The user's own top-rated prompts join the pool per run
(``generation.include_context``). The exemplars nearest to an idea are found by embedding; their vectors are
computed once per machine and embedder model and kept in the cache directory.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_alchemy.engine.spec import names_a_person
from prompt_alchemy.logging_setup import get_logger

if TYPE_CHECKING:
    import numpy as np

    from prompt_alchemy.embeddings.base import Embedder

log = get_logger("exemplars")

CSV_NAME = "awesome-chatgpt-prompts.csv"
_ACT_AS = re.compile(
    r"^\s*(?:I want you to act|I want you to be|act|please act) (?:as|like) (?:an? |the |my )?"
    r"([^.,;:!?\n]{2,48}?)\s*[.,;:]\s*(.+)$",
    re.S | re.I,
)
_REQUEST_LEAD = re.compile(
    r"^(?:(?:and |then )?(?:you will|you should|you must|you need to|you'll|your task is to|your job is to|"
    r"your role is to|i want you to|i need you to|please)\s+)",
    re.I,
)
_VERB_START = re.compile(
    r"^(?:write|create|provide|generate|suggest|explain|help|give|answer|reply|translate|review|analy[sz]e|"
    r"develop|design|come up|compose|recommend|research|list|summari[sz]e|teach|correct|check|make|plan|"
    r"offer|produce|draft|craft|identify|evaluate|describe|find|improve|use|ask|respond|act|assist|guide|build)\b",
    re.I,
)
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\[[^\]]*\]|\"[^\"]{0,3}\"")


@dataclass(frozen=True)
class Exemplar:
    request: str  # what a user asked, in a sentence
    role: str  # the expert the prompt casts the model as ("a travel guide")
    task: str  # the request as an imperative instruction


def _article(noun: str) -> str:
    noun = noun.strip()
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _triple(act: str, prompt: str) -> Exemplar | None:
    """(request, role, task) from one CSV row: the role from "act as <role>" (else the row's `act`), the request
    from the first of its next sentences that reads as an instruction."""
    match = _ACT_AS.match(prompt)
    if match:
        role_noun, rest = match.group(1).strip(), match.group(2)
    elif re.fullmatch(r"[A-Za-z][A-Za-z -]{2,40}", act.strip()) and len(act.split()) <= 4:
        role_noun, rest = act.strip(), prompt
    else:
        return None
    if len(role_noun.split()) > 5 or _PLACEHOLDER.search(role_noun) or not names_a_person(role_noun):
        return None
    rest = " ".join(rest.split())
    for sentence in re.split(r"(?<=[.!?])\s+", rest)[:4]:
        body = _REQUEST_LEAD.sub("", sentence.strip(), count=1)
        if (
            _VERB_START.match(body)
            and 4 <= len(body.split()) <= 28
            and not _PLACEHOLDER.search(body)
            and "my first" not in body.lower()
            and not re.search(r"\*\*|\s-\s|:\s*$", body)
        ):
            task = body[0].upper() + body[1:].rstrip(" .!?") + "."
            request = f"{act.strip().lower()}: {body[0].lower() + body[1:].rstrip(' .!?')}"
            return Exemplar(
                request=request, role=_article(role_noun.lower() if not role_noun.isupper() else role_noun), task=task
            )
    return None


@lru_cache(maxsize=1)
def pool() -> tuple[Exemplar, ...]:
    """The curated exemplars from the shipped CSV, in file order."""
    text = resources.files("prompt_alchemy").joinpath("data", CSV_NAME).read_text(encoding="utf-8")
    csv.field_size_limit(1 << 24)
    out: list[Exemplar] = []
    seen: set[str] = set()
    for row in csv.DictReader(text.splitlines(keepends=True)):
        if (row.get("type") or "TEXT").upper() != "TEXT":
            continue
        ex = _triple(row.get("act") or "", row.get("prompt") or "")
        if ex and ex.task.lower() not in seen:
            seen.add(ex.task.lower())
            out.append(ex)
    return tuple(out)


def _vectors_path(embedder: Embedder) -> Path:
    from prompt_alchemy.embeddings.quantize import cache_dir

    data = resources.files("prompt_alchemy").joinpath("data", CSV_NAME).read_bytes()
    key = hashlib.sha256(data + f"|{embedder.provider}|{embedder.model}|{embedder.dimensions}|v1".encode())
    return cache_dir() / "exemplars" / f"{key.hexdigest()[:16]}.npy"


_vectors: dict[tuple[str, str, int], np.ndarray] = {}


async def vectors(embedder: Embedder) -> np.ndarray:
    """Unit vectors of every exemplar's task, from memory, the cache file, or embedded once and cached."""
    import numpy as np

    key = (embedder.provider, embedder.model, embedder.dimensions)
    if key in _vectors:
        return _vectors[key]
    path = _vectors_path(embedder)
    matrix = None
    if path.is_file():
        try:
            matrix = np.load(path)
        except (OSError, ValueError):
            matrix = None
    items = pool()
    if matrix is None or matrix.shape != (len(items), embedder.dimensions):
        matrix = np.asarray(await embedder.embed([e.task for e in items]), dtype=np.float32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, matrix)
            tmp.replace(path)
        except OSError as exc:  # a read-only cache only costs the next run the same embedding work
            log.warning("could not cache exemplar vectors in %s: %s", path, exc)
    _vectors[key] = matrix
    return matrix


async def nearest(embedder: Embedder | None, idea_vector: np.ndarray | None, k: int = 2) -> list[Exemplar]:
    """The `k` exemplars most similar to the idea; none without an embedder."""
    if embedder is None or idea_vector is None:
        return []
    import numpy as np

    matrix = await vectors(embedder)
    sims = matrix @ np.asarray(idea_vector, dtype=np.float32)
    order = np.argsort(-sims)[:k]
    items = pool()
    return [items[i] for i in order]


def main() -> None:  # pragma: no cover - run by hand or by a packager after install
    """Embed the exemplar pool and the pattern examples once into the cache, so the first `generate` does not pay
    for it: python -m prompt_alchemy.engine.exemplars"""
    import asyncio
    import sys

    from prompt_alchemy.embeddings.local import LocalEmbedder
    from prompt_alchemy.engine.patterns import example_vectors

    embedder = LocalEmbedder()
    if embedder.unavailable_reason():
        sys.stderr.write("exemplars: no local embedder; skipped\n")
        return
    matrix = asyncio.run(vectors(embedder))
    sys.stderr.write(f"exemplars: {matrix.shape[0]} exemplar vectors cached at {_vectors_path(embedder)}\n")
    examples = asyncio.run(example_vectors(embedder))
    sys.stderr.write(f"patterns: {examples.shape[0]} example and description vectors cached\n")


if __name__ == "__main__":  # pragma: no cover
    main()
