"""The web viewer in a real headless browser: Debian's Chromium driven by Playwright's Python package, against the
real `prompt-alchemy view` process on 127.0.0.1. Search, open a prompt, fill its variables and copy, rate it and see
the rating, diff two versions, see the lineage graph, watch a generation's phases. Screenshots are saved as test
artefacts (and copied to docs/ when UPDATE_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import ROOT, parse_json

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCRIPTED = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}

ROWS = [
    {
        "id": "aaaa0001-idea",
        "title": "Release notes (idea)",
        "phase": "prima-materia",
        "content": "Goal: release notes for {product}. Audience: users. Output: bullet list.",
    },
    {
        "id": "aaaa0002-human",
        "title": "Release notes (human)",
        "phase": "solutio",
        "parent_id": "aaaa0001-idea",
        "content": "Please write friendly release notes for {product} that users can skim.",
    },
    {
        "id": "aaaa0003-final",
        "title": "Release notes writer",
        "phase": "coagulatio",
        "parent_id": "aaaa0002-human",
        "content": "You are a technical writer. Write release notes for {product} version {{version}} from the "
        "changes below. Use at most 5 bullet points, each starting with a verb.\n\nChanges:\n{changes}",
    },
    {"id": "bbbb0001-other", "title": "Meal planner", "content": "Plan a week of vegetarian dinners for {people}."},
]


def _browser_or_skip():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium when run as root")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing (pip install -e '.[dev]')")
    return sync_playwright


@pytest.fixture
def viewer(cli, tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    assert parse_json(cli("import", str(seed), "-o", "json"))["imported"] == 4
    edited = parse_json(
        cli("update", "aaaa0003-final", "-o", "json", "--content", ROWS[2]["content"].replace("at most 5", "at most 7"))
    )
    assert cli("label", "set", edited["prompt"]["id"], "production").returncode == 0
    env = {**os.environ, **SCRIPTED}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prompt_alchemy", "view", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Prompt Alchemy viewer: http://127.0.0.1:"), (
            line,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        yield line.split(": ", 1)[1].strip(), edited["prompt"]["id"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(path, ROOT / "docs" / name)


def test_viewer_in_a_real_browser(viewer, tmp_path):
    sync_playwright = _browser_or_skip()
    url, latest = viewer
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            external: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(url) else external.append(r.url))
            page.goto(url)

            # search (hybrid, with a filter) and open a prompt
            page.fill("#q", "release notes writer")
            page.select_option("select[name=phase]", "coagulatio")
            page.click("#search-form button[type=submit]")
            page.wait_for_selector("#results li.result")
            titles = page.locator("#results li.result a.title").all_inner_texts()
            assert titles and all("Release notes writer" == t for t in titles), titles
            assert "Meal planner" not in page.inner_text("#results")
            page.locator("#results li.result", has_text=latest[:8]).locator("a.title").click()
            page.wait_for_selector("#content")
            assert latest in page.inner_text("#meta")
            assert page.locator("mark.var").all_inner_texts() == ["{product}", "{{version}}", "{changes}"]
            # a labelled prompt has a name now: its page shows the name's labels (production on this version)
            assert page.locator("#name-labels li[data-label=production]").count() == 1

            # fill the variables: a missing one is named, then the filled text
            page.fill("textarea[data-var=product]", "Alchemy")
            page.click("#fill-button")
            page.wait_for_selector("#fill-msg .error")
            assert "missing values for version, changes" in page.inner_text("#fill-msg")
            page.fill("textarea[data-var=version]", "2.0")
            page.fill("textarea[data-var=changes]", "- labels\n- a web viewer")
            page.click("#fill-button")
            page.wait_for_function("document.querySelector('#filled').value.length > 0")
            filled = page.input_value("#filled")
            assert filled.startswith("You are a technical writer. Write release notes for Alchemy version 2.0")
            assert filled.endswith("Changes:\n- labels\n- a web viewer")

            # rate it and see the rating
            page.fill("#rating-comment", "crisp")
            page.click("#stars button[data-star='4']")
            page.wait_for_function("document.querySelector('#rating-summary').textContent.includes('you rated 4')")
            assert "Average 4.0 from 1 rating(s)" in page.inner_text("#rating-summary")
            assert page.locator("#stars button.on").count() == 4

            # score components with their reasons
            page.wait_for_selector("#score table")
            assert page.locator("#score tbody tr").count() >= 5

            # the lineage graph: three ancestors above this version
            nodes = page.locator("#lineage g.node")
            assert nodes.count() == 4
            assert page.locator("#lineage g.node.current").get_attribute("data-id") == latest
            assert page.locator("#lineage path.edge").count() == 3
            _shot(page, tmp_path, "viewer.png")

            # diff the two versions
            page.click("#diff-button")
            page.wait_for_selector("#diff .add")
            assert "at most 7" in page.inner_text("#diff .add") and "at most 5" in page.inner_text("#diff .del")
            page.locator("#history").scroll_into_view_if_needed()
            _shot(page, tmp_path, "viewer-diff.png")

            # the rating is stored: a reload shows it
            page.reload()
            page.wait_for_selector("#rating-summary")
            assert "Average 4.0 from 1 rating(s)" in page.inner_text("#rating-summary")

            # a lineage node opens its prompt
            page.locator("#lineage a", has=page.locator("g[data-id='aaaa0001-idea']")).click()
            page.wait_for_function("location.hash === '#/prompt/aaaa0001-idea'")
            page.wait_for_selector("#lineage g.node.current[data-id='aaaa0001-idea']")

            # metrics and generate with live phase progress (scripted provider)
            page.goto(url + "#/generate")
            page.fill("#idea", "a haiku about version control")
            page.fill("input[name=count]", "2")
            page.click("#generate-button")
            page.wait_for_function(
                "document.querySelector('#job-status') && "
                "document.querySelector('#job-status').textContent.includes('done')",
                timeout=60_000,
            )
            assert page.locator("#progress .phase-row").count() == 3
            assert page.locator("#progress li").count() == 6
            page.goto(url + "#/metrics")
            page.wait_for_selector("#chart-days rect")
            assert page.locator("#chart-latency rect").count() >= 3
            _shot(page, tmp_path, "viewer-metrics.png")
            assert errors == [] and external == []
        finally:
            browser.close()
