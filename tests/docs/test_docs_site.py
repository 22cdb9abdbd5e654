"""The documentation a newcomer finds: a short README whose links work, a site that builds with no warning and whose
CLI reference lists every command, a licence that matches the package metadata, and a changelog in Keep a
Changelog form."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(markdown: str) -> list[str]:
    """Every link and image target that is not a URL or an in-page anchor, without its #fragment."""
    targets = []
    in_fence = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if in_fence:
            continue
        for match in LINK.finditer(line):
            target = match.group(1) or match.group(2)
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            targets.append(target.split("#", 1)[0])
    return targets


def _cli_reference_hook():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "hooks" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_links_resolve_to_files() -> None:
    targets = _relative_links(README.read_text(encoding="utf-8"))
    assert len(targets) >= 10  # the link extraction works: the README links its documentation pages
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == [], f"README.md links to files that do not exist: {missing}"


def test_readme_keeps_the_two_command_quick_start_and_names_the_platforms() -> None:
    text = README.read_text(encoding="utf-8")
    assert 'make generate IDEA="' in text and "make test" in text
    assert "Linux x86-64" in text and "macOS" in text and "Windows" in text
    assert "not measured offline" in text


def test_link_extraction_finds_relative_targets_only() -> None:
    sample = "[a](docs/x.md#part) ![img](docs/y.png) [web](https://e.org) [here](#top)\n```\n[code](no.md)\n```\n"
    assert _relative_links(sample) == ["docs/x.md", "docs/y.png"]


def test_every_docs_page_is_in_the_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    missing = [page for page in pages if f": {page}" not in config]
    assert missing == [], f"pages missing from mkdocs.yml nav: {missing}"


def test_cli_reference_lists_commands_from_the_typer_app() -> None:
    hook = _cli_reference_hook()
    paths = hook.command_paths()
    for expected in ("prompt-alchemy generate", "prompt-alchemy db backup", "prompt-alchemy label set"):
        assert expected in paths
    page = hook.render()
    assert all(f"`{path}`" in page for path in paths)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == []
    return site


def test_mkdocs_strict_build_passes(built_site: Path) -> None:
    for page in ("index.html", "cli/index.html", "configuration/index.html", "architecture/index.html"):
        assert (built_site / page).is_file(), page


def test_built_cli_reference_has_every_command(built_site: Path) -> None:
    html = (built_site / "cli" / "index.html").read_text(encoding="utf-8")
    missing = [path for path in _cli_reference_hook().command_paths() if f"<code>{path}</code>" not in html]
    assert missing == [], f"commands missing from the built CLI reference: {missing}"


def test_architecture_and_changelog_pages_include_the_root_files(built_site: Path) -> None:
    architecture = (built_site / "architecture" / "index.html").read_text(encoding="utf-8")
    assert "Where each feature lives" in architecture  # a heading of ARCHITECTURE.md
    changelog = (built_site / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Unreleased" in changelog


def test_license_matches_the_package_metadata() -> None:
    metadata = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert metadata["license"] == "MIT"
    assert license_text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in license_text
    assert re.search(r"^Copyright \(c\) \d{4} Prompt Alchemy contributors$", license_text, re.MULTILINE)


KEEP_A_CHANGELOG_SECTIONS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_changelog_follows_keep_a_changelog() -> None:
    lines = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# Changelog"
    releases = [line for line in lines if line.startswith("## ")]
    assert releases[0] == "## [Unreleased]"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert any(line.startswith(f"## [{version}] - ") for line in releases), f"no section for {version}"
    for line in releases[1:]:
        assert re.fullmatch(r"## \[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", line), line
    sections = [line[4:] for line in lines if line.startswith("### ")]
    assert sections and set(sections) <= KEEP_A_CHANGELOG_SECTIONS, sections
    # every release has at least one entry under a section
    body = "\n".join(lines)
    for chunk in body.split("\n## ")[1:]:
        assert "\n### " in chunk and "\n- " in chunk, chunk.splitlines()[0]
