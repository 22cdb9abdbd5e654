"""Pinned dependencies: every requirement in pyproject.toml (dependencies and every extra) has an exact pin in the
constraints file that setup, CI and `prompt-alchemy local install` install with, and the pin satisfies the
requirement; the file ships in the package."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from prompt_alchemy.localstack import LLAMA_PACKAGE, MODEL_PACKAGES, canonical, constraints_path, pins

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    raw = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in raw]


def test_every_pyproject_requirement_is_pinned_and_satisfied():
    pinned = pins()
    unpinned = [str(r) for r in _requirements() if canonical(r.name) not in pinned]
    assert not unpinned, f"not in {constraints_path().name} (run 'make lock'): {unpinned}"
    outside = [
        f"{r} (pinned {pinned[canonical(r.name)]})"
        for r in _requirements()
        if not r.specifier.contains(Version(pinned[canonical(r.name)]), prereleases=True)
    ]
    assert not outside, f"pins outside pyproject's ranges (run 'make lock'): {outside}"


def test_every_line_is_an_exact_pin():
    for line in constraints_path().read_text().splitlines():
        body = line.split("#", 1)[0].strip()
        if body:
            name, _, version = body.partition("==")
            assert name and version and not any(c in version for c in "<>=~!*, "), line


def test_the_local_stack_versions_come_from_the_constraints():
    pinned = pins()
    assert all(name in pinned for name in MODEL_PACKAGES)
    llama = [r for r in _requirements() if canonical(r.name) == LLAMA_PACKAGE]
    assert llama and all(r.specifier.contains(pinned[LLAMA_PACKAGE]) for r in llama)


def test_the_constraints_ship_in_the_package_and_setup_and_ci_use_them():
    relative = constraints_path().relative_to(ROOT / "src")
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(Path(relative).relative_to("prompt_alchemy").match(p) for p in package_data["prompt_alchemy"])
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert '-c "$CONSTRAINTS"' in setup and "CONSTRAINTS=src/prompt_alchemy/data/constraints.txt" in setup
    assert "setup-dev" in (ROOT / ".ci" / "run").read_text()
