"""The structured path for small models: the three phases, asking the model only for what it can do.

A 135M model cannot follow a long meta-instruction: given one it writes the deliverable itself, advises a human,
drifts and repeats. It can fill a short field under a JSON schema when shown examples. So here:

- **prima-materia** extracts a :class:`PromptSpec`. The model fills the expert *role* (few-shot from the nearest
  real exemplars, constrained to "a/an <a few words>") and the *task* as an imperative. Each field is checked (not
  empty, not a copy of the instructions or of an exemplar, on the idea by embedding, keeping the idea's key words
  and ``{variables}``); a failed field is asked once more, then comes from a plain rule, and the spec records which.
  Everything else comes from rules for the kind of task and from the idea itself.
- **solutio** renders the spec as flowing prose, one sentence per field, with a bounded length.
- **coagulatio** assembles the final prompt from the spec in the target model's form; each variant's strategy
  decides what is included and how.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prompt_alchemy.engine.details import IdeaDetails, extract_details
from prompt_alchemy.engine.exemplars import Exemplar, nearest
from prompt_alchemy.engine.patterns import PatternChoice, choose_pattern
from prompt_alchemy.engine.spec import (
    INSTRUCTION_VERBS,
    PromptSpec,
    imperative_task,
    keeps_key_words,
    key_words,
    names_a_person,
    pattern_spec,
    split_sentences,
    strip_lead,
    third_person,
)
from prompt_alchemy.engine.targets import render_sections
from prompt_alchemy.errors import ProviderError
from prompt_alchemy.models import ContextItem, Phase
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, Message
from prompt_alchemy.ranking.features import variables

if TYPE_CHECKING:
    import numpy as np

    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.providers.registry import CallOutcome, ProviderRegistry

#: Variant i follows strategy i (modulo): what the final prompt includes and in which order.
STRATEGY_NAMES: tuple[str, ...] = (
    "structured",
    "concise",
    "example-driven",
    "step-by-step",
    "critical",
    "audience-first",
    "quality-focused",
    "minimal-assumption",
    "persona-rich",
    "format-first",
)

ROLE_SCHEMA = {
    "type": "object",
    "properties": {"expert": {"type": "string", "pattern": "^(a|an) [a-z][a-z-]*( [a-z][a-z-]*){0,3}$"}},
    "required": ["expert"],
}
TASK_SCHEMA = {
    "type": "object",
    "properties": {"task": {"type": "string", "minLength": 8, "maxLength": 240}},
    "required": ["task"],
}
_ROLE_SYSTEM = "Name the expert best suited to each request."
_TASK_SYSTEM = "Restate each request as one clear instruction to an AI assistant. Keep every detail and {name}."
_FALLBACK_SHOTS = (
    Exemplar(
        "suggest a place to visit near my location", "a travel guide", "Suggest a place to visit near my " "location."
    ),
    Exemplar(
        "fix the memory leak in my C++ server",
        "a senior C++ engineer",
        "Find and fix the memory leak in my C++ server.",
    ),
    Exemplar(
        "create a monthly budget for a family of four",
        "a financial planner",
        "Create a monthly budget for a family of four.",
    ),
)
#: Words a role the model names must not have: the instructions' own words, and an expert who is not one yet.
_BAD_ROLE_WORDS = re.compile(
    r"\b(request|expert|role|task|json|assistant|ai|user|prompt|model|new|junior|beginner|novice|aspiring|"
    r"student|intern|trainee)\b",
    re.I,
)

# Similarity floors, measured with MiniLM on this project's ideas. A short role phrase is far from any idea in
# embedding space ("a software engineer" scores 0.11 against "build a CLI that summarizes git logs", "a poet" 0.01),
# so a role passes when it is near the idea, or somewhat near it and near the kind's own role ("a web developer"
# for code). A faithful restated task scores 0.75+ against its idea, a drifted one under 0.6.
ROLE_MIN_SIMILARITY = 0.2
ROLE_MIN_SIMILARITY_WITH_KIND = 0.05
ROLE_KIND_SIMILARITY = 0.5
TASK_MIN_SIMILARITY = 0.7


@dataclass
class SpecRun:
    """A spec and the model calls that filled it (their outcomes carry tokens, latency, metrics and events)."""

    spec: PromptSpec
    details: IdeaDetails | None = None
    choice: PatternChoice | None = None
    outcomes: list[CallOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def response(self, provider: str, model: str) -> GenerationResponse:
        """One response summing every call, for the prima-materia artefact's provider/model/tokens/latency."""
        if not self.outcomes:
            return GenerationResponse(text="", provider=provider, model=model)
        last = self.outcomes[-1].response
        return GenerationResponse(
            text="",
            provider=last.provider,
            model=last.model,
            input_tokens=sum(o.response.input_tokens for o in self.outcomes),
            output_tokens=sum(o.response.output_tokens for o in self.outcomes),
            latency_ms=sum(o.response.latency_ms for o in self.outcomes),
            cost_usd=sum(o.response.cost_usd for o in self.outcomes),
        )


def strategy_name(variant: int) -> str:
    return STRATEGY_NAMES[variant % len(STRATEGY_NAMES)]


def _shots_from_context(context: list[ContextItem]) -> list[Exemplar]:
    """The user's top-rated prompts (include_context) as exemplars, when their role and task can be read."""
    from prompt_alchemy.engine.targets import parse_sections

    shots = []
    for item in context:
        if item.context_type != "example":
            continue
        sections = parse_sections(item.content)
        role = re.sub(r"^(?:you are|you're|act as)\s+", "", sections.get("Role", "").split("\n")[0], flags=re.I)
        role = role.strip().rstrip(".").lower()
        task = sections.get("Task", "").split("\n")[0].strip()
        if re.fullmatch(r"(a|an) [a-z][a-z-]*( [a-z][a-z-]*){0,3}", role) and 3 <= len(task.split()) <= 40:
            shots.append(Exemplar(request=task[0].lower() + task[1:].rstrip("."), role=role, task=task))
    return shots


class SpecExtractor:
    """Fills a spec's model fields through the phase's provider chain (so failover, caching, retries and metrics
    apply), and checks every field before it is used."""

    def __init__(self, registry: ProviderRegistry, embedder: Embedder | None) -> None:
        self.registry = registry
        self.embedder = embedder

    async def extract(
        self,
        *,
        phase: Phase,
        chain: list[str],
        idea: str,
        idea_vector: np.ndarray | None,
        variant: int,
        temperature: float,
        persona_guidance: str = "",
        context: list[ContextItem] | None = None,
    ) -> SpecRun:
        """The spec of one idea, made once per run and shared by its variants: the pattern chosen, the idea's
        details extracted, the pattern filled; then the model restates the task (unless the pattern states it,
        or the idea is not in English) and names a role (only when the pattern has none that fits)."""
        choice = await choose_pattern(idea, self.embedder, idea_vector)
        details = extract_details(idea, context)
        spec = pattern_spec(choice, details, persona_guidance)
        run = SpecRun(spec=spec, details=details, choice=choice)
        needs_role = not spec.role and choice.pattern.form == "sections"
        needs_task = spec.sources.get("task") == "rule"
        if not (needs_role or needs_task):
            return run
        pool = _shots_from_context(context or []) + await nearest(self.embedder, idea_vector, k=6)
        pool = pool or list(_FALLBACK_SHOTS)
        if needs_role:
            await self._fill_role(run, phase, chain, idea, idea_vector, pool, temperature, variant)
        if needs_task:
            await self._fill_task(run, phase, chain, details, idea_vector, pool, temperature, variant)
        return run

    async def _fill_role(
        self,
        run: SpecRun,
        phase: Phase,
        chain: list[str],
        idea: str,
        idea_vector: Any,
        pool: list[Exemplar],
        temperature: float,
        variant: int,
    ) -> None:
        for attempt in range(2):
            # the second ask uses other exemplars and a warmer temperature
            shots = pool[attempt * 3 : attempt * 3 + 3] or list(_FALLBACK_SHOTS)
            role = await self._ask(
                run,
                phase,
                chain,
                _ROLE_SYSTEM,
                shots,
                idea,
                "expert",
                ROLE_SCHEMA,
                temperature=min(1.0, temperature + 0.3 * attempt),
                seed=variant + 17 * attempt,
                max_tokens=24,
                example=lambda s: {"expert": s.role},
            )
            verdict = await self._check_role(role, idea, idea_vector, shots, "") if role else "no answer"
            if verdict is None:
                noun = role.split(" ", 1)[1]
                run.spec.role = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"  # the model may write "a academic"
                run.spec.sources["role"] = "model"
                return
            run.notes.append(f"role {role!r} rejected: {verdict}")

    async def _fill_task(
        self,
        run: SpecRun,
        phase: Phase,
        chain: list[str],
        details: IdeaDetails,
        idea_vector: Any,
        pool: list[Exemplar],
        temperature: float,
        variant: int,
    ) -> None:
        request = details.request or details.idea  # the request without the idea's rule clauses
        for attempt in range(2):
            shots = pool[attempt * 3 : attempt * 3 + 3] or list(_FALLBACK_SHOTS)
            task = await self._ask(
                run,
                phase,
                chain,
                _TASK_SYSTEM,
                shots,
                request,
                "task",
                TASK_SCHEMA,
                temperature=min(1.0, temperature + 0.3 * attempt),
                seed=variant + 17 * attempt,
                max_tokens=90,
                example=lambda s: {"task": s.task},
            )
            task = (split_sentences(task) or [""])[0]
            if re.search(r"\b(my|me|i)\b", request, re.I):  # the model turned "my app" into "your app"
                task = re.sub(r"\byour\b", "my", re.sub(r"\bYour\b", "My", task))
            task = third_person(task)
            verdict = await self._check_task(task, request, idea_vector, shots, details) if task else "no answer"
            if verdict is None:
                run.spec.task = task if task.endswith((".", "?", "!")) else task + "."
                run.spec.sources["task"] = "model"
                return
            run.notes.append(f"task {task!r} rejected: {verdict}")
        run.spec.task = imperative_task(request)  # the user's own words, third person
        run.spec.sources["task"] = "idea"

    async def _ask(
        self,
        run: SpecRun,
        phase: Phase,
        chain: list[str],
        system: str,
        shots: list[Exemplar],
        idea: str,
        key: str,
        schema: dict[str, Any],
        *,
        temperature: float,
        seed: int,
        max_tokens: int,
        example: Any,
    ) -> str:
        messages = [Message("system", system)]
        for shot in shots:
            messages.append(Message("user", f"Request: {shot.request}"))
            messages.append(Message("assistant", json.dumps(example(shot))))
        messages.append(Message("user", f"Request: {' '.join(idea.split())[:600]}"))
        request = GenerationRequest(
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            metadata={"phase": phase.value, "json_schema": schema, "field": key, "repeat_penalty": 1.0},
        )
        try:
            outcome = await self.registry.generate(phase, chain, request)
        except ProviderError as exc:
            run.notes.append(f"{key}: the model call failed ({exc})")
            return ""
        run.outcomes.append(outcome)
        try:
            value = json.loads(outcome.response.text).get(key, "")
        except (ValueError, AttributeError):
            return ""
        return " ".join(str(value).split()) if isinstance(value, str) else ""

    async def _similarity(self, text: str, idea_vector: np.ndarray | None) -> float | None:
        if self.embedder is None or idea_vector is None:
            return None
        import numpy as np

        vector = (await self.embedder.embed([text]))[0]
        return float(np.asarray(vector) @ np.asarray(idea_vector, dtype=np.float32))

    async def _check_role(
        self, role: str, idea: str, idea_vector: Any, shots: list[Exemplar], kind_role: str
    ) -> str | None:
        """None when the role can be used, else why not."""
        if not re.fullmatch(r"(a|an) [a-z][a-z-]*( [a-z][a-z-]*){0,3}", role):
            return "not a short 'a/an <expert>' phrase"
        if _BAD_ROLE_WORDS.search(role):
            return "copies the instructions"
        last = role.split()[-1]
        if not names_a_person(role):
            return "does not name a person"
        if last in {w.lower().strip(".,!?'") for w in idea.split()}:
            # "help me negotiate with my manager" -> "a manager": a person in the idea is not its expert
            return "repeats a person or thing from the idea instead of naming its expert"
        if self.embedder is None or idea_vector is None:
            return None
        import numpy as np

        role_vec, kind_vec = await self.embedder.embed([role, kind_role or role])
        to_idea = float(np.asarray(role_vec) @ np.asarray(idea_vector, dtype=np.float32))
        to_kind = float(np.asarray(role_vec) @ np.asarray(kind_vec)) if kind_role else 0.0
        if to_idea >= ROLE_MIN_SIMILARITY or (
            to_idea >= ROLE_MIN_SIMILARITY_WITH_KIND and to_kind >= ROLE_KIND_SIMILARITY
        ):
            return None
        copied = any(role == s.role for s in shots)
        return (
            f"{'copies an exemplar and ' if copied else ''}is off the idea (similarity {to_idea:.2f} to the "
            f"idea, {to_kind:.2f} to {kind_role!r})"
        )

    async def _check_task(
        self, task: str, idea: str, idea_vector: Any, shots: list[Exemplar], details: IdeaDetails | None = None
    ) -> str | None:
        """None when the task can be used, else why not; `idea` is the idea's own request sentence."""
        idea = third_person(idea)
        lowered = task.lower()
        for number in re.findall(r"\d[\d,.:]*", idea):
            if number.rstrip(".,") not in task:
                return f"drops the number {number.rstrip('.,')}"
        for entity in details.entities if details else ():
            if entity.lower() in idea.lower() and entity.lower() not in lowered:
                return f"drops the name {entity}"
        if len(task.split()) < 3:
            return "too short"
        if any(task.rstrip(".").lower() == s.task.rstrip(".").lower() for s in shots):
            return "copies an exemplar"
        if task.lower().startswith(("request", "restate", "instruction")) or "json" in task.lower():
            return "copies the instructions"
        missing = variables(idea) - variables(task)
        if missing:
            return "drops " + ", ".join(f"{{{m}}}" for m in sorted(missing))
        if variables(task) - variables(idea):
            return "introduces variables the idea does not have"
        if not keeps_key_words(task, idea, 0.8):
            return "drops key words of the idea"
        lead = strip_lead(idea).split(maxsplit=1)[0].lower().strip(",") if strip_lead(idea).split() else ""
        if lead in INSTRUCTION_VERBS and task.split()[0].lower().strip(",")[:4] != lead[:4]:
            return f"changes the idea's verb ({lead!r})"
        new = [w for w in key_words(task) if w[:5] not in {k[:5] for k in key_words(idea)}]
        if len(new) > 2:
            return f"adds words the idea does not have ({', '.join(new[:4])})"
        if (
            re.match(r"^(i|i.m|i am|we|my|dear|here|the user)\b", task, re.I)
            or task.split()[0].lower().strip(",") not in INSTRUCTION_VERBS
        ):
            return "is not an instruction"
        sim = await self._similarity(task, idea_vector)
        if sim is not None and sim < TASK_MIN_SIMILARITY:
            return f"drifts from the idea (similarity {sim:.2f})"
        return None


# ------------------------------------------------------------------------------------------------ rendering


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ":")) else text + "."


def _inputs_line(spec: PromptSpec) -> str:
    return ", ".join(f"{{{name}}}" for name in spec.inputs)


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text and not text[:2].isupper() else text


def render_prose(spec: PromptSpec, max_sentences: int = 12) -> str:
    """Solutio on the structured path: the spec as flowing prose for people, a sentence per field, bounded."""
    if spec.form == "paragraph":
        return paragraph(spec, 0)
    opening = f"You are {spec.role}" if spec.role else ""
    if spec.task:
        task = _lower_first(spec.task) if not spec.language else f"handle this request: {spec.task}"
        opening = f"{opening}, and your job is to {task}" if opening else task
    sentences = [opening]
    if spec.language:
        sentences.append(f"Write the answer in {spec.language}")
    if spec.audience and spec.audience.lower() not in spec.task.lower():
        sentences.append(f"It is for {spec.audience}")
    if spec.inputs:
        sentences.append(f"You will work from what the user supplies: {_inputs_line(spec)}")
    sentences.extend(spec.context[:2])
    sentences.extend(spec.facts[:2])
    sentences.extend(spec.brief[:3])
    sentences.extend(spec.rules[:3])
    for lines in spec.sections.values():
        sentences.extend(line for line in lines[:1] if line not in spec.rules and line not in spec.brief)
    sentences.extend(spec.requirements[:1])
    if spec.output_format:
        sentences.append(f"When you answer, give {_lower_first(spec.output_format)}")
    out = [_sentence(s) for s in sentences if s.strip()]
    return " ".join(out[:max_sentences])


def _numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {_sentence(item)}" for i, item in enumerate(items, 1))


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {_sentence(item)}" for item in items)


#: What an image idea may already say about each aspect of an image pattern; the pattern's own line for an aspect
#: the idea states is left out ("oil painting style" needs no "digital illustration", a storm no golden hour).
_IMAGE_ASPECTS = {
    "Style": re.compile(
        r"\b(?:style|styled|painting|painted|watercolou?r|oil|pastels?|sketch(?:ed)?|illustration|photo|photograph|"
        r"photographic|photorealistic|realistic|hyperrealistic|anime|manga|cartoon|pixel art|3d|render(?:ed)?|"
        r"comic|line art|ink|charcoal|pencil|low[- ]poly|claymation|isometric|vector|flat design|polaroid|"
        r"digital art|concept art|art deco|art nouveau|ukiyo-e|impressionist|cubist|surrealist|gouache|"
        r"lego|origami|papercraft|stained glass|woodcut|linocut|storybook)\b",
        re.I,
    ),
    "Lighting": re.compile(
        r"\b(?:light|lights|lighting|lit|sunset|sunrise|dawn|dusk|golden hour|night|nighttime|midnight|"
        r"moonlit|moonlight|storm|stormy|thunderstorm|rain|rainy|fog|foggy|mist|misty|neon|candlelit|candlelight|"
        r"glow|glowing|shadows?|dark|overcast|noon|twilight|backlit|aurora|fireworks|lantern|lanterns)\b",
        re.I,
    ),
    "Composition": re.compile(
        r"\b(?:close-up|closeup|close up|wide shot|wide-angle|aerial|bird'?s[- ]eye|overhead|top-down|"
        r"full[- ]body|macro|panorama|panoramic|centered|symmetrical|silhouetted?|from above|from below|"
        r"portrait of|headshot|flat lay)\b",
        re.I,
    ),
    "Camera": re.compile(
        r"\b(?:\d+ ?mm|lens|camera|shot on|f/\d|bokeh|drone|aerial|gopro|dslr|telephoto|fisheye|"
        r"eye level|low angle|high angle|tilt-shift)\b",
        re.I,
    ),
}


def paragraph(spec: PromptSpec, variant: int) -> str:
    """An image prompt: ONE descriptive paragraph (the subject from the idea, then the pattern's style, lighting,
    composition and camera, the variant choosing among the pattern's alternatives), then the model's parameters.
    Natural-sentence patterns (DALL-E) read as sentences, tag patterns (Midjourney, Stable Diffusion) as phrases."""
    subject = spec.task.strip().lstrip(" ,;:.-").rstrip(".")
    subject = subject[0].upper() + subject[1:] if subject else subject
    said = " ".join([subject, *spec.rules])
    aspects = [
        lines[variant % len(lines)]
        for heading, lines in spec.sections.items()
        if lines and not (heading in _IMAGE_ASPECTS and _IMAGE_ASPECTS[heading].search(said))
    ]
    sentences = any(a.rstrip().endswith(".") for a in aspects)
    if sentences:
        extra = [r for r in spec.rules if not r.lower().startswith(("no ", "without "))]
        negatives = [r for r in spec.rules if r.lower().startswith(("no ", "without "))]
        text = " ".join(
            [_sentence(subject)]
            + [_sentence(a) for a in aspects]
            + [_sentence(r) for r in extra]
            + [_sentence(n) for n in negatives]
        )
    else:
        extra = [
            r.rstrip(".") for r in spec.rules if not r.lower().startswith(("no ", "without ", "do not ", "never "))
        ]
        text = ", ".join([subject, *extra, *aspects])
    params = spec.parameters.strip()
    if not params:
        return text
    return f"{text}\n{params}" if params.startswith("Negative prompt:") else f"{text} {params}"


def _context_lines(spec: PromptSpec) -> list[str]:
    lines = []
    mentioned = " ".join([spec.task, *(line for body in spec.sections.values() for line in body)]).lower()
    persona = spec.sources.get("task") == "pattern"  # a bot's reader is the one it talks to, said by its task
    if (
        spec.audience
        and spec.audience.lower() not in mentioned
        and not (persona and spec.sources.get("audience") == "pattern")
    ):
        lines.append(f"The result is for {spec.audience}.")
    lines.extend(spec.context)
    if spec.facts:
        lines.append("Facts from the user's files: " + " ".join(spec.facts))
    if spec.inputs:
        lines.append(f"The user supplies {_inputs_line(spec)}; work only from what is given there.")
    return lines


def _task_text(spec: PromptSpec) -> str:
    if spec.language:
        return f"{spec.task}\nWrite the answer in {spec.language}."
    return _sentence(spec.task)


def _constraints(spec: PromptSpec) -> list[str]:
    return list(spec.constraints)


def assemble(spec: PromptSpec, variant: int, family: str | None) -> str:
    """Coagulatio on the structured path: the final prompt from the spec, by the variant's strategy, in the target
    model's form (XML sections for Claude, Markdown for GPT and Gemini, plain sections otherwise). An image
    pattern gives one paragraph and its parameters in every form. Each strategy changes what a reader sees:
    structured (every section), concise (the rules and the format only), example-driven (an example of this kind
    of output, or the output format first), step-by-step (the pattern's guidance as ordered steps), critical (the
    rules first, as what must never break), audience-first, quality-focused (a check before answering),
    minimal-assumption, persona-rich (the pattern's further roles and its tone first), format-first."""
    if spec.form == "paragraph":
        return paragraph(spec, variant)
    strategy = strategy_name(variant)
    role = f"You are {spec.role}." if spec.role else ""
    if strategy == "persona-rich" and spec.role and spec.alternatives:
        role = f"You are {spec.role}: {', '.join(spec.alternatives)}."
    context = _context_lines(spec)
    pattern_sections = {h: list(lines) for h, lines in spec.sections.items() if lines}
    constraints = _constraints(spec)
    sections: dict[str, str] = {}
    if role:
        sections["Role"] = role
    sections["Task"] = _task_text(spec)

    if strategy == "concise":
        if context:
            sections["Context"] = " ".join(_sentence(c) for c in context[:2])
        rules = spec.brief + (
            spec.rules
            or [
                next((line for line in lines if line not in spec.brief and "{" not in line), "")
                for lines in pattern_sections.values()
            ][:2]
        )
        rules = [line for line in dict.fromkeys(rules) if line]
        firsts = [  # an input's line is already in the context
            next((line for line in lines if line not in spec.brief and "{" not in line), "")
            for h, lines in pattern_sections.items()
            if h != spec.details_section
        ]
        kept = rules + [line for line in firsts if line and line not in rules][:3]
        if kept or constraints:
            sections["Rules"] = _bullets(kept or constraints[:1])
        if spec.output_format:
            sections["Output format"] = _sentence(spec.output_format)
        return render_sections(sections, family)

    if context:
        sections["Context"] = _bullets(context) if len(context) > 1 else _sentence(context[0])
    if strategy == "audience-first" and "Context" in sections:
        sections = {"Context": sections["Context"], **{k: v for k, v in sections.items() if k != "Context"}}
    if strategy == "critical":
        must = [line for line in spec.rules] + constraints
        if must:
            sections["Never break these"] = _bullets(must)
        constraints = []
        if spec.details_section in pattern_sections:
            pattern_sections[spec.details_section] = [
                line for line in pattern_sections[spec.details_section] if line not in spec.rules
            ]
    if strategy == "persona-rich":
        tone = {h: v for h, v in pattern_sections.items() if h.lower() in ("tone", "voice", "character")}
        pattern_sections = {**tone, **{h: v for h, v in pattern_sections.items() if h not in tone}}
    if strategy == "step-by-step":
        steps = [
            line
            for lines in pattern_sections.values()
            for line in lines
            if line not in spec.rules and line not in spec.brief
        ]
        steps += spec.requirements
        if spec.brief:
            sections["Scope"] = _bullets(spec.brief)
        if spec.rules:
            sections["Rules"] = _bullets(spec.rules)
        if steps:
            sections["Steps"] = _numbered(steps + ["Check the result against the rules above before you answer"])
    else:
        for heading, lines in pattern_sections.items():
            if lines:
                sections[heading] = _bullets(lines)
        if spec.requirements:
            sections["Requirements"] = _numbered(spec.requirements)
    if strategy == "minimal-assumption":
        constraints.append("If the request leaves out something you need, state your assumption before you " "answer")
    if constraints:
        sections["Constraints"] = _bullets(constraints)
    if strategy == "example-driven" and spec.example:
        sections["Examples"] = "An example of this kind of output (its shape, not its content):\n" + spec.example
    if strategy == "quality-focused":
        checks = spec.rules + spec.requirements
        if checks:
            sections["Success criteria"] = _bullets(
                checks + ["Before you answer, check your response against " "each of these"]
            )
    if spec.output_format:
        sections["Output format"] = _sentence(spec.output_format)
        if strategy in ("format-first", "example-driven") and not (strategy == "example-driven" and spec.example):
            sections = {
                "Output format": sections["Output format"],
                **{k: v for k, v in sections.items() if k != "Output format"},
            }
    return render_sections(sections, family)
