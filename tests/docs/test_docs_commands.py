"""Everything the README, the documentation pages and the deployment files name exists in this version: each
`prompt-alchemy ...` command line (its subcommands and options, checked against the Typer app's command tree in
process), each dotted setting (`generation.embedding_provider`), each setting in a config.yaml example, and each
PROMPT_ALCHEMY_* variable (a setting, or one of the variables read before the configuration). A renamed command,
option or setting fails here instead of in a newcomer's terminal."""

from __future__ import annotations

import re
import shlex
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEPLOY_FILES = sorted(p for p in (ROOT / "deploy").rglob("*") if p.is_file())
PROG = "prompt-alchemy"
FENCE = re.compile(r"^\s*```")
INLINE = re.compile(r"`([^`\n]+)`")
#: A word that stands for a value the reader fills in: NAME, ID, <phase>, [OPTIONS], ...
PLACEHOLDER = re.compile(r"^(\.\.\.|…|[A-Z][A-Z0-9_]*(\.\.\.)?|<[^>]+>|\[[A-Z_ .]+\](\.\.\.)?)$")
#: Words before `prompt-alchemy` that still make it the command run: `docker compose exec server prompt-alchemy`,
#: `claude mcp add NAME -- prompt-alchemy serve`, `time prompt-alchemy`, `exec prompt-alchemy`.
RUNS_NEXT = {"--", "exec", "server", "time", "sudo", "nice"}


# ------------------------------------------------------------------------------------------------ command lines


@dataclass(frozen=True)
class Mention:
    file: str
    line: int
    argv: tuple[str, ...]  # the words after `prompt-alchemy`
    #: Inline code in prose without the program's name (`keys set`, `serve --transport http`); these may name an
    #: old spelling to say that it still works.
    short: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {PROG} {' '.join(self.argv)}"


def _words(text: str) -> list[list[str]]:
    """Shell words of `text`, split into simple commands at ; | && || > < and comments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote in prose: plain words
        tokens = text.split()
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token and set(token) <= set(";|&<>()"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def invocations(text: str) -> list[tuple[str, ...]]:
    """The argument lists of every `prompt-alchemy` run in a line of shell (also `.venv/bin/prompt-alchemy`)."""
    found = []
    for argv in _words(text):
        for i, word in enumerate(argv):
            if word.rsplit("/", 1)[-1] != PROG:
                continue
            before = argv[:i]
            if not before or before[-1] in RUNS_NEXT or all(re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", w) for w in before):
                found.append(tuple(argv[i + 1 :]))
            break
    return found


def _code_lines(path: Path) -> list[tuple[int, str, bool]]:
    """(line number, text, inside a fence) with backslash continuations joined."""
    out: list[tuple[int, str, bool]] = []
    in_fence = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence and line.rstrip().endswith("\\"):
            start, text = pending or (number, "")
            pending = (start, text + line.rstrip()[:-1] + " ")
            continue
        if pending:
            out.append((pending[0], pending[1] + line, in_fence))
            pending = None
        else:
            out.append((number, line, in_fence))
    return out


#: Inline code that starts like a command and is not one, with the reason.
NOT_COMMANDS = {"local model": "the name of a doctor check"}


def _short_form(code: str) -> tuple[str, ...] | None:
    """`db stats`, `serve --transport http`: a command without the program's name, in inline code in prose (a
    top-level command followed by an option, or a group followed by a word)."""
    words = code.split()
    commands = _root().commands
    if len(words) < 2 or words[0] not in commands or code in NOT_COMMANDS:
        return None
    if not (words[1].startswith("-") or hasattr(commands[words[0]], "commands")):
        return None
    try:
        return tuple(shlex.split(code))
    except ValueError:
        return tuple(words)


def mentions(path: Path) -> list[Mention]:
    """Every `prompt-alchemy ...` run in a Markdown file, in code blocks and in inline code in the prose, and the
    short forms in prose."""
    found = []
    name = path.relative_to(ROOT).as_posix()
    for number, line, in_fence in _code_lines(path):
        pieces = [line.strip().removeprefix("$ ")] if in_fence else INLINE.findall(line)
        for piece in pieces:
            if in_fence or re.match(rf"^(\S*/)?{PROG}\b", piece.strip()):
                found.extend(Mention(name, number, argv) for argv in invocations(piece))
            elif (short := _short_form(piece.strip())) is not None:
                found.append(Mention(name, number, short, short=True))
    return found


def problem(argv: tuple[str, ...], allow_hidden: bool = False) -> str | None:
    """Why `prompt-alchemy ARGV` names something the app does not have (or only under an old spelling hidden from
    --help, unless `allow_hidden`), or None when every word fits."""
    command = _root()
    path = [PROG]
    words = list(argv)
    while words:
        word = words.pop(0)
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            param = _options(command).get(name)
            if param is None and command.context_settings.get("ignore_unknown_options"):
                continue  # `use NAME -p VAR VALUE`: its arguments carry options of their own
            if param is None:
                return f"{' '.join(path)} has no option {name}"
            if "=" not in word and not (param.is_flag or param.count):
                del words[: param.nargs]
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            continue  # an argument of a command
        if PLACEHOLDER.match(word):
            return None  # `prompt-alchemy db COMMAND`: the reader picks one
        if word not in subcommands:
            return f"{' '.join(path)} has no command {word!r}"
        command = subcommands[word]
        path.append(word)
        if getattr(command, "hidden", False) and not allow_hidden:
            return f"{' '.join(path)} is hidden from --help (an old spelling kept for a release)"
    return None


@cache
def _root() -> Any:
    import typer

    from prompt_alchemy.cli import app

    return typer.main.get_command(app)


def _options(command: Any) -> dict[str, Any]:
    ctx = command.context_class(command, info_name=PROG)
    out = {}
    for param in command.get_params(ctx):
        if param.param_type_name == "option":
            for opt in (*param.opts, *param.secondary_opts):
                out[opt] = param
    return out


# ------------------------------------------------------------------------------------------------ settings


def _model_fields(model: Any) -> dict[str, Any]:
    """A settings model's keys, by name and by every alias the configuration accepts, with their types."""
    from pydantic import AliasChoices

    from prompt_alchemy.config import ProvidersConfig, _sections_model

    model = _sections_model() if model is ProvidersConfig else model
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        names = [name, field.alias]
        alias = field.validation_alias
        names += list(alias.choices) if isinstance(alias, AliasChoices) else [alias]
        for key in names:
            if isinstance(key, str):
                out[key] = field.annotation
    return out


def _branches(annotation: Any) -> list[Any]:
    """The models and mappings a type can hold (Optional and unions opened)."""
    from pydantic import BaseModel

    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [b for arg in typing.get_args(annotation) for b in _branches(arg)]
    if typing.get_origin(annotation) in (dict, typing.get_origin(typing.Mapping[str, str])):
        return [annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def setting_exists(parts: list[str], node: Any = None) -> bool:
    """Whether a dotted setting path exists; a placeholder part (<phase>, NAME, *) matches any key."""
    from prompt_alchemy.config import Settings

    if not parts:
        return True
    part, rest = parts[0], parts[1:]
    wildcard = bool(PLACEHOLDER.match(part)) or part == "*"
    for branch in _branches(Settings if node is None else node):
        if typing.get_origin(branch) is dict:
            if setting_exists(rest, typing.get_args(branch)[1]) if rest else True:
                return True
            continue
        fields = _model_fields(branch)
        keys = list(fields) if wildcard else [part, part.replace("-", "_")]
        if any(key in fields and setting_exists(rest, fields[key]) for key in keys):
            return True
    return False


@cache
def _sections() -> tuple[str, ...]:
    from prompt_alchemy.config import Settings

    return tuple(Settings.model_fields)


def dotted_settings(path: Path) -> list[tuple[int, str]]:
    """Inline-code dotted names whose first part is a settings section: `server.port`, `phases.<phase>.model`."""
    found = []
    pattern = re.compile(rf"^({'|'.join(_sections())})(\.[A-Za-z0-9_<>*-]+)+$")
    for number, line, in_fence in _code_lines(path):
        if in_fence:
            continue
        for code in INLINE.findall(line):
            code = code.strip()
            if pattern.match(code) and not re.search(r"\.(py|md|json|ya?ml|html|txt|db|toml)$", code):
                found.append((number, code))
    return found


def yaml_examples(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Fenced YAML blocks that are config files: every top-level key is a settings section."""
    blocks: list[tuple[int, dict[str, Any]]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if re.match(r"^\s*```ya?ml\s*$", lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if FENCE.match(lines[j]))
            try:
                data = yaml.safe_load("\n".join(lines[i + 1 : end]))
            except yaml.YAMLError:
                data = None
            if isinstance(data, dict) and data and set(data) <= set(_sections()):
                blocks.append((i + 1, data))
            i = end
        i += 1
    return blocks


def _leaf_paths(data: Any, prefix: list[str]) -> list[list[str]]:
    if not isinstance(data, dict) or not data:
        return [prefix]
    return [p for key, value in data.items() for p in _leaf_paths(value, [*prefix, str(key)])]


ENV = re.compile(r"\bPROMPT_ALCHEMY_[A-Z0-9_]*[A-Z0-9]\b")


def variable_problem(var: str, retired_ok: bool) -> str | None:
    """Why a PROMPT_ALCHEMY_* variable is read by nothing, or None."""
    from prompt_alchemy.config import _RESERVED_ENV, _RETIRED_ENV, ENV_PREFIX

    if var in _RESERVED_ENV:
        return None
    if var in _RETIRED_ENV:
        return None if retired_ok else f"{var}: nothing reads it ({_RETIRED_ENV[var]})"
    parts = [p.lower() for p in var[len(ENV_PREFIX) :].split("__") if p]
    return None if setting_exists(parts) else f"{var}: no setting {'.'.join(parts)}"


# ------------------------------------------------------------------------------------------------ the checks


def _all_mentions() -> list[Mention]:
    return [m for path in DOC_FILES for m in mentions(path)]


def test_the_extraction_finds_the_commands_the_docs_show():
    found = {" ".join(m.argv[:2]) for m in _all_mentions()}
    assert len(_all_mentions()) > 100  # the docs show many commands; the extraction reads them
    for expected in ("generate --count", "keys set", "local install", "api-keys create", "serve --transport", "db"):
        assert any(f.startswith(expected) for f in found), expected
    short = {" ".join(m.argv) for m in _all_mentions() if m.short}
    assert {"config show", "db stats", "keys create"} <= short


def test_every_command_in_the_readme_and_docs_exists():
    problems = [f"{m}: {p}" for m in _all_mentions() if (p := problem(m.argv, allow_hidden=m.short))]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    "line,expected",
    [
        ("prompt-alchemy generate --count 2 --persona writing 'x'", None),
        ("echo idea | .venv/bin/prompt-alchemy generate --output json > out.json", None),
        ("prompt-alchemy --config c.yaml db backup;  prompt-alchemy db stats", None),
        ("docker compose exec server prompt-alchemy api-keys create --name a --scope write", None),
        ("claude mcp add prompt-alchemy -- /p/.venv/bin/prompt-alchemy serve", None),
        ("prompt-alchemy use production -p topic 'release notes' -p diff @changes.diff --raw", None),
        ("prompt-alchemy label set NAME production --copy-nothing", "label set has no option --copy-nothing"),
        ("prompt-alchemy keys add openai", "keys has no command 'add'"),
        ("prompt-alchemy keys create --name alice --scope write", "keys create is hidden from --help"),
        ("prompt-alchemy generate --counts 2 'x'", "generate has no option --counts"),
        ("prompt-alchemy serve --transport http --hostname 0.0.0.0", "serve has no option --hostname"),
        ("prompt-alchemy db COMMAND --help", None),
        ("pipx install prompt-alchemy", None),  # not a run of prompt-alchemy
    ],
)
def test_the_command_check_finds_what_does_not_exist(line, expected):
    found = [problem(argv) for argv in invocations(line)]
    if expected is None:
        assert all(p is None for p in found), found
    else:
        assert any(p and expected in p for p in found), found
    if line.startswith("pipx"):
        assert found == []


def test_short_forms_in_prose_are_checked_too():
    assert _short_form("db stats") == ("db", "stats")
    assert _short_form("serve --transport http") == ("serve", "--transport", "http")
    assert _short_form("generate") is None and _short_form("use it") is None and _short_form("local model") is None
    assert problem(("db", "stat")) == "prompt-alchemy db has no command 'stat'"
    assert problem(("keys", "create"), allow_hidden=True) is None


#: Dotted names in the docs that look like settings and are not, each for a reason the page gives.
NOT_SETTINGS = {
    "server.address": "an OpenTelemetry span attribute (docs/tracing.md)",
    "providers.mine": "the section of the plugin that docs/providers.md writes as an example",
}


def test_every_dotted_setting_in_the_docs_exists():
    from prompt_alchemy.config import LEGACY_KEYS  # the design document's names, still read, with a note

    named = [(path, number, code) for path in DOC_FILES for number, code in dotted_settings(path)]
    assert len(named) > 30
    missing = [
        f"{p.relative_to(ROOT)}:{n}: {code}"
        for p, n, code in named
        if not setting_exists(code.split(".")) and code not in NOT_SETTINGS and code not in LEGACY_KEYS
    ]
    assert missing == [], "\n".join(missing)


def test_every_setting_in_the_docs_config_examples_exists():
    examples = [(path, number, data) for path in DOC_FILES for number, data in yaml_examples(path)]
    assert len(examples) >= 3
    missing = [
        f"{p.relative_to(ROOT)}:{n}: {'.'.join(leaf)}"
        for p, n, data in examples
        for leaf in _leaf_paths(data, [])
        if not setting_exists(leaf)
    ]
    assert missing == [], "\n".join(missing)


@pytest.mark.parametrize(
    "dotted,exists",
    [
        ("generation.embedding_provider", True),
        ("generation.embeding_provider", False),
        ("phases.<phase>.temperature", True),
        ("phases.prima-materia.fallbacks", True),
        ("providers.local.model_path", True),
        ("providers.openai.n_ctx", False),
        ("server.port", True),
        ("server.port.number", False),
        ("personas.NAME.system_prompt", True),
    ],
)
def test_the_setting_check_tells_real_settings_from_others(dotted, exists):
    assert setting_exists(dotted.split(".")) is exists


def test_every_variable_in_the_docs_is_read():
    problems = [
        f"{path.relative_to(ROOT)}: {p}"
        for path in DOC_FILES
        for var in sorted(set(ENV.findall(path.read_text(encoding="utf-8"))))
        if (p := variable_problem(var, retired_ok=True))
    ]
    assert problems == [], "\n".join(problems)


def test_every_variable_in_the_deployment_files_is_read():
    seen = {var for path in DEPLOY_FILES for var in ENV.findall(path.read_text(encoding="utf-8"))}
    assert {"PROMPT_ALCHEMY_HOME", "PROMPT_ALCHEMY_DATABASE_URL", "PROMPT_ALCHEMY_SERVER__ALLOWED_HOSTS"} <= seen
    problems = [p for var in sorted(seen) if (p := variable_problem(var, retired_ok=False))]
    assert problems == [], "\n".join(problems)


def test_the_variable_check_finds_unread_ones():
    assert variable_problem("PROMPT_ALCHEMY_ADMIN_KEY", retired_ok=False)
    assert variable_problem("PROMPT_ALCHEMY_SERVER__HOSTNAME", retired_ok=True)
    assert variable_problem("PROMPT_ALCHEMY_SERVER__PORT", retired_ok=False) is None
    assert variable_problem("PROMPT_ALCHEMY_WHEEL_CACHE", retired_ok=False) is None


# ------------------------------------------------------------------------------------------------ where files live


def _documented_paths() -> dict[str, list[str]]:
    """The deployment page's table of where files live: platform -> [config file, data dir, cache dir]."""
    rows = {}
    for line in (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in ("Linux", "macOS", "Windows"):
            rows[cells[0]] = [re.match(r"`([^`]+)`", c).group(1) for c in cells[1:]]  # type: ignore[union-attr]
    return rows


def test_the_documented_paths_are_the_ones_platformdirs_gives(monkeypatch):
    """Each platform's row, computed with the arguments prompt-alchemy passes (config.resolve_paths: no app
    author directory) by platformdirs' own class for that platform."""
    import platformdirs.windows
    from platformdirs.macos import MacOS
    from platformdirs.unix import Unix

    monkeypatch.setattr(platformdirs.windows, "get_win_folder", lambda csidl: r"%LOCALAPPDATA%")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    home = str(Path.home())
    rows = _documented_paths()
    assert set(rows) == {"Linux", "macOS", "Windows"}
    for name, cls, sep in (
        ("Linux", Unix, "/"),
        ("macOS", MacOS, "/"),
        ("Windows", platformdirs.windows.Windows, "\\"),
    ):
        dirs = cls("prompt-alchemy", appauthor=False)
        expected = [dirs.user_config_dir + sep + "config.yaml", dirs.user_data_dir + sep, dirs.user_cache_dir + sep]
        expected = [p.replace(home, "~", 1) for p in expected]
        if sep == "\\":  # platformdirs joins with this machine's os.path.join
            expected = [p.replace("/", sep) for p in expected]
        assert rows[name] == expected, name


def test_the_code_asks_platformdirs_for_no_app_author_directory():
    source = (ROOT / "src" / "prompt_alchemy" / "config.py").read_text(encoding="utf-8")
    calls = re.findall(r"platformdirs\.user_\w+_dir\(([^)]*)\)", source)
    assert len(calls) == 3 and all(c == '"prompt-alchemy", appauthor=False' for c in calls), calls
