"""The prompt spec: the essence of an idea as short, bounded fields, filled from the chosen pattern and the idea's
details, and the plain rules for the user's own words (third person, imperative) when the model cannot restate
the task.

The structured path (see :mod:`prompt_alchemy.engine.structured`) asks a small model only for what it does well
(the task, restated; a role when the pattern has none that fits) and takes the rest from the chosen pattern
(:mod:`prompt_alchemy.engine.patterns`) and from what the idea itself says (:mod:`prompt_alchemy.engine.details`).
Every field records where it came from: ``model``, ``pattern``, ``idea`` or ``rule``.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from prompt_alchemy.engine.details import IdeaDetails
    from prompt_alchemy.engine.patterns import Pattern, PatternChoice

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#'-]*")
STOPWORDS = frozenset(
    """
a an the and or but if then else of for to in on at by with from into onto about as is are was were be been being
it its this that these those i me my we our you your he she they them their his her what which who whom whose how
why when where can could would should will shall may might must do does did done have has had having not no so
than too very just also please want need like some any each every all more most much many few such own same other
using use make help get let one two up out over under again there here only new good best way ways thing things
""".split()
)


def key_words(text: str) -> list[str]:
    """The idea's content words, lower-cased, in order, without stop words or variable names."""
    without_vars = re.sub(r"\{\{?\s*[A-Za-z_][A-Za-z0-9_]*\s*\}?\}", " ", text)
    seen: list[str] = []
    for w in _WORD.findall(without_vars):
        lw = w.lower().strip("'-")
        if len(lw) >= 3 and lw not in STOPWORDS and lw not in seen:
            seen.append(lw)
    return seen


def keeps_key_words(text: str, idea: str, share: float = 0.6) -> bool:
    """Whether `text` keeps at least `share` of the idea's content words (by stem: the first five letters)."""
    wanted = key_words(idea)
    if not wanted:
        return True
    have = {w[:5] for w in key_words(text)}
    return sum(1 for w in wanted if w[:5] in have) >= share * len(wanted)


ROLE_NOUNS = frozenset(
    """
guide writer engineer developer analyst planner advisor adviser coach teacher tutor editor reviewer critic
designer consultant scientist physicist chemist biologist expert strategist manager marketer copywriter
journalist poet novelist screenwriter storyteller translator lawyer attorney doctor nurse therapist counselor
counsellor chef cook nutritionist dietitian trainer instructor professor researcher historian economist
accountant auditor recruiter specialist architect administrator officer programmer blogger author mentor
mathematician statistician psychologist librarian organizer organiser producer director technician mechanic
assistant agent artist musician composer photographer entrepreneur founder investor banker broker negotiator
diplomat debater speaker presenter host comedian linguist philosopher theologian ecologist gardener farmer
pilot navigator scholar student judge moderator facilitator curator archivist inspector investigator detective
librarian pharmacist veterinarian dentist surgeon physician paramedic firefighter soldier strategist salesperson
representative clerk secretary owner stylist illustrator animator filmmaker critic interviewer
""".split()
)
_ROLE_SUFFIXES = ("ist", "er", "or", "ian", "ant", "ent", "eer", "smith")
#: Words with a person's ending that name things ("a newsletter" is the deliverable, not its writer).
_NOT_PEOPLE = frozenset(
    """
newsletter letter paper computer server browser order number poster cover water matter layer parameter filter timer
folder container answer character chapter register counter printer monitor header footer border corner center
centre error sensor vector factor motor tractor reactor generator calculator indicator editor's twitter
transcript component client document agent's content event student's talent patent statement comment element
""".split()
)


def names_a_person(role: str) -> bool:
    """Whether a role phrase ("a travel guide") ends in a word for a person, not a thing ("a newsletter")."""
    last = role.split()[-1].lower() if role.split() else ""
    return last in ROLE_NOUNS or (last.endswith(_ROLE_SUFFIXES) and last not in _NOT_PEOPLE)


class PromptSpec(BaseModel):
    """The essence of an idea. `sources` says where each field came from (model, rule, idea, exemplar)."""

    kind: str
    role: str
    task: str
    audience: str
    inputs: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list)
    requirements: list[str] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    output_format: str = ""
    success_criteria: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)
    example: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    # from the pattern and the idea's details
    choice: str = ""  # how the pattern was chosen ("similarity 0.43, margin 0.08")
    form: str = "sections"
    sections: dict[str, list[str]] = Field(default_factory=dict)
    details_section: str = "Constraints"
    rules: list[str] = Field(default_factory=list)  # the idea's own must/never/only clauses and limits
    facts: list[str] = Field(default_factory=list)  # from --context files
    language: str = ""  # the idea's language when not English ("Spanish")
    parameters: str = ""  # an image model's own parameters
    alternatives: list[str] = Field(default_factory=list)  # further roles of the pattern
    brief: list[str] = Field(default_factory=list)  # an AI-facing idea's own scope clauses, in its words

    def render(self) -> str:
        """The readable rendering stored as the prima-materia artefact."""

        def bullets(items: list[str]) -> str:
            return "\n".join(f"- {item}" for item in items)

        parts = [
            f"Kind of task: {self.kind}" + (f" ({self.choice})" if self.choice else ""),
            f"Role: {self.role or '(none: ' + self.form + ')'}",
            f"Task: {self.task}",
            f"Audience: {self.audience}",
        ]
        if self.language:
            parts.append(f"Language: {self.language}")
        if self.brief:
            parts.append("The idea's own scope:\n" + bullets(self.brief))
        if self.rules:
            parts.append("The idea's own rules:\n" + bullets(self.rules))
        if self.facts:
            parts.append("Facts from context files:\n" + bullets(self.facts))
        for heading, lines in self.sections.items():
            if lines:
                parts.append(f"{heading}:\n" + bullets(lines))
        if self.parameters:
            parts.append(f"Parameters: {self.parameters}")
        if self.inputs:
            parts.append("Inputs: " + ", ".join(f"{{{name}}}" for name in self.inputs))
        if self.context:
            parts.append("Context:\n" + bullets(self.context))
        for label, items in (
            ("Requirements", self.requirements),
            ("Constraints", self.constraints),
            ("Success criteria", self.success_criteria),
            ("Open questions", self.open_questions),
        ):
            if items:
                parts.append(f"{label}:\n" + bullets(items))
        if self.output_format:
            parts.append(f"Output format: {self.output_format}")
        parts.append("Field sources: " + ", ".join(f"{k}={v}" for k, v in sorted(self.sources.items())))
        return "\n".join(parts)


_LEADING = re.compile(
    r"^\s*(?:(?:hey|hi|hello)[,!]?\s+)?(?:please\s+)?(?:"
    r"(?:(?:(?:i\s+)?(?:want|need)|create|write|make|give\s+me)\s+)?an?\s+prompt\s+(?:that|which|to|for)\s+|"
    r"(?:can|could|would|will)\s+you\s+(?:please\s+)?|"
    r"i\s+(?:want|need|would like|'d like)\s+(?:you\s+)?(?:to\s+)?|help\s+me\s+(?:to\s+)?)?",
    re.I,
)
_META = re.compile(
    r"^\s*(?:(?:i\s+(?:want|need)|create|write|make|give\s+me)\s+)?an?\s+prompt\s+(?:that|which)\s+", re.I
)


def strip_lead(sentence: str) -> str:
    """The request without its politeness or meta lead ("can you", "I want you to", "a prompt that"). After
    "a prompt that", the verb is put back in the imperative: "a prompt that grades essays" asks to grade essays."""
    meta = _META.match(sentence)
    body = _LEADING.sub("", sentence, count=1)
    if meta and body.split():
        verb, rest = body.split(maxsplit=1)[0], body[len(body.split(maxsplit=1)[0]) :]
        low = verb.lower()
        for ending, base in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x"), ("s", "")):
            if low.endswith(ending) and low[: -len(ending)] + base in _VERBS | {"grade", "rate", "score", "check"}:
                body = low[: -len(ending)] + base + rest
                break
    return body


_VERBS = frozenset(
    """
write draft compose create build make design develop implement generate produce explain teach describe summarize
grade rate score
summarise translate rewrite convert review critique audit proofread analyze analyse compare plan schedule organize
organise classify categorize label extract list find suggest brainstorm recommend outline prepare fix debug
refactor optimize improve edit simplify shorten answer evaluate assess estimate calculate compute prepare propose
teach tutor coach help tell give show find name draft craft set tag sort detect identify research investigate
convert format check test validate solve teach turn advise negotiate red-team stress-test jailbreak
""".split()
)
#: Words an instruction may start with.
INSTRUCTION_VERBS = _VERBS | frozenset("answer find tell show ask act respond reply return provide".split())
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z{\"'(])")
_AUDIENCE = re.compile(
    r"\b(?:for|to|aimed at|targeting|targeted at)\s+((?:(?:the|a|an|my|our|their|busy|new|young|older|"
    r"non-technical|technical|first-time|junior|senior|high[- ]school|college|university|adult|small[- ]business|"
    r"beginner|advanced|remote|local|potential|prospective|existing|\w+-year-old)\s+){0,3}"
    r"(?:beginners|students|kids|children|teens|teenagers|developers|engineers|programmers|managers|executives|"
    r"customers|clients|users|readers|parents|teachers|investors|recruiters|hiring managers|patients|nurses|"
    r"doctors|newcomers|employees|colleagues|stakeholders|marketers|designers|researchers|scientists|novices|"
    r"experts|seniors|adults|owners|founders|subscribers|followers|audiences?|team|staff|volunteers|members|"
    r"learners|analysts|buyers|shoppers|tourists|travellers|travelers|retirees|homeowners|landlords|tenants|"
    r"voters|donors|candidates|applicants))\b",
    re.I,
)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


_MODALS = frozenset("can could will would should shall may might must was did".split())
_AUXILIARIES = _MODALS | frozenset("do does am are is have has".split())
_QUESTION = re.compile(
    r"^\s*(?:what|which|where|when|why|how|who|whom|whose|should|can|could|would|is|are|do|" r"does|did|will)\b", re.I
)
_NEGATIONS = {
    "don't": "doesn't",
    "do not": "does not",
    "didn't": "didn't",
    "can't": "can't",
    "cannot": "cannot",
    "won't": "won't",
    "haven't": "hasn't",
    "have not": "has not",
    "am not": "is not",
    "'m not": "is not",
}
#: Irregular past forms: "what I wrote" stays "what the user wrote".
_PAST = frozenset(
    """wrote went did had made said got took came saw ran ate read felt left lost bought sent spent thought
told knew found gave kept began brought built paid met sat stood heard won""".split()
)
_IRREGULAR = {"am": "is", "have": "has", "do": "does", "go": "goes", "'m": "is", "'ve": "has"}


def _third_person_verb(verb: str) -> str:
    low = verb.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low in _MODALS or low in _PAST or (low.endswith("ed") and not low.endswith("eed")):
        return verb
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z|o)$", low):
        return verb + "es"
    return verb + "s"


def third_person(text: str) -> str:
    """The user's first person as the third person, so the prompt speaks to the model about the user ("Help me
    plan my week" becomes "Help the user plan their week"). Quoted text is left alone."""

    def subject(match: re.Match) -> str:
        adverb, verb = match.group(2) or "", match.group(3)
        before = match.string[: match.start()].split()
        if before and before[-1].lower() in _AUXILIARIES:  # a question: "should I cook" keeps "cook"
            return "the user " + adverb + verb
        return (
            f"{'The' if match.group(0)[0].isupper() and match.start() == 0 else 'the'} user "
            + adverb
            + (_third_person_verb(verb) if verb else "")
        )

    parts = re.split(r"(\"[^\"]*\"|“[^”]*”)", text)
    for i in range(0, len(parts), 2):
        t = parts[i]
        t = re.sub(r"\bI\s*('m|'ve|am|have)\b", lambda m: "the user " + _IRREGULAR[m.group(1)], t)
        t = re.sub(
            r"\bI (don't|do not|didn't|can't|cannot|won't|haven't|have not|am not|'m not)\b",
            lambda m: "the user " + _NEGATIONS[m.group(1)],
            t,
        )
        t = re.sub(r"\b(I) ((?:only|also|just|really|always|never|usually|often|still|already) )?(\w+)", subject, t)
        t = re.sub(r"\bI\b", "the user", t)
        t = re.sub(r"(?<!-)\b(me|myself)\b(?!-)", "the user", t, flags=re.I)  # "about-me" is a name
        t = re.sub(
            r"\b(my|mine)\b",
            lambda m: "their" if "the user" in m.string[: m.start()].lower() else "the user's",
            t,
            flags=re.I,
        )
        t = re.sub(
            r"\b(?:we|We) (are|were|have|need|want)\b",
            lambda m: "the user "
            + {"are": "is", "were": "was", "have": "has", "need": "needs", "want": "wants"}[m.group(1)],
            t,
        )
        t = re.sub(
            r"\b(our|ours)\b",
            lambda m: "their" if "the user" in m.string[: m.start()].lower() else "the user's",
            t,
            flags=re.I,
        )
        t = re.sub(  # "the user has a spreadsheet ... and need SQL": the second verb agrees too
            r"(\bthe user (?:has|is|wants|needs|uses)\b[^.;]*?\band) (need|want|have|use)\b",
            lambda m: f"{m.group(1)} {_IRREGULAR.get(m.group(2), m.group(2) + 's')}",
            t,
        )
        parts[i] = t
    out = "".join(parts)
    return out[0].upper() + out[1:] if out and out[0].islower() and text[:1].isupper() else out


def task_sentence(idea: str) -> tuple[str, list[str]]:
    """The sentence of the idea that asks for something (the first that starts with a verb, after "please",
    "can you", "I want you to" and the like), and the idea's other sentences, kept as context."""
    sentences = split_sentences(idea.strip()) or [idea.strip()]
    for index, sentence in enumerate(sentences):
        body = strip_lead(sentence)
        first = (body.split() or [""])[0].lower().strip(",")
        if first in _VERBS or re.match(r"^\s*help me\b", sentence, re.I):
            return sentence, sentences[:index] + sentences[index + 1 :]
    return sentences[0], sentences[1:]


_TEXT_NOUNS = re.compile(
    r"\b(letter|email|e-mail|post|poem|story|stories|newsletter|article|summary|description|"
    r"bio|speech|toast|essay|note|message|caption|headline|slogan|tagline|review|report|"
    r"proposal|song|lyrics|haiku|limerick|script|announcement|invitation|tweet|blog)s?\b",
    re.I,
)


def imperative_task(idea: str, verb: str = "") -> str:
    """The idea's request as an imperative instruction in the user's own words (first person turned to third),
    keeping its `{variables}`. A request without a verb of its own gets one in front: `verb` (the pattern's,
    "Plan 5 days in Kyoto"), else "Write" (a text) or "Create"; an article only before a singular noun."""
    sentence, _rest = task_sentence(idea)
    leading = _LEADING.match(sentence)  # every part of it is optional: it always matches
    asks = not (leading and leading.group(0).strip())  # "can you explain DNS?" is a request, not a question
    if asks and (sentence.rstrip().endswith("?") or _QUESTION.match(sentence)):
        question = third_person(sentence.strip().rstrip(" .!?"))
        return f"Answer the user's question: {question[0].lower() + question[1:]}?"
    helped = re.match(r"^\s*(?:please\s+)?help me\s+(?:to\s+)?(.*)$", sentence, re.I | re.S)
    if helped:  # "help me plan my week": the model helps the user
        return third_person(f"Help the user {helped.group(1).rstrip(' .!?;:')}") + "."
    first = re.sub(r"^(?:(?:i|we)\s+)?(?:need|want)\s+(?=\S)", "", strip_lead(sentence), flags=re.I)
    first = first.rstrip(" .!?;:")
    words = first.split()
    if not words:
        return ""
    lead = words[0].lower().strip(",")
    if lead.endswith("ing") and (base := _base_of_gerund(lead)):  # "reviewing PRs in our engine"
        text = base.capitalize() + " " + " ".join(words[1:])
    elif lead in _GOAL_VERBS:  # "learn to read music in 2 months": the user learns, the model plans
        text = f"Make a plan for the user to {first}"
    elif lead in _VERBS or lead in _MORE_VERBS:
        text = first[0].upper() + first[1:]
    elif lead in ("i", "i'm", "we", "we're", "my", "our"):
        ing = re.match(r"^(?:i am|i'm|we are|we're)\s+(\w+ing)\b\s*(.*)$", first, re.I)
        text = (
            f"Help the user with {ing.group(1)} {ing.group(2)}".rstrip()
            if ing
            else f"Help the user with this: {third_person(first)}"
        )
    elif lead in _PREPOSITIONS and (at := _first_verb(words[1:7])) is not None:
        # "with pandas find which channel ...": the verb leads after its phrase
        text = " ".join(words[: at + 1]).rstrip(",") + ", " + " ".join(words[at + 1 :])
        text = text[0].upper() + text[1:]
    else:
        verb = verb or ("Write" if _TEXT_NOUNS.search(" ".join(words[:6])) else "Create")
        if verb == "Plan" and re.search(r"\bplan\b", first, re.I):  # not "Plan a 7-day meal plan"
            verb = "Create"
        text = f"{verb} {_article_for_phrase(words)}{first}"
    return third_person(text) + "."


#: Verbs an idea may lead with besides the instruction verbs (said as commands: "pull the flight number ...").
_MORE_VERBS = frozenset(
    """pull get take move port rephrase reword walk mock prep quiz probe try look mark roll run clean pick choose
decide predict forecast pitch persuade remind monitor watch read reply respond draw paint sketch show convince
ask invite announce thank apologize apologise congratulate welcome introduce interview role-play roleplay play
act pretend imagine simulate red rank reorder merge split parse scrape fetch automate migrate deploy configure
install setup set-up document comment annotate transcribe proofread polish tighten expand lengthen paraphrase
critique roast praise argue debate defend justify prove verify double-check spot catch flag break stress""".split()
)
_PREPOSITIONS = frozenset("with using in from for on by via after before".split())
#: Heads that take no article ("Write SQL", "Create documentation").
_MASS_NOUNS = frozenset(
    """sql code python javascript typescript pandas documentation docs copy content feedback advice guidance
software music art marketing research data bash rust go java""".split()
)


#: Goals a person reaches with a plan ("learn Spanish in 6 weeks", "lose 5 kg before summer").
_GOAL_VERBS = frozenset("learn become lose gain master".split())


def _base_of_gerund(word: str) -> str:
    for base in (word[:-3], word[:-3] + "e", word[:-4]):  # reviewing, writing, planning
        if base in _VERBS or base in _MORE_VERBS:
            return base
    return ""


def _first_verb(words: list[str]) -> int | None:
    for i, word in enumerate(words):
        if word.lower().strip(",") in _VERBS or word.lower().strip(",") in _MORE_VERBS:
            return i
    return None


def _article_for_phrase(words: list[str]) -> str:
    """ "a " / "an " before a singular noun phrase; "" before an article, a number, a plural or a mass noun."""
    from prompt_alchemy.engine.patterns import article_for

    lead = words[0].lower().strip(",")
    if lead in ("a", "an", "the", "some", "any", "this", "these", "those", "my", "our", "their", "exactly"):
        return ""
    if re.fullmatch(r"[\d.,]+", lead) or words[0][0] in "{$€£" or lead in _NUMBER_WORDS:
        return ""  # "8 names", "two ideas"
    if re.search(r"\s(?:vs\.?|versus|or)\s", " ".join(words[:6]), re.I):
        return ""  # "kindle vs kobo"
    before: list[str] = []
    for word in words[:5]:
        if word.lower() in ("for", "to", "of", "that", "which", "about", "on", "in", "from", "with"):
            break
        before.append(word)
        if word.endswith((",", ":", ";")):
            break
    last = before[-1].lower().strip(",:;") if before else lead
    if last in _MASS_NOUNS or last == "lyrics":
        return ""  # "sql to get ...", "lyrics for a song"
    if re.search(r"[a-z]s$", last) and not re.search(r"(?:ss|us|is|ics)$", last):
        return ""  # "jest unit tests for ...", "ideas for ..."
    if re.match(r"\d", lead):  # "12-week plan", "8-week plan"
        return "an " if re.match(r"(?:8|11|18|80)\b|8\d", lead) else "a "
    return article_for(words[0]) + " "


_NUMBER_WORDS = frozenset("one two three four five six seven eight nine ten twelve twenty fifty hundred".split())


def says_its_verb(idea: str) -> bool:
    """Whether the idea's request leads with its own instruction ("write ...", "help me ...", a question), so
    that its own words, third person, make the task; else (a noun phrase, "I have ...") the model may restate it."""
    sentence, _rest = task_sentence(idea)
    if re.match(r"^\s*(?:please\s+)?help me\b", sentence, re.I) or sentence.rstrip().endswith("?"):
        return True
    words = re.sub(r"^(?:(?:i|we)\s+)?(?:need|want)\s+(?=\S)", "", strip_lead(sentence), flags=re.I).split()
    if not words:
        return False
    lead = words[0].lower().strip(",")
    return lead in _VERBS or lead in _MORE_VERBS or (lead in _PREPOSITIONS and _first_verb(words[1:7]) is not None)


#: Who reads a kind of deliverable, when the idea names the deliverable but not its audience.
_DELIVERABLE_AUDIENCE = (
    ("cover letter", "the hiring manager who reads the application"),
    ("resume", "recruiters and hiring managers"),
    ("cv", "recruiters and hiring managers"),
    ("job posting", "candidates considering the job"),
    ("job description", "candidates considering the job"),
    ("newsletter", "the newsletter's subscribers"),
    ("blog", "the blog's readers"),
    ("product description", "shoppers deciding whether to buy"),
    ("landing page", "potential customers"),
    ("ad", "potential customers"),
    ("press release", "journalists and the public"),
    ("speech", "the people listening to the speech"),
    ("toast", "the guests at the event"),
    ("linkedin", "professional contacts on LinkedIn"),
    ("tweet", "followers on social media"),
    ("proposal", "the decision makers who review the proposal"),
    ("grant", "the grant reviewers"),
    ("email", "the person who receives the email"),
    ("bedtime story", "a child at bedtime"),
    ("documentation", "developers who use the software"),
    ("readme", "developers who use the project"),
    ("lesson", "the students in the class"),
    ("quiz", "the students taking the quiz"),
)


#: An output form the idea asks for, and how the prompt states it.
_FORMAT_CUES = (
    ("action items", "A bulleted list of action items, each with its owner and due date when they are known."),
    ("checklist", "A checklist of short, concrete items."),
    ("table", "A Markdown table with a header row, then one sentence on what it shows."),
    ("json", "Valid JSON only, with no text before or after it."),
    ("csv", "CSV with a header row, and nothing else."),
    ("bullet", "A bulleted list with one idea per bullet."),
    ("outline", "An outline with headings and short bullets under each."),
    ("step-by-step", "Numbered steps, one action each."),
    ("steps", "Numbered steps, one action each."),
    ("faq", "Questions and answers, each answer two or three sentences."),
    ("flashcards", "Flashcards as question and answer pairs, one per line."),
    ("quiz", "Numbered questions, each with its options and the correct answer marked."),
    ("haiku", "A haiku of three lines (5-7-5 syllables), and nothing else."),
    ("tweet", "A single post of at most 280 characters."),
    ("one-liner", "A single line."),
    ("email", "The email with a subject line, greeting, body and sign-off."),
    ("list", "A numbered list with one item per line."),
)


def format_from_idea(idea: str, material: tuple[str, ...] = ()) -> str | None:
    """The output form the idea asks for; a word naming the material worked on ("classify support emails") is
    not a form."""
    lowered = idea.lower()
    for cue, form in _FORMAT_CUES:
        if any(name.rstrip("s") == cue.rstrip("s") for name in material):
            continue
        if re.search(rf"\b{re.escape(cue)}s?\b", lowered):
            if cue == "table" and _DATABASE_TABLE.search(lowered):  # "from an orders table" is data, not a format
                continue
            return form
    return None


#: "table" naming a database table or a spreadsheet's, not a format the answer should take.
_DATABASE_TABLE = re.compile(
    r"\b(?:sql|query|queries|database|schema|columns?|rows|joins?|postgres\w*|mysql|sqlite|bigquery|"
    r"spreadsheet|excel|csv)\b|\b\w+s table\b|\btables?\s+(?:named|called)\b"
)


def audience_from_idea(idea: str, material: tuple[str, ...] = ()) -> str | None:
    """Who the result is for: named in the idea ("for beginners"), else implied by the deliverable (not by the
    material worked on: the emails of "classify support emails" are read by no one)."""
    match = _AUDIENCE.search(idea)
    if match:
        return match.group(1).strip()
    lowered = idea.lower()
    for cue, audience in sorted(_DELIVERABLE_AUDIENCE, key=lambda item: -len(item[0])):
        if any(name.rstrip("s") == cue.rstrip("s") for name in material):
            continue
        if re.search(rf"\b{re.escape(cue)}s?\b", lowered):
            return audience
    return None


# ------------------------------------------------------------------------------------------------ from a pattern


def slots_for(pattern: Pattern, details: IdeaDetails, inputs: list[str]) -> dict[str, str]:
    """The values of a pattern's slots for one idea (see the pattern contract)."""
    persona_kind = pattern.form == "sections" and bool(pattern.task)  # a bot's reader is its user, no deliverable's
    # the reader a deliverable implies ("a blog post": its readers) only when the prompt writes that deliverable
    writes = pattern.verb == "Write" or pattern.name == "general"
    audience = (
        details.audience
        or pattern.audience
        or (audience_from_idea(details.idea, details.inputs) if writes and not persona_kind else "")
        or ""
    )
    return {
        "subject": details.image_subject if pattern.form == "paragraph" else (details.character or details.subject),
        "domain": details.domain,
        "audience": audience,
        "count": details.count,
        "language": details.language_name,
        "input": f"{{{inputs[0]}}}" if inputs else "",
        "labels": ", ".join(details.labels),
        "fields": ", ".join(details.fields),
        "purpose": details.purpose,
        "topic": details.topic,
        "expert": details.expert,
        "form": details.form,
        "duration": details.duration,
        "length": details.length,
        "stack": details.stack,
        "platform": details.platform,
    }


def _filled(lines: tuple[str, ...] | list[str], slots: dict[str, str]) -> list[str]:
    from prompt_alchemy.engine.patterns import fill

    return [f for f in (fill(line, slots) for line in lines) if f]


#: An idea that points at material it will supply ("this function", "here's the traceback", "my code").
_POINTS_AT_MATERIAL = re.compile(
    r"\b(?:this|these|the following|below|attached|pasted|here'?s|here is|here are)\b|"
    r"\bmy (?:code|function|script|query|component|class|module|method|program|stack ?trace|traceback|logs?)\b|"
    r"\bour (?:code|codebase|function|module|script|PRs?|pull requests?)\b|:\s*$|"
    r"\bmy (?:pull requests?|PRs?|diff|changes|commits?|branch)\b",  # a review of my pull request needs its diff
    re.I,
)
#: Material given inline: a code span, or a token dense with code symbols (a regex, a one-liner, a formula).
_INLINE_MATERIAL = re.compile(r"`[^`]{4,}`|(?<!\S)(?=\S*[(){}\[\]^$*+?\\|=<>;])\S{8,}(?!\S)(?<![.,!?:)])")


def _inputs(pattern: Pattern, details: IdeaDetails) -> tuple[list[str], str]:
    """The prompt's input variables: the idea's own {variables}; else, for a pattern run on material, its inputs
    renamed for what the idea names ({tickets}); none when the task needs none."""
    if details.variables:
        # the idea's own {variables} are inputs; when it names its material in words and not as a variable
        # ("grades essays against a {rubric}"), that material comes first: it is what {input} lines refer to
        material = (
            [n for n in details.inputs if not any(n.rstrip("s") in v or v in n for v in details.variables)][:1]
            if pattern.inputs
            else []
        )  # "from {invoice_text}": the invoice is that variable, not an input of its own
        return [*material, *details.variables], "idea"
    if not pattern.inputs or _INLINE_MATERIAL.search(details.idea):  # the material is in the idea itself
        return [], "idea"
    if pattern.name.startswith("code-") or pattern.name == "security-review":
        if not _POINTS_AT_MATERIAL.search(details.idea):  # "why does my container exit?" comes with no code
            return [], "idea"
    named = [n for n in details.inputs if n not in pattern.inputs[1:]]
    return ([named[0], *pattern.inputs[1:]] if named else list(pattern.inputs)), ("idea" if named else "pattern")


def _negatives(rules: list[str]) -> list[str]:
    """What an image must not show, from the idea's "no text" / "do not include people" rules."""
    out = []
    for rule in rules:
        match = re.match(
            r"^(?:no|without|do not (?:include|show|add|use)|never (?:include|show))\s+(.+?)\.?$", rule, re.I
        )
        if match:
            out.append(match.group(1))
    return out


_NEGATIVE_FOR = re.compile(r"\bnegative(?:[- ]prompt)?s?\s*(?:for|against|:)\s+([^;.]+)", re.I)


def negatives_named(idea: str) -> list[str]:
    """What the idea's own negative prompt names ("a negative prompt for people and text" -> people, text)."""
    match = _NEGATIVE_FOR.search(idea)
    if not match:
        return []
    return [part.strip() for part in re.split(r",\s*|\s+and\s+|\s+or\s+", match.group(1)) if part.strip()]


def image_parameters(pattern: Pattern, details: IdeaDetails) -> str:
    """The image model's parameters: the pattern's, with the idea's aspect ratio and the things it must not show."""
    params = pattern.parameters
    negatives = [*_negatives(list(details.rules)), *negatives_named(details.idea)]
    negatives = [n for n in dict.fromkeys(negatives) if n.lower() not in params.lower()]
    if "--ar" in params and details.aspect_ratio:
        params = re.sub(r"--ar \S+", f"--ar {details.aspect_ratio}", params)
    if "--" in params and negatives:
        params += " --no " + ", ".join(negatives)
    if params.startswith("Negative prompt:") and negatives:
        first, _, rest = params.partition("\n")
        params = f"{first}, {', '.join(negatives)}" + (f"\n{rest}" if rest else "")
    return params


#: Units of length a pattern line may state and an idea may set ("250-400 words" against "under 300 words").
_LENGTH_UNITS = (
    "words",
    "sentences",
    "paragraphs",
    "lines",
    "characters",
    "pages",
    "bullets",
    "slides",
    "questions",
    "ideas",
    "names",
    "tips",
    "examples",
    "steps",
)


def _as_asked(asked: str, match: re.Match[str]) -> str:
    return ("of " if match.group(0).lower().startswith("of ") else "") + asked


def _agree(lines: list[str], details: IdeaDetails) -> list[str]:
    """The pattern's lines with any length they state in a unit the idea also sets replaced by the idea's own
    ("A one-page letter of 250-400 words" for an idea "under 300 words" -> "... of under 300 words")."""
    for unit in _LENGTH_UNITS:
        asked = next((n for n in details.numbers if re.search(rf"\b{unit}\b", n, re.I)), None)
        if not asked:
            continue
        stated = re.compile(
            r"(?:(?:about|around|roughly|up to|at most|under|no more than|at least|of)\s+)?"
            rf"(?:\d[\d,]*(?:\s*[-\u2013]\s*\d[\d,]*)?|(?:one|two|three|four|five|six|seven|eight|nine|ten|"
            rf"twelve|fifteen|twenty)(?: to \w+)?)\s+(?:(?:short|most likely|likely|key|main)\s+)?{unit}\b",
            re.I,
        )
        lines = [stated.sub(partial(_as_asked, asked), line) for line in lines]
    return lines


_KNOWS_DOMAIN = re.compile(r"\b(?:knows|in|specialised in|works on|writes in)\s+\{domain\}")
_BOT_WORDS = frozenset("bot chatbot assistant chat widget system user's the".split())


def pattern_spec(choice: PatternChoice, details: IdeaDetails, persona_guidance: str = "") -> PromptSpec:
    """A complete spec from the chosen pattern and the idea's details: the floor that the model's task (and role,
    when the pattern has none) improve on. The task is the pattern's own task line when it has one that fills
    (bots, agents, image prompts), else the user's request in their own words, third person."""
    pattern = choice.pattern
    inputs, inputs_source = _inputs(pattern, details)
    slots = slots_for(pattern, details, inputs)
    # a place or thing is no field of expertise: "an advisor who knows a small inventory app" is no role
    thing = re.match(r"(?:a|an|the)\s", slots["domain"], re.I) is not None
    roles = _filled([r for r in pattern.roles if not (thing and _KNOWS_DOMAIN.search(r))], slots)
    pattern_task = _filled(pattern.task, slots)
    if details.language:
        task, task_source = details.request.rstrip(" .") + ".", "idea"  # as written
    elif pattern_task:
        task, task_source = pattern_task[0], "pattern"
    else:
        request = details.request or details.idea
        task = imperative_task(request, pattern.verb)
        task_source = "idea" if says_its_verb(request) or pattern.verb else "rule"
    # a bot, tutor, coach or agent: the idea's own persona, scope clauses and rules, clause by clause
    ai_facing = pattern.form == "sections" and bool(pattern.task) and not details.language
    brief, rules = [], list(details.rules)
    if ai_facing:
        said_by_pattern = {w[:4] for w in key_words(" ".join([roles[0] if roles else "", *pattern_task[:1]]))}
        new_words = [
            w
            for w in key_words(details.persona)
            if w[:4] not in said_by_pattern and w not in _BOT_WORDS and w.rstrip("s") not in STOPWORDS
        ]
        if new_words and "{subject}" not in pattern.roles[0]:  # the idea's persona says more than the pattern's
            roles = [details.persona, *roles]
        task_words = {w[:4] for w in key_words(task)}
        brief = [
            line
            for line in details.scope  # a character's subject is already its role
            if ("{subject}" not in pattern.roles[0] or line.rstrip(".").lower() != slots["subject"].lower())
            and not {w[:4] for w in key_words(line)} <= task_words  # the task already says it
        ]
        # the idea's rules clause by clause; a longer one only when it says more than the clauses
        rules, said = [], " ".join([details.persona, *brief]).lower()
        plain = [r for r in details.rules if len(r.split()) <= 20 and ". " not in r]  # split on "and must"
        for rule in [*plain, *details.brief_rules, *details.rules]:
            words = key_words(rule)
            if words and sum(1 for w in words if w in said) < 0.8 * len(words):
                rules.append(rule)
                said += " " + rule.lower()
    # the idea's numbers that neither its task nor its rules already carry
    carried = " ".join([details.request, *rules, *brief, details.persona if ai_facing else ""]).lower()
    limits = [n for n in details.numbers if n.lower() not in carried]
    rules += [f"{n[0].upper()}{n[1:]}." for n in limits]
    sections = {heading: _agree(_filled(lines, slots), details) for heading, lines in pattern.sections.items()}
    if brief and sections:
        scope_heading = "Scope" if "Scope" in sections else next(iter(sections))
        sections[scope_heading] = brief + sections[scope_heading]
    requirements = _agree(_filled(pattern.requirements, slots), details)
    if persona_guidance:
        requirements.append(persona_guidance.strip())
    constraints = _agree(_filled(pattern.constraints, slots), details)
    if pattern.form == "sections":
        if pattern.details_section in sections:
            sections[pattern.details_section] = rules + sections[pattern.details_section]
        else:
            constraints = rules + constraints
    form = (
        # a bot's tools and a list of options ("20 tweet ideas") have their pattern's form, not one tweet's
        None
        if ai_facing or pattern.name in ("brainstorm", "naming")
        else format_from_idea(details.idea, details.inputs)
    )  # "email" in an agent's tools is no format
    output_format = form or " ".join(_agree(_filled([pattern.output_format], slots), details))
    audience = slots["audience"]
    context = list(details.context)
    sources = {
        "role": "pattern" if roles else "rule",
        "task": task_source,
        "audience": "idea" if details.audience else ("pattern" if pattern.audience else "rule"),
        "inputs": inputs_source,
        "sections": "pattern",
        "requirements": "pattern",
        "constraints": "idea+pattern" if rules else "pattern",
        "output_format": "idea" if form else "pattern",
    }
    if details.context:
        sources["context"] = "idea"
    if details.facts:
        sources["facts"] = "context files"
    if roles and re.match(r"(?:A|An|The) [a-z]", roles[0]):  # "{subject}" filled at the line's start
        roles[0] = roles[0][0].lower() + roles[0][1:]
    return PromptSpec(
        kind=pattern.name,
        role=roles[0] if roles else "",
        task=task,
        audience=audience,
        inputs=inputs,
        context=context,
        requirements=requirements,
        constraints=constraints,
        output_format=output_format,
        example=pattern.example_output.strip(),
        sources=sources,
        choice=(
            f"{choice.method} {choice.similarity:.2f}, margin {choice.margin:.2f}"
            + (f"; nearest was {choice.nearest}, not clear enough" if choice.fallback else "")
        ),
        form=pattern.form,
        sections=sections,
        details_section=pattern.details_section,
        rules=rules,
        facts=list(details.facts),
        # a translation is answered in its target language, not in the language the request is written in
        language=(details.target_language if pattern.name == "translate" else details.language_name),
        brief=brief,
        parameters=image_parameters(pattern, details) if pattern.form == "paragraph" else pattern.parameters,
        alternatives=roles[1:],
    )
