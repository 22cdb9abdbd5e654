"""Target-model adaptation: the final prompt is rendered in the form its target model reads best.

Claude gets XML-tagged sections, GPT-style and Gemini models get Markdown sections, anything else plain
`SECTION:` blocks. The sections are parsed from the final phase's output, so the form changes whatever the
generating model produced.
"""

from __future__ import annotations

import re

SECTION_ORDER = ["Role", "Task", "Context", "Requirements", "Constraints", "Examples", "Output format"]
_SYNONYMS = {
    "role": "Role",
    "persona": "Role",
    "task": "Task",
    "goal": "Task",
    "objective": "Task",
    "instructions": "Task",
    "context": "Context",
    "background": "Context",
    "audience": "Context",
    "requirements": "Requirements",
    "constraints": "Constraints",
    "rules": "Constraints",
    "limits": "Constraints",
    "example": "Examples",
    "examples": "Examples",
    "output format": "Output format",
    "output": "Output format",
    "format": "Output format",
    "response format": "Output format",
}
_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*|<)?\**\s*("
    + "|".join(sorted(map(re.escape, _SYNONYMS), key=len, reverse=True))
    + r")\s*\**\s*(?::|>|\*\*:|:\*\*)?\s*\**\s*(.*)$",
    re.I,
)
_CLOSE_TAG = re.compile(r"^\s*</[a-z_ ]+>\s*$", re.I)

FAMILY_INSTRUCTIONS = {
    "claude": "The prompt is for Claude: it will be delivered with each section wrapped in XML tags.\n",
    "gpt": "The prompt is for a GPT model: it will be delivered with Markdown section headings.\n",
    "gemini": "The prompt is for Gemini: it will be delivered with Markdown section headings.\n",
    "plain": "",
}


def target_family(target_model: str | None) -> str | None:
    if not target_model:
        return None
    m = target_model.lower()
    if "claude" in m or "anthropic" in m:
        return "claude"
    if m.startswith(("gpt", "chatgpt", "o1", "o3", "o4", "openai")):
        return "gpt"
    if "gemini" in m or "gemma" in m:
        return "gemini"
    return "plain"


def parse_sections(text: str) -> dict[str, str]:
    """Split text into canonical sections; text before any heading belongs to Task."""
    sections: dict[str, list[str]] = {}
    current = "Task"
    for line in text.splitlines():
        if _CLOSE_TAG.match(line):
            continue
        match = _HEADING.match(line)
        if match and (
            match.group(2).strip() or line.rstrip().endswith((":", "**", ">")) or line.lstrip().startswith("#")
        ):
            current = _SYNONYMS[match.group(1).lower()]
            rest = match.group(2).strip().strip("*").strip()
            sections.setdefault(current, [])
            if rest:
                sections[current].append(rest)
            continue
        sections.setdefault(current, []).append(line)
    out = {}
    for name in SECTION_ORDER:
        body = "\n".join(sections.get(name, [])).strip()
        if body:
            out[name] = body
    return out


def render_for_target(text: str, family: str | None) -> str:
    if family is None:
        return text
    return render_sections(parse_sections(text) or {"Task": text.strip()}, family)


def render_sections(sections: dict[str, str], family: str | None) -> str:
    """Named sections in the target's form: XML tags (claude), Markdown headings (gpt, gemini), or plain
    `SECTION:` blocks (any other model, or none named)."""
    if family == "claude":
        return "\n\n".join(
            f"<{n.lower().replace(' ', '_')}>\n{b}\n</{n.lower().replace(' ', '_')}>" for n, b in sections.items()
        )
    if family in ("gpt", "gemini"):
        return "\n\n".join(f"## {n}\n{b}" for n, b in sections.items())
    return "\n\n".join(f"{n.upper()}:\n{b}" for n, b in sections.items())
