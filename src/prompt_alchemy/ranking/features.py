"""Deterministic prompt features and the prompt lint rubric: every check is a 0–1 score with a reason.

This module is the one place where a prompt's features are computed. The ranker combines them with weights; the
learning loop trains on :func:`feature_vector`, which returns the same checks plus length and one-hot metadata as a
flat ``dict[str, float]`` with a fixed set of keys, so that training and ranking always agree.

Everything here is pure and cheap: similarities (intent, distinctness) are computed by the caller (see
:func:`prompt_alchemy.ranking.ranker.feature_contexts`) and passed in through :class:`FeatureContext`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_ROLE = re.compile(
    r"\b(you are|you're|act as|acting as|as an? [a-z]+ (?:expert|assistant|engineer|writer|analyst|"
    r"editor|teacher|tutor|developer|consultant|specialist|reviewer)|your role|role:|<role>|"
    r"context:|background:|audience:|persona:)",
    re.I,
)
_TASK = re.compile(
    r"\b(task|goal|objective|your job|write|create|build|generate|produce|explain|analy[sz]e|"
    r"summari[sz]e|design|draft|review|list|describe|classify|translate|extract|answer|give|"
    r"rewrite|compare|identify|plan|implement|convert|reply|respond)\b",
    re.I,
)
_CONSTRAINTS = re.compile(
    r"\b(must|should|never|always|do not|don't|avoid|at most|at least|no more than|limit|"
    r"constraints?|only|require[sd]?|requirements?|without|exactly|keep)\b",
    re.I,
)
_FORMAT = re.compile(
    r"\b(output format|format|respond (?:with|in)|reply (?:with|in)|return|json|markdown|table|"
    r"bullet(?:s| points?)?|numbered|sections?|headings?|words|sentences|paragraphs?|yaml|csv|"
    r"code blocks?|fenced|one line|single word|bulleted|checklist)\b|```",
    re.I,
)
# An output-format section in each target form: Claude's XML (<output_format>), Markdown (## Output format,
# **Output format:**) and plain labels (Output format:, OUTPUT FORMAT:).
_FORMAT_SECTION = re.compile(
    r"<\s*(?:output[_ ]?format|response[_ ]?format|answer[_ ]?format|format|output)\s*>|"
    r"^[ \t]*#{1,6}[ \t]*(?:output|response|answer)?[ _]?format\b|^[ \t]*#{1,6}[ \t]*output[ \t]*$|"
    r"^[ \t]*(?:\*\*)?[ \t]*(?:output|response|answer)[ _]format[ \t]*(?:\*\*)?[ \t]*:|^[ \t]*format[ \t]*:",
    re.I | re.M,
)
# An image-model prompt: the model's own parameters (Midjourney flags, a Stable Diffusion negative prompt).
_IMAGE_PARAMS = re.compile(
    r"(?:^|\s)--(?:ar|aspect|v|version|niji|style|stylize|s|chaos|c|no|q|quality|seed|"
    r"weird|tile)\b|^\s*negative prompt\s*:",
    re.I | re.M,
)
_IMAGE_MODEL = re.compile(
    r"\b(midjourney|stable[- ]?diffusion|sdxl|dall[- ·]?e|imagen|flux|image (?:prompt|"
    r"generat\w*|model)|text[- ]to[- ]image)\b",
    re.I,
)
_VISUAL = re.compile(
    r"\b(lighting|light|composition|palette|colou?rs?|style|illustration|photograph|photo|render|"
    r"watercolou?r|oil painting|cinematic|depth of field|lens|\d+ ?mm|close-up|wide shot|"
    r"backdrop|background|foreground|pastel|detailed|texture)\b",
    re.I,
)
_PICTURE_OF = re.compile(
    r"\b(?:an? )?(?:image|picture|illustration|photo(?:graph)?|painting|render(?:ing)?|" r"digital art) of\b", re.I
)
_FORMAT_HEAVY = re.compile(r"\b(json|yaml|csv|table|schema|template|fields?)\b", re.I)
_EXAMPLES = re.compile(
    r"(\bfor example\b|\be\.g\.|\bexamples?:|\bexample (?:input|output)\b|\binput:|\boutput:|"
    r"<example>|\bsuch as\b)",
    re.I,
)
_VAGUE = re.compile(
    r"\b(some|stuff|things?|etc|various|nice|good|maybe|somehow|kind of|sort of|whatever|"
    r"appropriate|relevant|certain|several|properly|basically)\b",
    re.I,
)
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}|(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_WORD = re.compile(r"\w+")
# The deliverable written out instead of a prompt: letter or essay voice, salutations, first-person narrative.
_DELIVERABLE = re.compile(
    r"(^\s*(?:dear|hi|hello|to whom it may concern)\b[^\n]{0,60}[,:]\s*$|^\s*(?:sincerely|best regards|kind regards|"
    r"warm regards|yours (?:truly|sincerely|faithfully)|regards|cheers|best),?\s*$|\bi am (?:thrilled|excited|"
    r"writing to|delighted|pleased|confident|eager|an ai)\b|\bi'm (?:thrilled|excited|writing to|an ai)\b|"
    r"\bthank you for (?:your time|considering)\b|\bi look forward to\b|\bonce upon a time\b|\bin conclusion\b)",
    re.I | re.M,
)
_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|me|my|mine|myself)\b", re.I)
_SECOND_PERSON = re.compile(r"\b(you|your|you'll|you're|yourself)\b", re.I)
# A text that opens by casting or instructing the model.
_OPENS_AS_PROMPT = re.compile(
    r"^\W*(?:(?:role|task|system|persona)\W*:?\W*)?(?:you are|you're|act as|i want you to|i would like you to|"
    r"your (?:task|job|role)|please (?:act|respond|write|create)|(?:write|create|build|explain|generate|"
    r"give|list|draft|design|make|provide|summari[sz]e|translate|review|analy[sz]e|plan|help)\b)",
    re.I,
)
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
# Advice to a human reader instead of instructions to a model.
_ADVICE = re.compile(
    r"\b(here(?:'s| is| are) (?:how|some|a few)\b[^\n]{0,40}\b(?:you can|tips|steps|ways)|you can start by|start by "
    r"(?:crafting|writing|making|creating|researching)|here are some tips|tips (?:for|to) (?:write|writing|help)|"
    r"i (?:would )?(?:recommend|suggest) (?:that you|you)|you might want to|you may want to|make sure (?:to|you) "
    r"(?:proofread|tailor|research)|good luck|hope (?:this|that) helps|follow these steps to)\b",
    re.I,
)
_TO_MODEL = re.compile(
    r"\b(you are|you're|act as|your (?:task|job|role|goal)|respond|reply|answer|return|output|"
    r"write|create|build|explain|give|produce|generate|list|summari[sz]e|review|analy[sz]e|plan|"
    r"classify|extract|translate|rewrite|design|draft|describe|suggest|provide)\b",
    re.I,
)
# Scaffolding that belongs to our templates or to a chat reply, never to a prompt.
_SCAFFOLD = re.compile(
    r"(\bprima[- ]materia\b|\bsolutio\b|\bcoagulatio\b|\bphase [123] of 3\b|</?(?:idea|draft|guidance|remarks|pre|code|"
    r"assistant|user|system|s|im_start|im_end)>|<context source=|<\|[a-z_]+\|>|\bfield sources:|"
    r"\bkind of (?:task|request):|\bthe request fits the pattern\b|"
    r"\breply with the (?:final )?prompt only\b)",
    re.I,
)

#: The rubric checks, in display order. Each one is a 0–1 score; the ranker weights them.
RUBRIC: tuple[str, ...] = (
    "intent",
    "has_role",
    "states_task",
    "has_constraints",
    "output_format",
    "examples",
    "variables",
    "vague_words",
    "no_duplicate_lines",
    "length",
    "distinctness",
    "specificity",
    "addressed_to_model",
    "not_deliverable",
    "not_degenerate",
    "on_topic",
    "no_scaffolding",
)
#: The checks that tell a prompt from a non-prompt. A text that fails any of them (value below 0.5) is not a usable
#: prompt, and the ranker places it below every text that passes them all.
NON_PROMPT_CHECKS: tuple[str, ...] = (
    "addressed_to_model",
    "not_deliverable",
    "not_degenerate",
    "on_topic",
    "no_scaffolding",
)
#: Checks that need something besides the text (an idea, sibling variants); absent when that is missing.
CONTEXTUAL: frozenset[str] = frozenset({"intent", "distinctness", "on_topic", "specificity"})
_PHASES = ("prima-materia", "solutio", "coagulatio")
_PERSONAS = ("generic", "code", "writing", "analysis")


@dataclass(frozen=True)
class Feature:
    name: str
    value: float
    reason: str


@dataclass(frozen=True)
class FeatureContext:
    """What a prompt is judged against besides its own text.

    `idea_similarity` is the cosine similarity of the prompt to the original idea; `sibling_similarity` is its
    highest similarity to any sibling variant, measured by `sibling_measure` ("embedding" cosine, or "lexical"
    word-trigram overlap when no embedder is available). Phase, provider, model and persona feed the one-hot part
    of :func:`feature_vector` only; they never change a rubric score.
    """

    idea: str | None = None
    idea_similarity: float | None = None
    sibling_similarity: float | None = None
    sibling_measure: str = "embedding"
    phase: str | None = None
    provider: str | None = None
    model: str | None = None
    persona: str | None = None
    #: Sentences far from both the idea and any instruction a prompt gives (by embedding), out of how many.
    drift: tuple[str, ...] | None = None
    sentences: int = 0
    #: Sentences not related to the idea by embedding (they would fit any idea), measured with `drift`.
    generic: tuple[str, ...] | None = None


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def variables(text: str) -> set[str]:
    """Template variables written as ``{name}`` or ``{{name}}`` (JSON braces are not variables)."""
    return set(variable_names(text))


def variable_names(text: str) -> list[str]:
    """The template variables of `text` (see :func:`variables`), each once, in order of first appearance."""
    return list(dict.fromkeys(a or b for a, b in _VARIABLE.findall(text)))


def fill_variables(text: str, values: dict[str, str]) -> str:
    """`text` with every ``{name}`` and ``{{name}}`` whose name is in `values` replaced by its value (in one pass:
    a value that itself contains ``{braces}`` is inserted as it is); other variables are left as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values[name] if name in values else match.group(0)

    return _VARIABLE.sub(replace, text)


def rubric(text: str, ctx: FeatureContext | None = None) -> list[Feature]:
    """Every rubric check that applies to `text` in `ctx`, in :data:`RUBRIC` order."""
    ctx = ctx or FeatureContext()
    n_words = len(words(text))
    feats: dict[str, Feature] = {}
    intent = intent_feature(ctx.idea_similarity)
    if intent is not None:
        feats["intent"] = intent
    feats["has_role"] = _check(
        "has_role",
        bool(_ROLE.search(text)),
        "states a role or context for the model",
        "gives the model no role or context",
    )
    feats["states_task"] = _check(
        "states_task", bool(_TASK.search(text)), "states the task with an action verb", "no clear task verb"
    )
    feats["has_constraints"] = _check(
        "has_constraints", bool(_CONSTRAINTS.search(text)), "states constraints", "states no constraints"
    )
    feats["output_format"] = output_format_feature(text, ctx.idea)
    feats["examples"] = examples_feature(text)
    feats["variables"] = variables_feature(text, ctx.idea)
    feats["vague_words"] = vague_feature(text, n_words)
    feats["no_duplicate_lines"] = duplicates_feature(text)
    feats["length"] = length_feature(n_words, len(words(ctx.idea)) if ctx.idea else 0)
    distinct = distinctness_feature(ctx.sibling_similarity, ctx.sibling_measure)
    if distinct is not None:
        feats["distinctness"] = distinct
    specific = specificity_feature(ctx.generic, ctx.sentences)
    if specific is not None:
        feats["specificity"] = specific
    feats["addressed_to_model"] = addressed_feature(text)
    feats["not_deliverable"] = deliverable_feature(text, n_words)
    feats["not_degenerate"] = degenerate_feature(text)
    on_topic = on_topic_feature(ctx.drift, ctx.sentences)
    if on_topic is not None:
        feats["on_topic"] = on_topic
    feats["no_scaffolding"] = scaffolding_feature(text)
    return [feats[name] for name in RUBRIC if name in feats]


def feature_vector(text: str, ctx: FeatureContext | None = None) -> dict[str, float]:
    """The prompt as a flat vector with a fixed set of keys, for learning and for a learned scorer.

    Keys: every rubric check (a missing contextual check is 0.0 with ``<name>_missing`` = 1.0), ``log_words``
    (log of the word count, scaled so 2,000 words is 1.0), and one-hots ``phase=…``, ``provider=…``,
    ``persona=…`` over fixed vocabularies (unknown personas map to ``persona=custom``). Models are an open set, so
    ``model=…`` is present (1.0) only for the prompt's own model; a learner reads absent keys as 0.
    """
    from prompt_alchemy.config import PROVIDER_NAMES

    ctx = ctx or FeatureContext()
    feats = {f.name: f.value for f in rubric(text, ctx)}
    vec: dict[str, float] = {}
    for name in RUBRIC:
        vec[name] = float(feats.get(name, 0.0))
        if name in CONTEXTUAL:
            vec[f"{name}_missing"] = 0.0 if name in feats else 1.0
    vec["log_words"] = min(1.0, math.log1p(len(words(text))) / math.log1p(2000))
    for phase in _PHASES:
        vec[f"phase={phase}"] = 1.0 if ctx.phase == phase else 0.0
    for provider in PROVIDER_NAMES:
        vec[f"provider={provider}"] = 1.0 if ctx.provider == provider else 0.0
    persona = ctx.persona if ctx.persona in _PERSONAS or ctx.persona is None else "custom"
    for name in (*_PERSONAS, "custom"):
        vec[f"persona={name}"] = 1.0 if persona == name else 0.0
    if ctx.model:
        vec[f"model={ctx.model}"] = 1.0
    vec.update(shape_features(text))
    return vec


#: How a prompt opens, for :func:`shape_features` (and the patterns report).
OPENINGS: tuple[str, ...] = ("you_are", "act_as", "imperative", "question", "other")
_OPEN_YOU_ARE = re.compile(r"^\W*(?:you are|you're)\b", re.I)
_OPEN_ACT_AS = re.compile(
    r"^\W*(?:i want you to act as|i want you to be|act as|acting as|pretend (?:to be|you are)|"
    r"imagine you are|i would like you to act as|i need you to act as)\b",
    re.I,
)
_IMPERATIVE = frozenset(
    (
        "write create build generate produce explain analyze analyse summarize summarise design draft review list "
        "describe classify translate extract answer give rewrite compare identify plan implement convert reply respond "
        "make help provide suggest tell find act please read take use imagine consider develop outline evaluate "
        "assess recommend prepare compose craft edit improve check fix correct solve calculate teach show"
    ).split()
)
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.M)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+\S|[A-Z][A-Za-z /]{1,30}:\s*$|[A-Z][A-Za-z /]{1,30}:\s+\S|<[a-z_]+>)", re.M)
_SECOND_PERSON = re.compile(r"\b(you|your|yours|yourself)\b", re.I)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def lexical_features(text: str) -> dict[str, float]:
    """The words of the prompt as an open set of ``word=…`` keys (lower case, 3+ letters), present (1.0) only for
    words the text uses: what lets a learned model pick up a user's own notion ("an example", "for instance")
    that no rubric check names. Not part of :func:`feature_vector` (whose keys are fixed)."""
    return {f"word={w}": 1.0 for w in {w.lower() for w in words(text)} if len(w) >= 3 and w.isalpha()}


def opening(text: str) -> str:
    """How the prompt opens: "you_are" ("You are ..."), "act_as" ("I want you to act as ...", "Act as ..."),
    "imperative" (a verb such as "Write ..."), "question", or "other"."""
    head = text.strip()
    if _OPEN_YOU_ARE.match(head):
        return "you_are"
    if _OPEN_ACT_AS.match(head):
        return "act_as"
    first = words(head[:80])
    if first and first[0].lower() in _IMPERATIVE:
        return "imperative"
    sentence = _SENTENCE.match(head)
    if sentence and sentence.group(0).rstrip().endswith("?"):
        return "question"
    return "other"


def shape_features(text: str) -> dict[str, float]:
    """The prompt's form beyond the rubric, for the learned model: how it opens, lists, headings or labelled
    sections, questions, template variables, quoted text, code, sentence length and how much it addresses the
    model as "you". Fixed keys, values 0-1."""
    n_words = max(len(words(text)), 1)
    sentences = [s for s in _SENTENCE.findall(text) if words(s)]
    out = {f"opening={name}": 0.0 for name in OPENINGS}
    out[f"opening={opening(text)}"] = 1.0
    out["has_list"] = 1.0 if len(_LIST_LINE.findall(text)) >= 2 else 0.0
    out["has_headings"] = 1.0 if len(_HEADING.findall(text)) >= 2 else 0.0
    out["has_question"] = 1.0 if "?" in text else 0.0
    out["has_variables"] = 1.0 if variables(text) else 0.0
    out["has_quotes"] = 1.0 if _QUOTED.search(text) else 0.0
    out["has_code"] = 1.0 if "`" in text else 0.0
    out["multiline"] = 1.0 if text.strip().count("\n") >= 2 else 0.0
    out["sentence_words"] = min(1.0, n_words / max(len(sentences), 1) / 40.0)
    out["second_person"] = min(1.0, len(_SECOND_PERSON.findall(text)) / n_words * 10.0)
    return out


# ------------------------------------------------------------------------------------------------ checks


def intent_feature(similarity: float | None) -> Feature | None:
    """Intent preservation: cosine similarity to the original idea, 0.1 → 0 and 0.7 or more → 1."""
    if similarity is None:
        return None
    value = max(0.0, min(1.0, (similarity - 0.1) / 0.6))
    return Feature("intent", value, f"cosine similarity {similarity:.2f} to the original idea")


def distinctness_feature(similarity: float | None, measure: str = "embedding") -> Feature | None:
    """Distinctness from sibling variants. A near-copy of a sibling scores 0; clearly different approaches 1.

    Embedding cosine: 0.98 or more → 0, 0.68 or less → 1. Lexical (shared word trigrams): 0.9 → 0, 0.3 → 1.
    """
    if similarity is None:
        return None
    if measure == "lexical":
        value = (0.9 - similarity) / 0.6
        what = f"shares {similarity:.0%} of its word trigrams with its closest sibling variant"
    else:
        value = (0.98 - similarity) / 0.30
        what = f"cosine similarity {similarity:.2f} to its closest sibling variant"
    value = max(0.0, min(1.0, value))
    verdict = "a near-copy" if value < 0.2 else "distinct" if value >= 0.7 else "somewhat distinct"
    return Feature("distinctness", value, f"{verdict}: {what}")


def output_format_feature(text: str, idea: str | None = None) -> Feature:
    """Says what the answer should look like, in whatever form the target reads: an output-format section (Claude's
    <output_format>, Markdown "## Output format", a plain "Output format:" label) or a phrase naming the form (code
    blocks, a ```sql block, JSON, a table, one paragraph, a numbered list). An image-model prompt has no sections:
    its form is the descriptive paragraph and the model's parameters, so it is not asked for an output section."""
    section = _FORMAT_SECTION.search(text)
    if section:
        return Feature("output_format", 1.0, f"specifies the output format ({section.group(0).strip()} section)")
    phrase = _FORMAT.search(text)
    if phrase:
        return Feature("output_format", 1.0, f"specifies the output format ('{phrase.group(0).strip()}')")
    if is_image_prompt(text, idea):
        return Feature(
            "output_format",
            1.0,
            "an image prompt: its form is the descriptive paragraph and the model's "
            "parameters, not an output section",
        )
    return Feature("output_format", 0.0, "does not say what the answer should look like")


def is_image_prompt(text: str, idea: str | None = None) -> bool:
    """A prompt for an image model: it carries the model's parameters (--ar 16:9, a negative prompt), or it is one
    paragraph with no sections, for an idea that names an image model, or describing a picture (style, lighting,
    composition) without addressing the model as "you"."""
    if _IMAGE_PARAMS.search(text):
        return True
    if "\n\n" in text.strip() or len(_HEADING.findall(text)) >= 2:
        return False
    if idea is not None and _IMAGE_MODEL.search(idea):
        return True
    visual = len({m.lower() for m in _VISUAL.findall(text)})
    if _PICTURE_OF.search(text):
        return visual >= 2
    return visual >= 3 and not _SECOND_PERSON.search(text)


def specificity_feature(generic: tuple[str, ...] | None, sentences: int) -> Feature | None:
    """The share of the prompt's sentences related to the idea by embedding (see
    :func:`prompt_alchemy.ranking.drift.measure`): a prompt whose sentences would fit any idea ("Match the tone to
    the audience.") scores low. The value is that share. Absent when no embedder measured it."""
    if generic is None or not sentences:
        return None
    related = sentences - len(generic)
    value = related / sentences
    if not generic:
        return Feature("specificity", value, f"all {sentences} sentences are about the idea")
    return Feature(
        "specificity",
        value,
        f"{related} of {sentences} sentences are about the idea; "
        f"{len(generic)} would fit any idea, e.g. '{generic[0][:60]}'",
    )


def length_feature(n_words: int, idea_words: int = 0) -> Feature:
    """Length appropriate to the task. Elaboration is not punished: anything from the floor (40 words, or the
    idea's own length when it is longer) up to max(1,500, 4 × the idea) scores fully."""
    floor = max(40, min(idea_words, 400))
    ceiling = max(1500, 4 * idea_words)
    if n_words < 8:
        return Feature("length", 0.0, f"{n_words} words: too short to instruct a model")
    if n_words < floor:
        if idea_words > 40:
            why = f"shorter than the {idea_words}-word idea it refines"
        else:
            why = f"terse; most prompts need {floor}+"
        return Feature("length", n_words / floor, f"{n_words} words: {why}")
    if n_words <= ceiling:
        return Feature("length", 1.0, f"{n_words} words: a workable length")
    return Feature("length", max(0.3, ceiling / n_words), f"{n_words} words: very long (over {ceiling})")


def examples_feature(text: str) -> Feature:
    """Examples where useful: present scores 1; absent scores 0.3 when the prompt asks for a structured format
    (JSON, a table, a schema) that an example would pin down, else 0.7 (optional)."""
    if _EXAMPLES.search(text):
        return Feature("examples", 1.0, "includes an example")
    heavy = _FORMAT_HEAVY.search(text)
    if heavy:
        return Feature("examples", 0.3, f"asks for a structured output ({heavy.group(0).lower()}) but shows no example")
    return Feature("examples", 0.7, "no example (optional for this kind of task)")


def variables_feature(text: str, idea: str | None) -> Feature:
    """Template variables: every ``{variable}`` of the idea is kept (none unused), and the prompt introduces none
    that the idea does not define (none undefined)."""
    used = variables(text)
    if idea is None:
        if not used:
            return Feature("variables", 1.0, "no template variables")
        return Feature("variables", 1.0, f"uses {_names(used)} (no idea to check them against)")
    defined = variables(idea)
    unused = defined - used
    undefined = used - defined
    if not unused and not undefined:
        return Feature("variables", 1.0, f"keeps {_names(used)}" if used else "no template variables")
    problems = []
    if unused:
        problems.append(f"drops {_names(unused)} from the idea")
    if undefined:
        problems.append(f"introduces undefined {_names(undefined)}")
    value = max(0.0, 1.0 - 0.34 * (len(unused) + len(undefined)))
    return Feature("variables", value, "; ".join(problems))


def vague_feature(text: str, n_words: int) -> Feature:
    found = [m.lower() for m in _VAGUE.findall(text)]
    density = len(found) / max(n_words, 1)
    sample = f" ({', '.join(sorted(set(found))[:4])})" if found else ""
    return Feature(
        "vague_words",
        max(0.0, 1.0 - density * 20),
        f"{len(found)} vague word(s){sample} in {n_words} words ({density:.1%})",
    )


def duplicates_feature(text: str) -> Feature:
    lines = [ln.strip().lower() for ln in text.splitlines() if len(ln.strip()) > 8]
    dupes = len(lines) - len(set(lines))
    if dupes == 0:
        return Feature("no_duplicate_lines", 1.0, "no repeated lines")
    return Feature("no_duplicate_lines", max(0.0, 1 - dupes / max(len(lines), 1) * 2), f"{dupes} repeated line(s)")


def addressed_feature(text: str) -> Feature:
    """Instructions to a model, not advice to a human ("here's how you can write it... 1. start by...")."""
    advice = [m.group(0) for m in _ADVICE.finditer(text)]
    if advice and (len(advice) >= 2 or not _TO_MODEL.search(text[:300])):
        return Feature("addressed_to_model", 0.0, f"advises a human instead of instructing a model: " f"'{advice[0]}'")
    if not _TO_MODEL.search(text):
        return Feature("addressed_to_model", 0.6, "no clear instruction verb for the model")
    return Feature("addressed_to_model", 1.0, "instructs the model")


def deliverable_feature(text: str, n_words: int) -> Feature:
    """A prompt, not the deliverable itself: no salutation or sign-off, no letter or essay voice, no first-person
    narrative (quoted text aside)."""
    opens_as_prompt = bool(_OPENS_AS_PROMPT.match(text))
    found = _DELIVERABLE.search(text)
    if found and not opens_as_prompt:  # inside a prompt, a sign-off may be part of a template it gives
        return Feature(
            "not_deliverable", 0.0, f"writes the deliverable instead of a prompt: " f"'{found.group(0).strip()[:40]}'"
        )
    unquoted = _QUOTED.sub(" ", text)
    first = len(_FIRST_PERSON.findall(unquoted))
    density = first / max(n_words, 1)
    # "I will type commands and you will reply" is a user talking to a model: first person beside second person.
    second = len(_SECOND_PERSON.findall(unquoted)) / max(n_words, 1)
    if n_words >= 20 and density > 0.05 and second < 0.02 and not opens_as_prompt:
        return Feature(
            "not_deliverable",
            0.0,
            f"first-person narrative ({first} of {n_words} words are I/me/my): " f"the deliverable, not a prompt",
        )
    return Feature("not_deliverable", 1.0, "reads as a prompt, not as the deliverable")


def degenerate_feature(text: str) -> Feature:
    """Free of repetition and degenerate text: no sentence said twice, and enough distinct word trigrams."""
    # sentences with words in them: separators, headings and short list items may repeat in a structured prompt
    sentences = [
        s.strip().lower()
        for s in re.split(r"(?<=[.!?])\s+|\n+", text)
        if len(s.strip()) > 20 and len(words(s)) >= 4 and not s.lstrip().startswith(("#", "-", "*", "|"))
    ]
    repeated = len(sentences) - len(set(sentences))
    if repeated and len(sentences) > 12 and repeated / len(sentences) < 0.1:
        repeated = 0  # a long prompt restating a line or two (a reminder, a closing rule) is not degenerate
    tokens = [w.lower() for w in words(text)]
    grams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    ratio = len(set(grams)) / len(grams) if grams else 1.0
    if repeated:
        return Feature("not_degenerate", 0.0, f"repeats {repeated} sentence(s)")
    if len(grams) >= 30 and ratio < 0.6:
        return Feature("not_degenerate", 0.0, f"degenerate: only {ratio:.0%} of its word trigrams are distinct")
    return Feature("not_degenerate", 1.0, f"no repetition ({ratio:.0%} distinct word trigrams)")


def on_topic_feature(drift: tuple[str, ...] | None, sentences: int) -> Feature | None:
    """Stays on the idea: sentences far (by embedding) from both the idea and any instruction a prompt gives are
    drift, such as details the idea never mentioned. Absent when no embedder measured it."""
    if drift is None or not sentences:
        return None
    share = len(drift) / sentences
    if len(drift) >= 2 or share > 0.25:
        return Feature(
            "on_topic",
            max(0.0, 0.4 - share),
            f"{len(drift)} of {sentences} sentences drift off the " f"idea: '{drift[0][:60]}'",
        )
    if drift:
        return Feature("on_topic", 0.8, f"1 of {sentences} sentences is far from the idea: '{drift[0][:60]}'")
    return Feature("on_topic", 1.0, f"all {sentences} sentences stay on the idea")


def scaffolding_feature(text: str) -> Feature:
    """No leaked scaffolding: phase names, our delimiters, chat-template tokens or wrappers such as <remarks>."""
    found = _SCAFFOLD.search(text)
    if found:
        return Feature("no_scaffolding", 0.0, f"leaks scaffolding: '{found.group(0)}'")
    return Feature("no_scaffolding", 1.0, "no leaked scaffolding")


def lexical_similarity(a: str, b: str) -> float:
    """Share of word trigrams two texts have in common (Jaccard), 0–1. Used for distinctness without embeddings."""
    grams_a, grams_b = _trigrams(a), _trigrams(b)
    if not grams_a or not grams_b:
        return 1.0 if grams_a == grams_b else 0.0
    return len(grams_a & grams_b) / len(grams_a | grams_b)


def _trigrams(text: str) -> set[tuple[str, ...]]:
    tokens = [w.lower() for w in words(text)]
    if len(tokens) < 3:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}


def _check(name: str, ok: bool, yes: str, no: str) -> Feature:
    return Feature(name, 1.0 if ok else 0.0, yes if ok else no)


def _names(names: set[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names))
