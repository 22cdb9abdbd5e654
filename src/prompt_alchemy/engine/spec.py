"""The prompt spec: the essence of an idea as short, bounded fields, and the plain rules that fill a field when the
model cannot.

The structured path (see :mod:`prompt_alchemy.engine.structured`) asks a small model only for the fields it fills
well (role and task) and takes the rest from rules per kind of task (write, explain, review, plan, ...) and from
what the idea itself says (its `{variables}`, its audience, its extra sentences). Every field records where it came
from: ``model``, ``rule``, ``idea`` or ``exemplar``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from prompt_alchemy.ranking.features import variables

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#'-]*")
STOPWORDS = frozenset("""
a an the and or but if then else of for to in on at by with from into onto about as is are was were be been being
it its this that these those i me my we our you your he she they them their his her what which who whom whose how
why when where can could would should will shall may might must do does did done have has had having not no so
than too very just also please want need like some any each every all more most much many few such own same other
using use make help get let one two up out over under again there here only new good best way ways thing things
""".split())


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


ROLE_NOUNS = frozenset("""
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
""".split())
_ROLE_SUFFIXES = ("ist", "er", "or", "ian", "ant", "ent", "eer", "smith")
#: Words with a person's ending that name things ("a newsletter" is the deliverable, not its writer).
_NOT_PEOPLE = frozenset("""
newsletter letter paper computer server browser order number poster cover water matter layer parameter filter timer
folder container answer character chapter register counter printer monitor header footer border corner center
centre error sensor vector factor motor tractor reactor generator calculator indicator editor's twitter
transcript component client document agent's content event student's talent patent statement comment element
""".split())


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

    def render(self) -> str:
        """The readable rendering stored as the prima-materia artefact."""
        def bullets(items: list[str]) -> str:
            return "\n".join(f"- {item}" for item in items)

        parts = [f"Kind of task: {self.kind}", f"Role: {self.role}", f"Task: {self.task}",
                 f"Audience: {self.audience}"]
        if self.inputs:
            parts.append("Inputs: " + ", ".join(f"{{{name}}}" for name in self.inputs))
        if self.context:
            parts.append("Context:\n" + bullets(self.context))
        parts.append("Requirements:\n" + bullets(self.requirements))
        parts.append("Constraints:\n" + bullets(self.constraints))
        parts.append(f"Output format: {self.output_format}")
        parts.append("Success criteria:\n" + bullets(self.success_criteria))
        parts.append("Open questions:\n" + bullets(self.open_questions))
        parts.append("Field sources: " + ", ".join(f"{k}={v}" for k, v in sorted(self.sources.items())))
        return "\n".join(parts)


@dataclass(frozen=True)
class Kind:
    """A kind of task and its plain rules: what a good prompt for it asks of the model."""

    name: str
    verb: str  # imperative used when the idea has no verb of its own
    role: str
    audience: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    output_format: str
    success: tuple[str, ...]
    questions: tuple[str, ...]
    steps: tuple[str, ...]
    example: str
    material: bool = False  # the task works on material the user supplies (text, code, data)
    keywords: tuple[str, ...] = field(default=())
    description: str = ""


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("code", "Build", "a senior software engineer", "developers who will run and maintain the code",
         ("State the language, libraries and environment you assume.",
          "Handle errors and edge cases explicitly.",
          "Include tests or a quick way to check that the code works."),
         ("Prefer the standard library and well-maintained packages.",
          "Do not leave placeholders or unfinished functions."),
         "The complete code in fenced code blocks, then a short explanation of how to run it.",
         ("The code runs as written and does what the task asks.", "Edge cases are handled and explained."),
         ("Which language, versions and platforms must it support?",),
         ("Restate the requirements and your assumptions.", "Design the structure: modules, functions and data.",
          "Write the code.", "Add tests and usage instructions."),
         "Input: a short sample of what the program receives.\nOutput: the exact result it should print or return.",
         keywords=("code", "function", "script", "cli", "api", "program", "app", "application", "bug", "debug",
                   "implement", "refactor", "sql", "query", "python", "javascript", "typescript", "rust", "java",
                   "golang", "regex", "website", "web", "backend", "frontend", "database", "bot", "tool",
                   "library", "class", "algorithm", "endpoint", "deploy", "docker", "test", "unit", "git",
                   "compiler", "parser", "scraper", "automation", "automate", "software", "react", "css", "html",
                   "extension", "plugin", "addon", "browser", "chrome", "firefox", "vscode", "dashboard", "widget",
                   "microservice", "sdk", "android", "ios", "kotlin", "swift", "django", "flask", "node"),
         description="write, fix or design software: code, scripts, tools, APIs and queries"),
    Kind("review", "Review", "a meticulous reviewer", "the author who will act on the feedback",
         ("Point to the specific passage or line behind every issue.", "Rank the issues by severity."),
         ("Be direct but constructive.", "Suggest focused fixes instead of rewriting everything."),
         "A list of issues, each with its location, why it matters and a suggested fix, then an overall verdict.",
         ("Every issue is specific and actionable.", "The most serious problems come first."),
         ("What standard or checklist should the review follow?",),
         ("Read the whole material once.", "List the issues with their locations.", "Rank them by severity.",
          "Suggest a fix for each and give a verdict."),
         "Issue: a vague claim in paragraph 2.\nWhy it matters: readers cannot verify it.\nFix: cite the source.",
         material=True,
         keywords=("review", "critique", "audit", "proofread", "feedback", "evaluate", "grade", "assess",
                   "check", "inspect", "critic"),
         description="review, critique, proofread or evaluate something the user supplies"),
    Kind("explain", "Explain", "an experienced teacher", "learners who are new to the topic",
         ("Build up from what the reader already knows, one step at a time.",
          "Use one concrete example or analogy."),
         ("Define every technical term the first time it appears.",
          "Stay accurate, and say when something is simplified."),
         "A clear explanation in plain language with short headings, then a two-sentence summary.",
         ("A newcomer can follow it without outside help.", "It is accurate and complete for the question."),
         ("How much does the reader already know about the topic?",),
         ("Start with the core idea in one sentence.", "Explain the parts and how they fit together.",
          "Give an example.", "Summarize the key points."),
         "Core idea: one sentence.\nHow it works: two or three short paragraphs.\nExample: one concrete case.",
         keywords=("explain", "teach", "understand", "tutor", "lesson", "learn", "describe", "what", "how",
                   "why", "concept", "introduction", "beginner", "course", "quiz", "study", "student", "flashcards",
                   "students", "homework", "exam"),
         description="explain, teach or tutor a topic or concept"),
    Kind("plan", "Create", "an experienced planner", "the person who will follow the plan",
         ("Break the work into concrete steps with timings.", "Note dependencies, risks and what to prepare."),
         ("Keep the plan realistic for the stated time and budget.",
          "Prefer specific actions over general advice."),
         "A numbered plan grouped by stage, each step with its timing, then a short checklist.",
         ("Someone could follow the plan without further questions.", "Timings and resources add up."),
         ("What time, budget and constraints does the plan have to fit?",),
         ("Clarify the goal and the limits.", "List the stages.", "Break each stage into dated steps.",
          "Add risks and a checklist."),
         "Week 1: set up the basics (2 hours).\nWeek 2: first milestone (3 hours).\nChecklist: what to prepare.",
         keywords=("plan", "schedule", "itinerary", "roadmap", "strategy", "organize", "organise", "budget",
                   "workout", "routine", "trip", "travel", "timeline", "prepare", "launch", "event", "wedding",
                   "party", "diet", "meal", "training", "migration", "project"),
         description="plan a project, trip, schedule, routine or strategy"),
    Kind("analyze", "Analyze", "a careful analyst", "decision makers who need clear conclusions",
         ("State the question, the method and the assumptions.",
          "Support every conclusion with evidence from the material."),
         ("Separate facts from interpretation.", "Say how confident you are in each finding."),
         "Findings as a short list, each with its evidence and confidence, then recommendations.",
         ("Each finding is backed by evidence.", "The recommendations follow from the findings."),
         ("What decision will this analysis inform?",),
         ("Restate the question.", "Examine the material.", "List the findings with evidence.",
          "Recommend what to do."),
         "Finding: sales fell 12% in Q3.\nEvidence: the monthly totals.\nConfidence: high.",
         material=True,
         keywords=("analyze", "analyse", "analysis", "compare", "investigate", "research", "data", "dataset",
                   "trends", "metrics", "statistics", "survey", "report", "forecast", "evaluate", "churn",
                   "sales", "market", "competitor", "kpi", "financial", "spreadsheet", "csv"),
         description="analyze data, compare options or research a question"),
    Kind("transform", "Rewrite", "a skilled editor", "the readers of the transformed text",
         ("Keep the meaning and every key fact of the original.", "Adapt wording, length and tone as asked."),
         ("Do not add information that is not in the original.", "Keep names, numbers and quotes exact."),
         "Only the transformed text, with no commentary.",
         ("Nothing important from the original is lost.", "The result reads naturally."),
         ("What length, tone or style should the result have?",),
         ("Read the original carefully.", "Note its key facts.", "Rewrite it as asked.",
          "Check that every key fact survived."),
         "Original: a long, formal paragraph.\nResult: the same facts in two plain sentences.",
         material=True,
         keywords=("translate", "rewrite", "convert", "summarize", "summarise", "summary", "paraphrase",
                   "simplify", "shorten", "reformat", "condense", "rephrase", "edit", "polish", "tldr"),
         description="translate, summarize, rewrite, simplify or convert a text"),
    Kind("extract", "Extract", "a precise information-extraction specialist", "systems and people who use the data",
         ("Extract only what the source states.", "Keep the original wording for quoted values."),
         ("Do not guess missing values; use null for them.", "Keep the field names exactly as specified."),
         "JSON with one field per item, and null for anything not found.",
         ("Every value can be found in the source.", "The output parses as valid JSON."),
         ("Which fields are required, and in what format?",),
         ("Read the source.", "Find each requested field.", "Copy the values exactly.", "Return the JSON."),
         'Input: "Order 1042 shipped on 3 May to Oslo."\nOutput: {"order_id": "1042", "date": "3 May", '
         '"city": "Oslo"}',
         material=True,
         keywords=("extract", "parse", "pull", "fields", "entities", "invoice", "receipt", "scrape",
                   "structured", "json", "table", "names", "dates", "addresses"),
         description="extract fields, entities or facts from text into structured data"),
    Kind("classify", "Classify", "a careful classifier", "the team that acts on the labels",
         ("Use only the allowed categories.", "Give a one-line reason for each label."),
         ("Choose exactly one label per item unless told otherwise.", "Say 'uncertain' when no label fits."),
         "One line per item: the label, then a short reason.",
         ("Labels are consistent for similar items.", "Every label has a reason."),
         ("What are the allowed categories?",),
         ("Read the item.", "Compare it with each category.", "Pick the best label.", "Give the reason."),
         "Item: \"The app crashes on login.\"\nLabel: bug - it reports broken behaviour.",
         material=True,
         keywords=("classify", "categorize", "categorise", "label", "tag", "sort", "sentiment", "triage",
                   "detect", "moderate", "spam", "intent", "category", "categories", "priority"),
         description="classify, label, tag or triage items into categories"),
    Kind("ideas", "Generate", "a creative strategist", "the person choosing among the ideas",
         ("Offer varied ideas, from safe to bold.", "Make each idea specific and actionable."),
         ("No duplicates or near-duplicates.", "Keep every idea within the stated constraints."),
         "A numbered list of ideas, each with a one-line rationale.",
         ("The ideas differ from one another.", "Each could be acted on right away."),
         ("What constraints (budget, audience, time) must the ideas respect?",),
         ("Clarify the goal.", "Generate many options.", "Keep the strongest and most varied.",
          "Explain each in one line."),
         "1. A themed scavenger hunt - cheap and fits all ages.\n2. A cooking contest - social and hands-on.",
         keywords=("ideas", "brainstorm", "names", "name", "slogan", "slogans", "suggest", "suggestions",
                   "gift", "gifts", "themes", "topics", "titles", "inspiration", "creative"),
         description="brainstorm ideas, names, titles, themes or suggestions"),
    Kind("advise", "Advise on", "an experienced coach", "the person asking, who will act on the advice",
         ("Start from the key facts of the situation, and ask for any that are missing.",
          "Give specific, practical steps."),
         ("Be honest about trade-offs and risks.", "Avoid generic platitudes."),
         "A short assessment, then numbered steps, then the first thing to do today.",
         ("The advice fits the situation described.", "Each step is concrete."),
         ("What are the person's situation, goals and limits?",),
         ("Understand the situation.", "Weigh the options.", "Recommend steps.", "Name the first action."),
         "Assessment: two sentences.\nSteps: 1. ... 2. ... 3. ...\nFirst action: one sentence.",
         keywords=("advice", "advise", "negotiate", "career", "decide", "decision", "improve", "habit",
                   "relationship", "motivation", "productivity", "stress", "coach", "coaching", "interview",
                   "salary", "raise", "health", "fitness", "personal", "finance", "invest", "savings"),
         description="advise or coach a person on a decision, habit or personal situation"),
    Kind("write", "Write", "a professional writer", "the people who will read the text",
         ("Match the tone to the audience and the purpose.", "Open with a strong first line and end with a clear close."),
         ("Use concrete details instead of generic filler.",
          "Do not invent facts, names or figures; mark missing details as [placeholders]."),
         "The finished text only, ready to use, with no commentary.",
         ("It reads naturally and fits its audience.", "Every point from the task is covered."),
         ("What tone, length and key points should it have?",),
         ("Identify the reader and the goal.", "Outline the main points.", "Write the draft.",
          "Revise it for clarity and tone."),
         "Opening: one line that states the purpose.\nBody: two or three short paragraphs.\nClose: a clear next step.",
         keywords=("write", "draft", "compose", "letter", "email", "blog", "post", "article", "story", "poem",
                   "newsletter", "copy", "essay", "speech", "script", "tweet", "caption", "description",
                   "announcement", "bio", "cover", "message", "toast", "headline", "ad", "landing", "posting",
                   "press", "release", "lyrics", "content", "linkedin", "proposal", "invitation", "thank"),
         description="write a text: letters, emails, posts, articles, stories, copy"),
)}

_LEADING = re.compile(
    r"^\s*(?:(?:hey|hi|hello)[,!]?\s+)?(?:please\s+)?(?:"
    r"(?:(?:i\s+(?:want|need)|create|write|make|give\s+me)\s+)?an?\s+prompt\s+(?:that|which|to|for)\s+|"
    r"(?:can|could|would|will)\s+you\s+(?:please\s+)?|"
    r"i\s+(?:want|need|would like|'d like)\s+(?:you\s+)?(?:to\s+)?|help\s+me\s+(?:to\s+)?)?",
    re.I)
_META = re.compile(r"^\s*(?:(?:i\s+(?:want|need)|create|write|make|give\s+me)\s+)?an?\s+prompt\s+(?:that|which)\s+",
                   re.I)


def strip_lead(sentence: str) -> str:
    """The request without its politeness or meta lead ("can you", "I want you to", "a prompt that"). After
    "a prompt that", the verb is put back in the imperative: "a prompt that grades essays" asks to grade essays."""
    meta = _META.match(sentence)
    body = _LEADING.sub("", sentence, count=1)
    if meta and body.split():
        verb, rest = body.split(maxsplit=1)[0], body[len(body.split(maxsplit=1)[0]):]
        low = verb.lower()
        for ending, base in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x"), ("s", "")):
            if low.endswith(ending) and low[:-len(ending)] + base in _VERBS | {"grade", "rate", "score", "check"}:
                body = low[:-len(ending)] + base + rest
                break
    return body
_VERBS = frozenset("""
write draft compose create build make design develop implement generate produce explain teach describe summarize
grade rate score
summarise translate rewrite convert review critique audit proofread analyze analyse compare plan schedule organize
organise classify categorize label extract list find suggest brainstorm recommend outline prepare fix debug
refactor optimize improve edit simplify shorten answer evaluate assess estimate calculate compute prepare propose
teach tutor coach help tell give show find name draft craft set tag sort detect identify research investigate
convert format check test validate solve teach turn advise negotiate
""".split())
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
    r"voters|donors|candidates|applicants))\b", re.I)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


#: Verbs that name the kind of task whatever follows them.
_STRONG_VERBS = {
    "explain": "explain", "teach": "explain", "tutor": "explain", "describe": "explain", "review": "review",
    "critique": "review", "audit": "review", "proofread": "review", "plan": "plan", "schedule": "plan",
    "organize": "plan", "organise": "plan", "analyze": "analyze", "analyse": "analyze", "compare": "analyze",
    "research": "analyze", "investigate": "analyze", "translate": "transform", "rewrite": "transform",
    "summarize": "transform", "summarise": "transform", "simplify": "transform", "paraphrase": "transform",
    "shorten": "transform", "extract": "extract", "parse": "extract", "classify": "classify",
    "categorize": "classify", "categorise": "classify", "label": "classify", "triage": "classify",
    "brainstorm": "ideas", "advise": "advise", "coach": "advise", "negotiate": "advise", "implement": "code",
    "debug": "code", "refactor": "code", "fix": "code",
}
#: Verbs whose object decides the kind ("write a poem" vs "write a Python function"), with a default.
_WEAK_VERBS = {
    "write": "write", "draft": "write", "compose": "write", "craft": "write", "create": "write", "make": "write",
    "build": "code", "develop": "code", "design": "code", "code": "code", "program": "code", "convert": "transform",
    "generate": "ideas", "suggest": "ideas", "give": "advise", "help": "advise", "prepare": "plan",
    "produce": "write",
}
_WRITING_VERBS = frozenset({"write", "draft", "compose", "craft"})
#: Phrases that decide the kind before single keywords do.
_PHRASES = (("cover letter", "write"), ("job posting", "write"), ("business review", "analyze"),
            ("action items", "transform"), ("meal plan", "plan"), ("lesson plan", "explain"))


def classify_kind(idea: str) -> tuple[str, str]:
    """The kind of task and how it was chosen: a verb that names it, a telling phrase, the first keyword of a
    kind in the idea, or a verb's default. Returns ("", "none") when nothing matches, so the caller can fall
    back to embedding similarity."""
    body = strip_lead(idea.strip())
    words = [w.lower() for w in _WORD.findall(body)]
    lead = words[0] if words else ""
    if re.match(r"^\s*(?:(?:what|which|where|when|how)\s+(?:should|can|could|do)|should|can|could)\s+(?:i|we)\b",
                body, re.I):
        return "advise", "a question about what to do"
    if lead in _STRONG_VERBS:
        return _STRONG_VERBS[lead], f"the verb '{lead}'"
    lowered = " ".join(words)
    for phrase, kind in _PHRASES:
        if phrase in lowered:
            return kind, f"the phrase '{phrase}'"
    # After a writing verb, the object is a text or code ("write a wedding toast" is writing, not planning).
    kinds = [KINDS[k] for k in ("code", "write", "explain")] if lead in _WRITING_VERBS else list(KINDS.values())
    if lead in _WEAK_VERBS:  # the verb's own kind first when the idea has one of its words ("suggest names")
        default = KINDS[_WEAK_VERBS[lead]]
        kinds = [default] + [k for k in kinds if k is not default]
        own = next((w for w in words[1:] if w in default.keywords), None)
        if own:
            return default.name, f"the verb '{lead}' and the keyword '{own}'"
    for w in words[1:] if lead in _WEAK_VERBS else words:
        for kind in kinds:
            if w in kind.keywords:
                return kind.name, f"the keyword '{w}'"
    if lead in _WEAK_VERBS:
        return _WEAK_VERBS[lead], f"the verb '{lead}'"
    return "", "none"


_MODALS = frozenset("can could will would should shall may might must was did".split())
_AUXILIARIES = _MODALS | frozenset("do does am are is have has".split())
_QUESTION = re.compile(r"^\s*(?:what|which|where|when|why|how|who|whom|whose|should|can|could|would|is|are|do|"
                       r"does|did|will)\b", re.I)
_IRREGULAR = {"am": "is", "have": "has", "do": "does", "go": "goes", "'m": "is", "'ve": "has"}


def _third_person_verb(verb: str) -> str:
    low = verb.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low in _MODALS or (low.endswith("ed") and not low.endswith("eed")):
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
        before = match.string[:match.start()].split()
        if before and before[-1].lower() in _AUXILIARIES:  # a question: "should I cook" keeps "cook"
            return "the user " + adverb + verb
        return f"{'The' if match.group(0)[0].isupper() and match.start() == 0 else 'the'} user " + adverb + (
            _third_person_verb(verb) if verb else "")

    parts = re.split(r"(\"[^\"]*\"|“[^”]*”)", text)
    for i in range(0, len(parts), 2):
        t = parts[i]
        t = re.sub(r"\bI\s*('m|'ve|am|have)\b", lambda m: "the user " + _IRREGULAR[m.group(1)], t)
        t = re.sub(r"\b(I) ((?:only|also|just|really|always|never|usually|often|still|already) )?(\w+)", subject, t)
        t = re.sub(r"\bI\b", "the user", t)
        t = re.sub(r"\b(me|myself)\b", "the user", t, flags=re.I)
        t = re.sub(r"\b(my|mine)\b", lambda m: "their" if "the user" in m.string[:m.start()].lower()
                   else "the user's", t, flags=re.I)
        t = re.sub(r"\b(?:we|We) (are|were|have|need|want)\b", lambda m: "the user " + {
            "are": "is", "were": "was", "have": "has", "need": "needs", "want": "wants"}[m.group(1)], t)
        t = re.sub(r"\b(our|ours)\b", lambda m: "their" if "the user" in m.string[:m.start()].lower()
                   else "the user's", t, flags=re.I)
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
            return sentence, sentences[:index] + sentences[index + 1:]
    return sentences[0], sentences[1:]


def imperative_task(idea: str, kind: Kind) -> str:
    """The idea's request as an imperative instruction, keeping its words and `{variables}`."""
    sentence, _rest = task_sentence(idea)
    asks = not _LEADING.match(sentence).group(0).strip()  # "can you explain DNS?" is a request, not a question
    if asks and (sentence.rstrip().endswith("?") or _QUESTION.match(sentence)):
        question = third_person(sentence.strip().rstrip(" .!?"))
        return f"Answer the user's question: {question[0].lower() + question[1:]}?"
    helped = re.match(r"^\s*(?:please\s+)?help me\s+(?:to\s+)?(.*)$", sentence, re.I | re.S)
    if helped:  # "help me plan my week": the model helps the user
        return third_person(f"Help the user {helped.group(1).rstrip(' .!?;:')}") + "."
    first = strip_lead(sentence).rstrip(" .!?;:")
    words = first.split()
    if not words:
        return ""
    lead = words[0].lower().strip(",")
    if lead in _VERBS:
        text = first[0].upper() + first[1:]
    elif lead in ("i", "i'm", "we", "we're", "my", "our"):
        ing = re.match(r"^(?:i am|i'm|we are|we're)\s+(\w+ing)\b\s*(.*)$", first, re.I)
        text = (f"Help the user with {ing.group(1)} {ing.group(2)}".rstrip() if ing
                else f"Help the user with this: {third_person(first)}")
    else:
        article = "" if lead in ("a", "an", "the") or first[0] == "{" else ("an " if lead[0] in "aeiou" else "a ")
        text = f"{kind.verb} {article}{first}"
    return third_person(text) + "."


def idea_details(idea: str) -> list[str]:
    """The idea's other sentences: the user's own requirements and situation, kept (in the third person)."""
    _sentence, rest = task_sentence(idea)
    out = []
    for s in rest:
        s = third_person(s.strip())
        if s:
            out.append(s[0].upper() + s[1:] if s[0].islower() else s)
    return out[:8]


#: Who reads a kind of deliverable, when the idea names the deliverable but not its audience.
_DELIVERABLE_AUDIENCE = (
    ("cover letter", "the hiring manager who reads the application"),
    ("resume", "recruiters and hiring managers"), ("cv", "recruiters and hiring managers"),
    ("job posting", "candidates considering the job"), ("job description", "candidates considering the job"),
    ("newsletter", "the newsletter's subscribers"), ("blog", "the blog's readers"),
    ("product description", "shoppers deciding whether to buy"), ("landing page", "potential customers"),
    ("ad", "potential customers"), ("press release", "journalists and the public"),
    ("speech", "the people listening to the speech"), ("toast", "the guests at the event"),
    ("linkedin", "professional contacts on LinkedIn"), ("tweet", "followers on social media"),
    ("proposal", "the decision makers who review the proposal"), ("grant", "the grant reviewers"),
    ("email", "the person who receives the email"), ("story", "readers of the story"),
    ("bedtime story", "a child at bedtime"), ("poem", "readers of the poem"),
    ("documentation", "developers who use the software"), ("readme", "developers who use the project"),
    ("lesson", "the students in the class"), ("quiz", "the students taking the quiz"),
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


def format_from_idea(idea: str) -> str | None:
    lowered = idea.lower()
    for cue, form in _FORMAT_CUES:
        if re.search(rf"\b{re.escape(cue)}s?\b", lowered):
            return form
    return None


def audience_from_idea(idea: str) -> str | None:
    """Who the result is for: named in the idea ("for beginners"), else implied by the deliverable."""
    match = _AUDIENCE.search(idea)
    if match:
        return match.group(1).strip()
    lowered = idea.lower()
    for cue, audience in sorted(_DELIVERABLE_AUDIENCE, key=lambda item: -len(item[0])):
        if re.search(rf"\b{re.escape(cue)}s?\b", lowered):
            return audience
    return None


_MATERIAL_NAMES = (
    ("code", ("code", "function", "script", "program", "pull request", "diff", "snippet", "repository")),
    ("transcript", ("transcript", "meeting", "call", "interview")),
    ("email", ("email", "e-mail", "inbox")),
    ("resume", ("resume", "résumé", "cv")),
    ("contract", ("contract", "agreement", "terms")),
    ("data", ("data", "dataset", "csv", "spreadsheet", "table", "numbers", "logs", "log")),
    ("article", ("article", "paper", "essay", "post", "blog")),
    ("reviews", ("reviews", "feedback", "comments", "tickets", "tweets")),
)


def material_variable(idea: str, kind: Kind) -> str | None:
    """For tasks that work on the user's material (review, summarize, extract, ...), the variable that holds it."""
    if not kind.material:
        return None
    lowered = idea.lower()
    for name, cues in _MATERIAL_NAMES:
        if any(re.search(rf"\b{re.escape(c)}\b", lowered) for c in cues):
            return name
    return None if kind.name == "analyze" else "text"


#: A creative piece (a poem, a song, a story) is written, but not to a letter's shape or a report's caution.
_CREATIVE = re.compile(r"\b(poem|poems|poetry|haiku|sonnet|limerick|lyrics|song|ballad|verse|rhyme|story|stories|"
                       r"tale|fable|fairy tale)\b", re.I)
_CREATIVE_CONSTRAINTS = ("Use concrete images and sensory details instead of generic filler.",
                         "Keep any form that was asked for (length, rhyme, meter); otherwise choose one that suits "
                         "the subject and the reader.")
_CREATIVE_EXAMPLE = ("Title: a few words.\nThe piece: short stanzas or paragraphs built on concrete images.\n"
                     "Nothing after it: no notes or explanation.")


def rule_spec(idea: str, kind: Kind, persona_guidance: str = "") -> PromptSpec:
    """A complete spec from rules alone: the floor that model fields improve on."""
    idea_vars = sorted(variables(idea), key=idea.find)
    inputs = list(idea_vars)
    material = material_variable(idea, kind) if not idea_vars else None
    if material:
        inputs.append(material)
    audience = audience_from_idea(idea)
    details = idea_details(idea)
    form = format_from_idea(idea)
    requirements = list(kind.requirements)
    if persona_guidance:
        requirements.append(persona_guidance.strip())
    sources = {"role": "rule", "task": "rule", "audience": "idea" if audience else "rule",
               "inputs": "idea" if idea_vars else ("rule" if material else "idea"),
               "requirements": "rule", "constraints": "rule", "output_format": "idea" if form else "rule",
               "success_criteria": "rule", "open_questions": "rule"}
    if details:
        sources["context"] = "idea"
    constraints, example = list(kind.constraints), kind.example
    if kind.name == "write" and _CREATIVE.search(idea):
        constraints, example = list(_CREATIVE_CONSTRAINTS), _CREATIVE_EXAMPLE
    return PromptSpec(
        kind=kind.name, role=kind.role, task=imperative_task(idea, kind), audience=audience or kind.audience,
        inputs=inputs, context=details, requirements=requirements, constraints=constraints,
        output_format=form or kind.output_format, success_criteria=list(kind.success), open_questions=list(kind.questions),
        steps=list(kind.steps), example=example, sources=sources)
