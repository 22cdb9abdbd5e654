"""Prompt patterns: what a good prompt for one kind of request contains, kept as data (one YAML file each, package
data beside this module), and the choice of the pattern that fits an idea.

A pattern's ``examples`` are the training set that chooses it: the idea is compared by embedding with every
example, each pattern scores the mean of its two nearest examples, and the best pattern is used when it is clearly
nearest (above a floor, ahead of the runner-up by a margin); otherwise the ``general`` pattern, which says only
what the idea says. Without an embedder the choice falls back to word overlap with the examples. The example
vectors are embedded once per embedder and pattern files and kept in the cache directory.

The schema is in docs/patterns.md. A file that fails validation is left out with a warning at run time, and fails
the pattern tests (tests/engine/test_patterns.py), so a broken file is caught before release, not by a user.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prompt_alchemy.logging_setup import get_logger

if TYPE_CHECKING:
    import numpy as np

    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.engine.details import IdeaDetails

log = get_logger("patterns")

GENERAL = "general"
MIN_EXAMPLES = 6
#: The slots a pattern's lines may use; the engine fills them from the idea (a line whose slot has no value for an
#: idea is dropped). `purpose` is what a bot or agent is for, in the idea's words, as an instruction; `topic` what its
#: name says it is for ("booking" for a booking assistant).
SLOTS = frozenset(
    {"subject", "domain", "audience", "count", "language", "input", "labels", "fields", "purpose", "topic", "expert"}
    | {"form", "duration", "platform", "stack", "length"}
)
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Choosing. Calibrated on the pattern examples only (leave-one-out: each example is held out and chosen against the
# other examples and the descriptions; MiniLM int8, 49 patterns, 460 examples): the best pattern was right for 84%
# of held-out examples. Right choices scored a median 0.42 and led the runner-up by 0.12; wrong ones 0.33 and 0.03.
# Held-out examples under FLOOR 0.25 or MARGIN 0.005 were right less than half the time (16 of 35), so those
# ideas get the general pattern; above them the choice is right 87% of the time for 92% of the ideas.
# tests/engine/test_choose.py re-measures this.
FLOOR = 0.25
MARGIN = 0.005
#: Without an embedder: the least word-overlap score (mean of the two best examples) that chooses a pattern.
KEYWORD_FLOOR = 0.12


class Pattern(BaseModel):
    """One pattern file. Frozen; unknown keys, missing examples and unknown slots are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    examples: tuple[str, ...]
    form: Literal["sections", "paragraph"] = "sections"
    roles: tuple[str, ...] = ()
    audience: str = ""
    task: tuple[str, ...] = ()  # lines that state the task themselves (bots, agents, images); first that fills
    verb: str = ""  # the instruction verb for an idea that names only its deliverable ("Plan" 5 days in Kyoto)
    sections: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    details_section: str = "Constraints"
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    output_format: str = ""
    example_output: str = ""
    inputs: tuple[str, ...] = ()
    parameters: str = ""

    @field_validator("examples")
    @classmethod
    def _enough_examples(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(" ".join(v.split()) for v in value)
        if len(value) < MIN_EXAMPLES:
            raise ValueError(f"needs at least {MIN_EXAMPLES} examples, has {len(value)}")
        if len({v.lower() for v in value}) != len(value):
            raise ValueError("has duplicate examples")
        if any(not v for v in value):
            raise ValueError("has an empty example")
        return value

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"input {name!r} must be a lower-case variable name (no braces)")
        return value

    @model_validator(mode="after")
    def _slots_known(self) -> Pattern:
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", self.name):
            raise ValueError(f"name {self.name!r} must be lower-case words joined by hyphens")
        for text in self.template_lines():
            unknown = set(_SLOT.findall(text)) - SLOTS
            if unknown:
                raise ValueError(
                    f"unknown slot(s) {', '.join(sorted(unknown))} in {text!r}; " f"known: {', '.join(sorted(SLOTS))}"
                )
        if self.form == "paragraph" and not self.task:
            raise ValueError("a paragraph pattern needs a task line (its subject)")
        if self.name != GENERAL and not self.form == "paragraph" and not self.roles:
            raise ValueError("needs at least one role")
        return self

    def template_lines(self) -> list[str]:
        lines = [*self.roles, self.audience, *self.task, *self.requirements, *self.constraints, self.output_format]
        for body in self.sections.values():
            lines.extend(body)
        return lines

    def skeleton(self) -> str:
        """The pattern's shape as guidance for a model that writes the prompt itself: its headings, requirements,
        constraints and output format (slots left as they are)."""
        parts = [f"Kind of request: {self.name} - {self.description}"]
        if self.form == "paragraph":
            parts.append(
                "Form: ONE descriptive paragraph, no headings: "
                + ", ".join(h.lower() for h in self.sections)
                + (f"; then the model's parameters: {self.parameters.splitlines()[0]}" if self.parameters else "")
            )
        elif self.sections:
            parts.append("Sections: Role, Task, " + ", ".join(self.sections) + ", Output format")
            for heading, lines in self.sections.items():
                parts.append(f"{heading}:\n" + "\n".join(f"- {line}" for line in lines))
        if self.requirements:
            parts.append("Requirements:\n" + "\n".join(f"- {r}" for r in self.requirements))
        if self.constraints:
            parts.append("Constraints:\n" + "\n".join(f"- {c}" for c in self.constraints))
        if self.output_format:
            parts.append(f"Output format: {self.output_format}")
        return "\n".join(parts)


# ------------------------------------------------------------------------------------------------ loading


def _files() -> list[tuple[str, str]]:
    folder = resources.files(__name__)
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8")) for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def parse_pattern(file_name: str, text: str) -> Pattern:
    """One pattern from its file; ValueError naming the file and what is wrong."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{file_name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file_name}: must be a mapping of keys")
    for key in ("sections",):
        if data.get(key) is None:
            data[key] = {}
    for key in ("roles", "task", "requirements", "constraints", "inputs"):
        if data.get(key) is None:
            data[key] = ()
        elif isinstance(data[key], str):
            data[key] = (data[key],)
    try:
        pattern = Pattern.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: "
            + ("unknown key (see docs/patterns.md for the schema)" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        )
        raise ValueError(f"{file_name}: {problems}") from None
    if pattern.name != file_name.removesuffix(".yaml"):
        raise ValueError(f"{file_name}: name {pattern.name!r} must equal the file name")
    return pattern


def validate_all() -> list[str]:
    """Every problem in the shipped pattern files (empty when all are valid)."""
    problems = []
    for file_name, text in _files():
        try:
            parse_pattern(file_name, text)
        except ValueError as exc:
            problems.append(str(exc))
    names = {f.removesuffix(".yaml") for f, _ in _files()}
    if GENERAL not in names:
        problems.append(f"{GENERAL}.yaml is missing")
    return problems


@lru_cache(maxsize=1)
def load_patterns() -> dict[str, Pattern]:
    """The valid patterns by name, general included; an invalid file is left out with a warning."""
    out: dict[str, Pattern] = {}
    for file_name, text in _files():
        try:
            pattern = parse_pattern(file_name, text)
        except ValueError as exc:
            log.warning("pattern left out: %s", exc)
            continue
        out[pattern.name] = pattern
    if GENERAL not in out:
        raise RuntimeError("the general pattern is missing from the package")
    return out


def files_digest() -> str:
    digest = hashlib.sha256()
    for file_name, text in _files():
        digest.update(file_name.encode() + b"\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ choosing


@dataclass(frozen=True)
class PatternChoice:
    """The chosen pattern; `similarity` is its score, `margin` its lead over the runner-up, `fallback` whether
    the general pattern was used because no pattern was clearly nearest (`nearest` names the one that was)."""

    pattern: Pattern
    similarity: float
    margin: float
    fallback: bool
    nearest: str = ""
    method: str = "embedding"


def example_table() -> tuple[list[str], list[str]]:
    """Every example and its pattern's name, in a fixed order."""
    texts, labels = [], []
    for name, pattern in sorted(load_patterns().items()):
        for example in pattern.examples:
            texts.append(example)
            labels.append(name)
    return texts, labels


def _embedded_texts() -> list[str]:
    """What is embedded once: every example (in `example_table` order), then every description (by name)."""
    return example_table()[0] + [p.description for _, p in sorted(load_patterns().items())]


def _vectors_path(embedder: Embedder) -> Path:
    from prompt_alchemy.embeddings.quantize import cache_dir

    key = hashlib.sha256(f"{files_digest()}|{embedder.provider}|{embedder.model}|{embedder.dimensions}|v2".encode())
    return cache_dir() / "patterns" / f"{key.hexdigest()[:16]}.npy"


_vectors: dict[tuple[str, str, int, str], np.ndarray] = {}


async def example_vectors(embedder: Embedder) -> np.ndarray:
    """Unit vectors of every example then every description (see `_embedded_texts`), from memory, the cache file,
    or embedded once and cached."""
    import numpy as np

    key = (embedder.provider, embedder.model, embedder.dimensions, files_digest())
    if key in _vectors:
        return _vectors[key]
    texts = _embedded_texts()
    path = _vectors_path(embedder)
    matrix = None
    if path.is_file():
        try:
            matrix = np.load(path)
        except (OSError, ValueError):
            matrix = None
    if matrix is None or matrix.shape != (len(texts), embedder.dimensions):
        matrix = np.asarray(await embedder.embed(texts), dtype=np.float32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, matrix)
            tmp.replace(path)
        except OSError as exc:  # a read-only cache only costs the next run the same work
            log.warning("could not cache pattern vectors in %s: %s", path, exc)
    _vectors[key] = matrix
    return matrix


#: A pattern's score mixes three similarities of the idea: to its two nearest examples (mean), to its description
#: and to the centroid of its examples. On leave-one-out over the examples (49 patterns, 408 examples, MiniLM
#: int8) the nearest-two mean alone chose right 59% of the time, with the description 72%, with both 75%.
WEIGHTS = (1.0, 1.0, 0.5)


def embedding_scores(matrix: np.ndarray, idea_vector: np.ndarray, exclude: int | None = None) -> dict[str, float]:
    """Each pattern's score for an idea vector, from the matrix of `example_vectors`; `exclude` leaves one example
    out (for leave-one-out calibration)."""
    import numpy as np

    _texts, labels = example_table()
    names = sorted(load_patterns())
    n = len(labels)
    vector = np.asarray(idea_vector, dtype=np.float32)
    sims = matrix[:n] @ vector
    desc = matrix[n:] @ vector
    label_array = np.asarray(labels)
    out: dict[str, float] = {}
    w_near, w_desc, w_centroid = WEIGHTS
    for k, name in enumerate(names):
        idx = np.flatnonzero(label_array == name)
        if exclude is not None:
            idx = idx[idx != exclude]
        near = float(np.sort(sims[idx])[::-1][:2].mean())
        centroid = matrix[idx].mean(axis=0)
        centroid_sim = float(centroid @ vector / (np.linalg.norm(centroid) or 1.0))
        out[name] = (w_near * near + w_desc * float(desc[k]) + w_centroid * centroid_sim) / sum(WEIGHTS)
    return out


def pattern_scores(sims: list[float], labels: list[str], top: int = 2) -> dict[str, float]:
    """Each pattern's score by word overlap: the mean of its `top` best example similarities."""
    by_name: dict[str, list[float]] = {}
    for value, name in zip(sims, labels):
        by_name.setdefault(name, []).append(value)
    return {name: sum(sorted(vals, reverse=True)[:top]) / min(top, len(vals)) for name, vals in by_name.items()}


#: Patterns whose prompts share one shape (a bot's system prompt; one image paragraph): when the two nearest are of
#: one family, either fits far better than the general pattern, so the margin does not apply between them.
FAMILIES = (
    frozenset({"support-bot", "internal-helpdesk-bot", "assistant-system-prompt"}),
    frozenset({"image-midjourney", "image-stable-diffusion", "image-dalle"}),
)


def _same_family(first: str, second: str) -> bool:
    return any(first in family and second in family for family in FAMILIES)


def decide(
    scores: dict[str, float], floor: float = FLOOR, margin: float = MARGIN, method: str = "embedding"
) -> PatternChoice:
    """The best-scoring pattern when it is clearly nearest (or its runner-up is of its family), else general."""
    patterns = load_patterns()
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    best, best_score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    lead = best_score - runner_up
    if best == GENERAL:
        return PatternChoice(patterns[GENERAL], best_score, lead, False, best, method)
    if len(ranked) > 1 and _same_family(best, ranked[1][0]) and best_score >= floor:
        return PatternChoice(patterns[best], best_score, lead, False, best, method)
    if best_score < floor or lead < margin:
        return PatternChoice(patterns[GENERAL], best_score, lead, True, best, method)
    return PatternChoice(patterns[best], best_score, lead, False, best, method)


_STEM = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a an the and or but of for to in on at by with from into about as is are be it its this that
i me my we our you your can could would should will please want need make write create give some any each
prompt""".split()
)


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _STEM.findall(text.lower()) if len(w) >= 2 and w not in _STOP}


def keyword_scores(idea: str) -> dict[str, float]:
    """Word overlap (by five-letter stems, cosine of the two sets) of the idea with each pattern's examples,
    each pattern scoring the mean of its two best examples."""
    texts, labels = example_table()
    idea_stems = _stems(idea)
    sims = []
    for text in texts:
        ex = _stems(text)
        sims.append(len(idea_stems & ex) / math.sqrt(len(idea_stems) * len(ex)) if idea_stems and ex else 0.0)
    return pattern_scores(sims, labels)


async def choose_pattern(idea: str, embedder: Embedder | None, idea_vector: np.ndarray | None) -> PatternChoice:
    """The pattern that fits the idea (see the module doc). A non-English idea is compared through an English
    gloss of its request words (see details.gloss) as well as its own words."""
    from prompt_alchemy.engine.details import detect_language, foreign_request_verb, gloss

    language = detect_language(idea) or foreign_request_verb(idea)
    english = gloss(idea) if language else idea
    if embedder is None or embedder.unavailable_reason() is not None:
        return decide(keyword_scores(english), KEYWORD_FLOOR, 0.0, method="keywords")
    import numpy as np

    matrix = await example_vectors(embedder)
    if idea_vector is None or english != idea:
        idea_vector = (await embedder.embed([english]))[0]
    scores = _named_model(english, _asked_kind(english, language, embedding_scores(matrix, np.asarray(idea_vector))))
    choice = decide(scores)
    if choice.pattern.name == GENERAL:
        return _by_lead_verb(english, choice, scores)
    return _by_decisive_verb(english, choice, scores)


#: "design a database schema for ...": SQL work, whatever the system is for.
_DESIGNS_A_SCHEMA = (
    r"design (?:an? |the |my |our )?(?:database|db|sql|relational|postgres\w*|mysql) (?:schema|model|tables)"
)
#: When no pattern is clearly nearest, the idea's own verb names the kind of task: "explain the difference between
#: TCP and UDP" is an explanation. (verb pattern, the pattern; an idea about code takes the code pattern.)
_LEAD_VERBS = (
    (r"explain|describe|teach me|eli5", "explain-topic"),
    (
        r"write (?:me )?(?:a |an )?(?:short |quick |polite |formal |friendly )?(?:message|note|letter|text|e-?mail)",
        "email",
    ),
    (r"brainstorm|come up with|list (?:some |\d+ )?ideas", "brainstorm"),
    (r"summari[sz]e|condense|tl;?dr", "summarize"),
    (r"translate", "translate"),
    (r"compare", "compare-decide"),
    (r"extract|pull", "extract-json"),
    (r"debug|fix", "code-debug"),
    (r"red[- ]team|stress[- ]test|jailbreak|probe", "red-team"),
    (r"classify|categori[sz]e", "classify"),
    (_DESIGNS_A_SCHEMA, "sql-query"),
    (
        r"(?:an? )?(?:incident |status |progress |weekly |monthly )?(?:report|postmortem|post-mortem|write-?up|minutes)"
        r"\b[^.]{0,60}\bfrom\b",
        "report-from-notes",
    ),
    (r"role-?play|act as|pretend to be|you are (?:a|an)\b", "roleplay-character"),
    (r"review|audit", "code-review"),
)
_ABOUT_CODE = re.compile(
    r"\{code\}|\b(?:code|function|method|class|script|regex|snippet|query|component|module|stack trace|handler|"
    r"endpoint|api|cli|library|struct|hook|migration|unit tests?)\b",
    re.I,
)
_TECH_TROUBLE = re.compile(
    r"\b(?:docker|container|server|app|build|deploy\w*|error|crash\w*|exception|tests?|api|database|query|"
    r"kubernetes|pod|script|code|function|compiler?|npm|pip|git|ssl|cors|timeout|memory leak|segfault|nginx|"
    r"apache|proxy|dns|certificate|cron|queue|worker|endpoint|service|pipeline|job)\b",
    re.I,
)
_BROKEN = re.compile(
    r"\b(?:can'?t|cannot|won'?t|doesn'?t|isn'?t|fails?|failing|failed|errors?|refused|broken|crash\w*|hangs?|"
    r"stuck|not working|returns? (?:a )?[45]\d\d|slow|leaks?|timeouts?|times out|duplicates?|duplicate rows|"
    r"wrong|incorrect|unexpected|instead of|keeps? \w+ing|throws?|raises?)\b",
    re.I,
)
_ASKS_FOR_IDEAS = re.compile(
    r"\b(?:\d+|some|a few|ten|twenty)\s+(?:[\w-]+\s+){0,3}(?:ideas|options|subject lines|headlines|hooks|variations)\b|"
    r"\bideas for\b|^\s*ways to\b",
    re.I,
)


#: Verbs that decide the kind of task whatever else the idea mentions ("summarize reviews into the top complaints"
#: is a summary, not a classification; "translate this text" a translation, not a summary).
_PLANS = ("trip-plan", "meal-plan", "training-plan", "study-plan", "project-plan")
_DECISIVE_VERBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"summari[sz]e|tl;?dr|condense", ("summarize",)),
    (r"translate", ("translate",)),
    # "plan ..." asks for a plan: the nearest kind of plan, not a cover letter because the idea mentions hiring
    (r"plan|planifica|plane|planifie|pianifica|planeje", _PLANS),
    (_DESIGNS_A_SCHEMA, ("sql-query",)),  # a database schema is SQL work, whatever the system is for
)


#: The patterns whose answer is a list of options (ideas, names).
_OPTION_LISTS = ("brainstorm", "naming")


def _asked_options(idea: str) -> str | None:
    """ "naming" or "brainstorm" when the idea asks for a number of options ("10 tagline ideas" asks for names,
    "20 blog post ideas" for ideas), else None."""
    if not _ASKS_FOR_IDEAS.search(idea):
        return None
    return "naming" if _ASKS_FOR_NAMES.search(idea) else "brainstorm"


def _by_decisive_verb(idea: str, choice: PatternChoice, scores: dict[str, float]) -> PatternChoice:
    from prompt_alchemy.engine.spec import strip_lead

    body = strip_lead(idea.strip()).lower()
    if _BUILDS_A_PROGRAM.match(body):
        return choice
    options = _asked_options(idea)  # "20 tweet ideas" is a list of ideas, not one tweet
    if options in scores and choice.pattern.name not in _OPTION_LISTS:
        return PatternChoice(load_patterns()[options], scores[options], choice.margin, False, options, "embedding+verb")
    if re.match(r"(?:my|our)\b", body) and _BROKEN.search(idea) and "code-debug" in scores:
        if (_ABOUT_CODE.search(idea) or _TECH_TROUBLE.search(idea)) and choice.pattern.name != "code-debug":
            # "my pandas merge is creating duplicate rows, here is the code": a bug report, not a request to build
            return PatternChoice(
                load_patterns()["code-debug"], scores["code-debug"], choice.margin, False, "code-debug"
            )
    for verb, names in _DECISIVE_VERBS:
        kinds = [name for name in names if name in scores]
        if re.match(rf"(?:{verb})\b", body) and kinds and choice.pattern.name not in names:
            name = max(kinds, key=lambda n: scores[n])
            return PatternChoice(load_patterns()[name], scores[name], choice.margin, False, name, "embedding+verb")
    return choice


def _by_lead_verb(idea: str, choice: PatternChoice, scores: dict[str, float]) -> PatternChoice:
    from prompt_alchemy.engine.details import stack_of
    from prompt_alchemy.engine.spec import strip_lead

    body = strip_lead(idea.strip()).lower()
    wanted = _asked_options(idea)
    if re.match(r"(?:why|how) (?:does|do|is|are|did|won't|can't|doesn't|isn't)\b|what (?:is|are) ", body):
        # "why does my Docker container exit right after starting?" is debugging; "why is the sky blue?" a topic
        trouble = re.match(r"why\b", body) and _TECH_TROUBLE.search(idea) and re.search(r"\b(?:my|our)\b", body)
        wanted = "code-debug" if trouble else "explain-topic"
    for verb, name in _LEAD_VERBS:
        if wanted is None and re.match(rf"(?:{verb})\b", body):
            wanted = name
    if wanted is None and re.match(r"(?:my|our)\b", body) and _TECH_TROUBLE.search(idea) and _BROKEN.search(idea):
        wanted = "code-debug"  # "my docker compose app can't reach postgres"
    if wanted is None and stack_of(idea) and _ABOUT_CODE.search(idea):  # "C# method that splits a list ..."
        wanted = "code-write"
    if wanted == "explain-topic" and _ABOUT_CODE.search(idea):
        wanted = "code-explain"
    if wanted == "code-review" and re.search(r"\bsecurity|vulnerab|injection|owasp", idea, re.I):
        wanted = "security-review"
    if wanted is None or wanted not in scores:
        return choice
    return PatternChoice(load_patterns()[wanted], scores[wanted], choice.margin, False, wanted, "embedding+verb")


#: An image model named in the idea decides which image pattern (its parameters and syntax differ).
_IMAGE_MODELS = (
    ("image-midjourney", re.compile(r"\b(?:midjourney|mj|/imagine)\b", re.I)),
    (
        "image-stable-diffusion",
        re.compile(r"\b(?:stable diffusion|sdxl|sd ?1\.5|sd ?3|automatic1111|" r"comfyui)\b", re.I),
    ),
    ("image-dalle", re.compile(r"\b(?:dall-?e(?: ?[23])?)\b", re.I)),
)
#: How near an image pattern must already be to the best for a named image model to decide.
NAMED_MODEL_REACH = 0.06


def _named_model(idea: str, scores: dict[str, float]) -> dict[str, float]:
    """When the idea names an image model and that model's pattern is nearly the best, it becomes the best."""
    best = max(scores.values())
    for name, regex in _IMAGE_MODELS:
        if name in scores and regex.search(idea) and scores[name] >= best - NAMED_MODEL_REACH:
            return {**scores, name: max(best, FLOOR) + MARGIN + 0.001}
    return scores


_ASKS_TO_TRANSLATE = re.compile(
    r"\btranslat(?:e|es|ing|ion)\b(?!\s+(?:agency|business|website|company|services?))|"
    r"\binto (?:english|spanish|german|french|italian|portuguese|dutch|japanese|chinese)\b",
    re.I,
)
_AGENT_WITH_TOOLS = re.compile(
    r"\bagents?\b[^.;]{0,80}\b(?:tools?|can (?:read|call|access|use|run|query|search|open|book|send)|access to|"
    r"apis?|functions?)\b",
    re.I,
)


#: A request that acts on a bot (tests it, labels or grades its chats) or sets a model's behaviour is not a request
#: for a business's chatbot, however near its words are to the support examples.
_ACTS_ON = frozenset(
    """label classify categorize categorise tag sort grade score rate evaluate assess review audit test
red red-team stress-test summarize summarise translate extract compare analyze analyse""".split()
)
_BEHAVIOUR = re.compile(
    r"\b(?:makes?|making|gets?|so|that|until)\s+(?:the\s+|an?\s+)?(?:model|ai|llm|chatgpt|gpt|"
    r"claude|gemini|bot|assistant)\s+(?:always\s+|never\s+|only\s+|to\s+)?(?:answers?|responds?|"
    r"repl(?:y|ies)|ends?|asks?|starts?|picks?|writes?|talks?|speaks?|uses?|says?|act)\b",
    re.I,
)
_BUSINESS_BOTS = ("support-bot", "internal-helpdesk-bot")
_SPAN_OF_MEALS = re.compile(
    r"\b(?:plan|planning|week|weekly|days?|month|menus?|meals|dinners|lunches|breakfasts|"
    r"prep|diet|calories|macros|semana|woche|semaine|settimana|plano|piano|wochenplan|"
    r"speiseplan|menú|repas|pasti|refeições|comidas)\b",
    re.I,
)
_CHOICE = re.compile(r"^\s*(?:should|which|is it better)\b[^.?!]{3,120}\s(?:or|vs\.?|versus)\s[^.!]{2,80}\?", re.I)
_ON_MATERIAL = ("extract-json", "classify", "summarize", "translate", "rewrite-tone")
_BUILDS_A_PROGRAM = re.compile(
    r"^(?:build|write|create|make|implement|code|develop)\s+(?:me\s+)?(?:an?\s+|the\s+)?"
    r"(?:[\w+#.-]+\s+){0,3}?(?:cli|command-line tool|script|app|application|program|"
    r"extension|plugin|library|tool|service|api|endpoint|function|component)\b",
    re.I,
)


def _asked_kind(idea: str, language: str | None, scores: dict[str, float]) -> dict[str, float]:
    """Candidates the idea's own request rules out. A non-English idea is near the translation examples by its
    foreign words alone: translation is a candidate only when the idea asks to translate. A business's bot is not
    a candidate when the request acts on a bot (red-team it, label its chats) or sets a model's behaviour."""
    from prompt_alchemy.engine.details import _PROMPT_LEAD, stack_of
    from prompt_alchemy.engine.spec import strip_lead

    drop: set[str] = set()
    if not _ASKS_TO_TRANSLATE.search(idea):  # "a translator's about-me page" asks for no translation
        drop.add("translate")
    if not (_ABOUT_CODE.search(idea) or _TECH_TROUBLE.search(idea) or stack_of(idea)):  # a heat pump is no code
        drop.update(("code-explain", "code-debug", "code-review", "code-tests", "code-convert"))
    if re.search(r"\bwith (?:unit |integration |some )?tests\b", idea, re.I):  # a program that comes with its tests
        drop.add("code-tests")
    if _AGENT_WITH_TOOLS.search(idea):  # "an agent that can read our Stripe dashboard and Zendesk"
        drop.update(_BUSINESS_BOTS)
    body = _PROMPT_LEAD.sub("", strip_lead(idea.strip()), count=1)
    first = re.split(r"[\s,:;]+", body.lower(), maxsplit=1)[0] if body.strip() else ""
    if first in _ACTS_ON:
        drop.update(_BUSINESS_BOTS)
    if not _SPAN_OF_MEALS.search(idea):  # one dish or one meal is a recipe question, not a plan
        drop.add("meal-plan")
    if not _ASKS_FOR_NAMES.search(idea):  # a product description of an Etsy shop's mugs is not its name
        drop.add("naming")
    if not _ASKS_FOR_A_SONG.search(idea):  # a message asking a neighbour to turn the music down is no song
        drop.add("song-lyrics")
    if not _ASKS_FOR_A_POEM.search(idea):  # nor a poem
        drop.add("poem")
    if not _ABOUT_FOOD.search(idea):  # "plan my wedding budget" is no meal plan
        drop.add("meal-plan")
    if not _ASKS_FOR_AN_IMAGE.search(idea):  # "a prompt so the AI always answers with emojis" draws nothing
        drop.update(("image-midjourney", "image-stable-diffusion", "image-dalle"))
    if not _ABOUT_TRAVEL.search(idea):  # "plan to open a second cafe location" goes nowhere
        drop.add("trip-plan")
    if not _NAMES_A_HELPER.search(idea):  # a postmortem from a Slack thread is no help-desk bot
        drop.update(_BUSINESS_BOTS)
    if not _ASKS_FOR_A_SYSTEM_PROMPT.search(idea):  # "a prompt that turns X into Y" or "an AI app's launch" is none
        drop.add("assistant-system-prompt")
    if not _ASKS_TO_GRADE.search(idea):  # a lesson plan grades nothing
        drop.add("grade-rubric")
    if not _ASKS_FOR_A_STORY.search(idea):  # a wedding toast is no short story
        drop.add("story")
    if not _ASKS_TO_REWRITE.search(idea):  # nor a rewrite of a text the user does not give
        drop.add("rewrite-tone")
    if not _ASKS_FOR_A_MESSAGE.search(idea):  # nor an email
        drop.add("email")
    if not _ASKS_FOR_A_COVER_LETTER.search(idea):  # a job description is no cover letter
        drop.add("cover-letter")
    if not _ASKS_FOR_AN_ARTICLE.search(idea):  # a tweet thread is no blog article
        drop.add("blog-article")
    if not (_ASKS_TO_CLASSIFY.search(idea) or _SORTS_INTO_LABELS.search(idea)):  # a database schema sorts nothing
        drop.add("classify")
    if not _ASKS_FOR_A_TUTOR.search(idea):  # a library bot that helps students find books is no tutor
        drop.add("tutor")
    if not _ASKS_FOR_A_REPORT.search(idea):  # a reminder about an invoice is no report from notes
        drop.add("report-from-notes")
    if not _ASKS_TO_EXTRACT.search(idea):  # "a restaurant review for Google Maps, 100 words" extracts nothing
        drop.add("extract-json")
    if not _ASKS_FOR_A_SUMMARY.search(idea):  # "plan to launch our podcast: first 6 episodes" summarizes nothing
        drop.add("summarize")
    if not _ASKS_FOR_OPTIONS.search(idea):  # "write a short speech for my friend's wedding" is no list of ideas
        drop.add("brainstorm")
    if _MAKES_A_RUBRIC.search(idea) and not _GRADES_AGAINST.search(idea):
        drop.add("grade-rubric")  # making a rubric is not grading work against one
    if _BUILDS_A_PROGRAM.match(body):  # a program that summarizes is code, not a summary of given material
        drop.update(_ON_MATERIAL)
    kept = {name: score for name, score in scores.items() if name not in drop} if drop else scores
    if _CHOICE.search(idea) and "compare-decide" in kept:  # "should we use A or B?" asks for a decision
        kept = {**kept, "compare-decide": max(FLOOR, *kept.values()) + MARGIN + 0.001}
    if _INSIDE_A_COMPANY.search(idea) and not _OUTSIDE_PEOPLE.search(idea):
        kept = {name: score for name, score in kept.items() if name != "support-bot"}  # employees ask inside
    if _SORTS_INTO_LABELS.search(idea) and "classify" in kept and not _NAMES_A_BOT.search(idea):
        # "classifies support emails into billing, bug or other": the labels decide it, not the word "emails"
        kept = {**kept, "classify": max(FLOOR, *kept.values()) + MARGIN + 0.001}
    if _BEHAVIOUR.search(idea) and not _HAS_PERSONA.search(idea):
        # "a prompt that makes the model answer only yes or no": the prompt is the behaviour, said plainly
        return {**kept, GENERAL: max(kept.values()) + MARGIN + 0.001}
    return kept


#: A song request names a song (or lyrics, a jingle, a verse or chorus), in the idea's own language.
_ASKS_FOR_A_SONG = re.compile(
    r"\b(?:songs?|lyrics|jingles?|raps?|anthems?|ballads?|chorus|verses?|hooks?|lullab(?:y|ies)|ditty|"
    r"canci[oó]n\w*|letra|lied\w*|songtext|chansons?|paroles|canzon[ei]|testo|can[cç][aã]o|liedje)\b",
    re.I,
)


_MAKES_A_RUBRIC = re.compile(r"\b(?:create|design|write|make|build|draft|develop)\b[^.]{0,40}\brubric\b", re.I)
_GRADES_AGAINST = re.compile(
    r"\b(?:grade|grading|score|scoring|mark|marking|assess)\b[^.]{0,60}\b(?:against|using|with)\b", re.I
)
_ASKS_FOR_AN_IMAGE = re.compile(
    r"\b(?:images?|pictures?|photos?|photograph\w*|illustrations?|art|artwork|drawings?|paintings?|renders?|"
    r"posters?|logos?|wallpapers?|portraits?|scenes?|icons?|covers?|thumbnails?|midjourney|mj|dall-?e|"
    r"stable[- ]diffusion|sdxl|sd|flux|firefly|imagen(?:es)?|bild(?:er)?|immagin[ei]|imagem|dessins?|"
    r"ilustraci[oó]n|illustrazione|ilustração|fotos?|foto\w*|concept|shot|visual|render\w*)\b",
    re.I,
)
_ABOUT_TRAVEL = re.compile(
    r"\b(?:trips?|travel\w*|itinerar\w*|vacations?|holidays?|visit\w*|honeymoon|tours?|getaway|backpacking|"
    r"cruise|city break|sightseeing|(?:days?|nights?|weekend|week) in|viajes?|reisen?|voyages?|viaggi[oa]?|"
    r"viagem|vacaciones|urlaub|vacances|ferien|férias|vakantie|giorni a|jours à|días en|tage in)\b",
    re.I,
)
#: A bot's system prompt names the bot (or assistant, chat, helpdesk, agent), in the idea's own language.
_NAMES_A_HELPER = re.compile(
    r"\b(?:\w*bots?|chatbots?|\w*assist\w*|asistente|chat|widget|helpdesk|help desk|agents?|ai|gpt|llm|chatgpt|"
    r"claude|gemini|persona|helper|system[- ]?prompt|custom instructions|concierge|receptionist|front desk)\b",
    re.I,
)
_ASKS_TO_EXTRACT = re.compile(
    r"\b(?:extract\w*|pull\w*|get\b[^.]{0,60}\bout of|parse\w*|json|fields?|structured|scrap\w*|"
    r"extra(?:e|er|ire|ia|ir|hieren)\w*|estrai\w*|extrahier\w*)\b",
    re.I,
)
_ASKS_TO_REWRITE = re.compile(
    r"\b(?:rewrite|re-write|rephrase|reword|paraphrase|polish|soften|tone|sound (?:more|less|like)|make (?:this|it|my|"
    r"the)|formal|informal|friendl\w*|firmer|simpler|less \w+|more \w+|edit|turn (?:my|this|these|the|our)|"
    r"umschreib\w*|formulier\w*|reescrib\w*|"
    r"réécri\w*|reformul\w*|riscriv\w*|reescrev\w*|\{[\w]+\})",
    re.I,
)
_ASKS_FOR_A_SYSTEM_PROMPT = re.compile(
    r"\b(?:system[- ]?prompts?|custom instructions|personas?|\w*assist\w*|asistente|\w*bots?|gpt|chatgpt|llm|"
    r"claude|gemini|act as|acts as|helper|instructions for (?:an? |the )?(?:ai|model|llm)|"
    r"(?:the|an?) (?:ai|model) (?:to|that|should|who))\b",
    re.I,
)
_ASKS_TO_GRADE = re.compile(
    r"\b(?:grad(?:e|es|ed|ing)\b|scor\w*|mark(?:s|ed|ing)?\b|rubrics?|assess\w*|evaluat\w*|feedback|bewert\w*|calific\w*|not(?:e|er)\b|"
    r"valut\w*|avali\w*|correct\w*|korrigier\w*)",
    re.I,
)
_ASKS_FOR_AN_ARTICLE = re.compile(
    r"\b(?:blogs?|articles?|essays?|long-?form|pieces?|columns?|op-?eds?|guides?|posts?|artículos?|artikel|"
    r"articolos?|artigos?|beitrag|billet)\b",
    re.I,
)
_ASKS_TO_CLASSIFY = re.compile(
    r"\b(?:classif\w*|categori[sz]\w*|labels?|label(?:l)?ing|tag(?:s|ging)?|sort\w*|triage\w*|sentiment|intents?|"
    r"klassifizier\w*|clasific\w*|classe\w*|classific\w*|catégor\w*)\b",
    re.I,
)
_ASKS_FOR_A_COVER_LETTER = re.compile(
    r"\b(?:cover letters?|motivation letters?|application letters?|letters? of (?:motivation|application)|"
    r"anschreiben|bewerbung\w*|lettres? de motivation|cartas? de presentaci[oó]n|lettera di presentazione|"
    r"carta de apresentação|sollicitatiebrief)\b",
    re.I,
)
_ASKS_FOR_A_TUTOR = re.compile(
    r"\b(?:tutor\w*|socratic|quiz\w*|homework|nachhilfe|tuteur|tutore|profesor particular)\b|"
    r"\b(?:bot|assistant|ai|chatbot|gpt|coach)\b[^.]{0,60}\b(?:teach\w*|learn\w*|explain\w*|practi[cs]\w*|study\w*)",
    re.I,
)
_ASKS_FOR_A_REPORT = re.compile(
    r"\b(?:reports?|notes|minutes|transcripts?|postmortem|post-mortem|write-?ups?|status|recap|summar\w*|logs?|"
    r"threads?|exports?|digest|methods section|findings|updates?|berichte?|informes?|rapports?|relat[oó]rios?|"
    r"verslag|notas|notizen|appunti)\b",
    re.I,
)
_ASKS_FOR_A_MESSAGE = re.compile(
    r"\b(?:e-?mails?|mails?|letters?|messages?|notes?|memos?|repl(?:y|ies)|respond|newsletters?|invitations?|"
    r"reminders?|follow-?ups?|"
    r"correos?|cartas?|lettres?|briefe?|nachrichten?|mensajes?|messaggi[oa]?|mensage(?:m|ns)|courriels?|lettera)\b",
    re.I,
)
_ASKS_FOR_A_STORY = re.compile(
    r"\b(?:stor(?:y|ies)|tales?|fiction|fables?|narratives?|novel\w*|short story|chapters?|plot|"
    r"cuentos?|historias?|geschichten?|märchen|histoires?|contes?|storia|storie|racconto|conto|história)\b",
    re.I,
)
_ASKS_FOR_A_SUMMARY = re.compile(
    r"\b(?:summar\w*|tl;?\s?dr|recap\w*|digest|gist|condense\w*|boil\w* down|key (?:points|takeaways)|"
    r"takeaways|show notes|abstract|synopsis|brief(?:ing)?|overview|resum\w*|résum\w*|zusammenfass\w*|fasse|"
    r"action items|meeting minutes|"
    r"riassum\w*|samenvat\w*|shorten)\b",
    re.I,
)
_ABOUT_FOOD = re.compile(
    r"\b(?:meals?|dinners?|lunch(?:es)?|breakfasts?|food|recipes?|diet\w*|menus?|calories|kcal|eat\w*|cook\w*|"
    r"nutrition|protein|vegan|vegetarian|keto|snacks?|comidas?|repas|essen|pasti|refeições|speiseplan|menú)\b",
    re.I,
)
_ASKS_FOR_OPTIONS = re.compile(
    r"\b(?:ideas?|brainstorm\w*|ways to|options|suggestions|angles|themes|topics|concepts|names?|list of|"
    r"subject lines|headlines|hooks|variations|alternatives|"
    r"ideen|idées|ideias|ideeën)\b",
    re.I,
)
_ASKS_FOR_A_POEM = re.compile(
    r"\b(?:poems?|poetry|haikus?|tankas?|limericks?|sonnets?|villanelles?|odes?|verses?|rhym\w*|acrostics?|"
    r"cinquains?|elegy|poem[ae]s?|poes[ií]a|gedichte?|po[eè]mes?|poesie|poesias?|haïkus?)\b",
    re.I,
)


#: A request to sort material into given labels ("classify reviews into positive, negative or mixed").
_SORTS_INTO_LABELS = re.compile(
    r"\b(?:classif(?:y|ies|ied|ying|ication)|categori[sz](?:e|es|ing)|triages?|tags?|labels?|sorts?)\b"
    r"[^.;]{0,100}?\b(?:into|as (?:one of|either)|by (?:category|type|topic|urgency|sentiment))\b",
    re.I,
)
#: People inside an organisation: their bot is a help desk, not a customer support bot.
_INSIDE_A_COMPANY = re.compile(
    r"\b(?:employees?'?|colleagues|co-?workers|new hires|internal|onboarding|(?:for|our|the) (?:\w+ )?staff|"
    r"hr (?:policy|policies|questions|bot|assistant|helpdesk)|"
    r"staff(?:'s|')? questions|mitarbeiter\w*|empleados|dipendenti|employés|funcionários)\b",
    re.I,
)
_OUTSIDE_PEOPLE = re.compile(
    r"\b(?:customers?|guests?|clients?|patients?|shoppers?|visitors?|players?|members?|students?|parents?|"
    r"passengers?|travell?ers?|buyers?|tenants?|users?)\b",
    re.I,
)
_NAMES_A_BOT = re.compile(r"\b(?:bot|chatbot|assistant|agent)s?\b", re.I)


#: A naming request asks for a name (or a title, tagline, what to call something), in the idea's own language.
_ASKS_FOR_NAMES = re.compile(
    r"\b(?:names?|naming|call|titles?|taglines?|slogans?|nombres?|llamar|namen?|"
    r"nennen|noms?|appeler|nomes?|chamar|nomi|chiamare)\b",
    re.I,
)


#: Words that make a behaviour request a persona's prompt (a business's bot, a tutor, a character) after all.
_HAS_PERSONA = re.compile(
    r"\b(?:customers?|employees?|staff|store|shop|company|clinic|business|tutor|coach|"
    r"character|agent|persona|students?|act as|acts as|pretend\w*|checker|reviewer|assistant)\b",
    re.I,
)


# ------------------------------------------------------------------------------------------------ filling


_UNLESS_SLOT = re.compile(r"^\{!([a-z_]+)\}\s*")
_ARTICLE_SLOT = re.compile(r"\b([Aa]n?) \{([a-z_]+)\}")
_LEADING_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.I)


def article_for(word: str) -> str:
    """ "a" or "an" for the word that follows, by its sound ("an hour", "a user", "an MBA")."""
    low = word.lower()
    if re.match(r"(?:hour|honest|honou?r|heir)", low) or (
        word.isupper() and len(word) > 1 and word[0] in "AEFHILMNORSX"
    ):
        return "an"
    if re.match(r"(?:uni|use|usu|uti|eu|one\b|once|ur[ai])", low):
        return "a"
    return "an" if low[:1] in set("aeiou") else "a"


def fill(line: str, slots: dict[str, str]) -> str | None:
    """A pattern line with its slots filled, or None when a slot it uses has no value. A slot after "a"/"an" is
    used as a modifier ("a {domain} coach" -> "a running coach"): its own article goes, the article agrees, and a
    value too long or possessive for that place counts as missing."""

    def with_article(match: re.Match[str]) -> str:
        value = slots.get(match.group(2)) or ""
        value = _LEADING_ARTICLE.sub("", value)
        if not value or "'" in value or len(value.split()) > 3 or value.lower().startswith(("their ", "the ")):
            raise KeyError(match.group(2))
        article = article_for(value.split()[0])
        if match.group(1)[0].isupper():
            article = article.capitalize()
        return f"{article} {value}"

    unless = _UNLESS_SLOT.match(line)  # "{!form} If no form is given, ...": only when the idea gives no form
    if unless:
        if slots.get(unless.group(1)):
            return None
        line = line[unless.end() :]
    try:
        line = _ARTICLE_SLOT.sub(with_article, line)
    except KeyError:
        return None
    missing = [name for name in _SLOT.findall(line) if not slots.get(name)]
    if missing:
        return None
    out = _SLOT.sub(lambda m: slots[m.group(1)], line)
    out = re.sub(r"(?<=[^s]s)'s\b", "'", out)  # "{audience}'s" of "the employees": "the employees'"
    return out[0].upper() + out[1:] if out and line.startswith("{") else out


def first_filled(lines: tuple[str, ...] | list[str], slots: dict[str, str]) -> str | None:
    for line in lines:
        filled = fill(line, slots)
        if filled:
            return filled
    return None


def pattern_guidance(choice: PatternChoice, details: IdeaDetails) -> str:
    """Guidance for a model that writes the prompt itself (the free-form and cloud path): the chosen pattern's
    skeleton and the idea's details that the prompt must keep."""
    parts = [
        f'The request fits the pattern "{choice.pattern.name}". Build the prompt on this skeleton, '
        f"filled for this idea (leave out any part that does not apply):",
        choice.pattern.skeleton(),
    ]
    kept = details.must_keep()
    if kept:
        parts.append(
            "Keep every one of these details of the idea, in the user's words:\n"
            + "\n".join(f"- {item}" for item in kept)
        )
    if details.language:
        parts.append(
            f"The idea is in {details.language_name}: keep its request as written and tell the model "
            f"to answer in {details.language_name}."
        )
    return "\n\n".join(parts)
