"""Cross-site attacks on the viewer, replayed in a real browser (Debian's Chromium through Playwright) against a
real `prompt-alchemy view` process:

- a hostile page on another origin (127.0.0.1, another port) tries a `text/plain` form POST that records a rating,
  a `no-cors` fetch that moves the `production` label, a POST to /api/generate (which would spend provider budget),
  and a CORS read of /api/search;
- a DNS-rebinding page (its name mapped to 127.0.0.1 by the browser's resolver rules, so its requests reach the
  viewer with `Host: evil.example:<port>`) reads /api/search from its own origin;
- the viewer's own page, on a prompt imported with a crafted id (`cccc0001/../bbbb0001-other/rate?`), rates it: the
  id is percent-encoded, so the rating cannot land on another prompt.

The test fails if anything is written to the library or read by a foreign page."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from viewer_kit import OTHER, TARGET

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
    "--host-resolver-rules=MAP evil.example 127.0.0.1",
]
SECRET_WORDS = ("Release notes writer", "Meal planner", TARGET, OTHER)

HOSTILE = """<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="rate" method="POST" enctype="text/plain" target="sink" action="{viewer}/api/prompts/{target}/rate">
  <input name='{{"rating": 1, "comment": "cross-site", "pad": "' value='"}}'>
</form>
<form id="gen" method="POST" enctype="text/plain" target="sink2" action="{viewer}/api/generate">
  <input name='{{"idea": "spend the provider budget", "count": 1, "pad": "' value='"}}'>
</form>
<iframe name="sink2" id="sink2"></iframe>
<script>
const V = "{viewer}";
const results = {{}};
const submitted = (form, frame) => new Promise(done => {{
  document.getElementById(frame).addEventListener("load", done, {{ once: true }});
  document.getElementById(form).submit();
}});
async function attack() {{
  await submitted("rate", "sink");
  results.form_rate = "sent";
  await submitted("gen", "sink2");
  results.form_generate = "sent";
  for (const [name, path, body] of [
      ["label", "/api/prompts/{other}/labels", {{ name: "production" }}],
      ["rate", "/api/prompts/{target}/rate", {{ rating: 2, comment: "no-cors" }}],
      ["generate", "/api/generate", {{ idea: "spend the provider budget", count: 1 }}]]) {{
    try {{
      await fetch(V + path, {{ method: "POST", mode: "no-cors", headers: {{ "content-type": "text/plain" }},
                              body: JSON.stringify(body) }});
      results["no_cors_" + name] = "sent";
    }} catch (e) {{ results["no_cors_" + name] = "error " + e; }}
  }}
  try {{
    await fetch(V + "/api/labels/production", {{ method: "DELETE", mode: "no-cors" }});
    results.no_cors_delete = "sent";
  }} catch (e) {{ results.no_cors_delete = "error " + e; }}
  try {{  // a CORS write with the custom header: the preflight is never granted
    await fetch(V + "/api/prompts/{target}/rate", {{ method: "POST", headers: {{ "content-type": "application/json",
      "x-prompt-alchemy": "1" }}, body: JSON.stringify({{ rating: 3 }}) }});
    results.cors_rate = "answered";
  }} catch (e) {{ results.cors_rate = "blocked"; }}
  try {{
    results.read = await (await fetch(V + "/api/search?limit=100")).text();
  }} catch (e) {{ results.read = "blocked"; }}
  window.results = results;
  document.title = "done";
}}
attack();
</script></body></html>"""


def _chromium_or_skip():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium when run as root")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing (pip install -e '.[dev]')")
    return sync_playwright


class _Hostile:
    """A page server on 127.0.0.1 (another port: another origin) that serves the attack page."""

    def __init__(self, page: str) -> None:
        body = page.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _library(viewer) -> dict:
    """What the library holds that the attacks could change: ratings, labels and their history, prompt ids."""
    labels = viewer.get("/api/labels")
    return {
        "ratings": {ref: viewer.ratings(ref) for ref in (TARGET, OTHER)},
        "labels": [(label["name"], label["prompt_id"]) for label in labels["labels"]],
        "history": len(labels["history"]),
        "prompts": viewer.prompt_ids(),
    }


def _generate_and_wait(viewer) -> None:
    """A generation from the viewer's own origin, to completion: any generation a foreign page started before it
    has run alongside it (same scripted provider) and written its prompts by then."""
    with viewer.client() as client:
        job = client.post("/api/generate", json={"idea": "a haiku about locks", "count": 1}).json()["job"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = client.get(f"/api/generate/{job}").json()["status"]
            if status != "running":
                assert status == "done"
                return
            time.sleep(0.2)
    raise AssertionError("the viewer's own generation did not finish")


def test_a_cross_site_page_writes_nothing_and_reads_nothing(viewer):
    sync_playwright = _chromium_or_skip()
    before = _library(viewer)
    hostile = _Hostile(HOSTILE.format(viewer=viewer.origin, target=TARGET, other=OTHER))
    holes: list[str] = []  # every attack that worked, so a failure names them all
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_context().new_page()
                page.goto(hostile.url)
                page.wait_for_function("document.title === 'done'", timeout=60_000)
                results = page.evaluate("window.results")
                assert results["form_rate"] == "sent" and results["no_cors_label"] == "sent", results
                if results["cors_rate"] != "blocked" or results["read"] != "blocked":
                    holes.append(f"a CORS request was answered: {results}")

                # DNS rebinding: the attacker's name now points at 127.0.0.1, the viewer's port, its own origin
                rebound = f"http://evil.example:{viewer.port}"
                response = page.goto(rebound + "/")
                if response is None or response.status != 421:
                    holes.append(f"the page was served to Host evil.example ({response and response.status})")
                read = page.evaluate(
                    "fetch('/api/search?limit=100').then(async r => r.status + ' ' + " "await r.text())"
                )
                leaked = [word for word in SECRET_WORDS if word in read + page.content()]
                if not read.startswith("421 ") or leaked:
                    holes.append(f"a rebound page read /api/search: {read[:80]!r}, leaking {leaked}")
            finally:
                browser.close()
    finally:
        hostile.close()
    _generate_and_wait(viewer)
    after = _library(viewer)
    if after["ratings"] != before["ratings"]:
        holes.append(f"ratings recorded: {after['ratings']}")
    if after["labels"] != before["labels"] or after["history"] != before["history"]:
        holes.append(f"labels changed: {after['labels']} ({after['history'] - before['history']} history rows)")
    foreign = [
        i
        for i in after["prompts"] - before["prompts"]
        if "spend the provider budget" in (viewer.get(f"/api/prompts/{i}")["prompt"]["original_input"] or "")
    ]
    if foreign:
        holes.append(f"a foreign page started a generation: {len(foreign)} prompts")
    assert holes == [], "\n".join(holes)


def test_the_page_encodes_a_crafted_id_so_its_rating_cannot_land_elsewhere(viewer):
    """The crafted id `cccc0001/../bbbb0001-other/rate?`, unencoded in `/api/prompts/<id>/rate`, would become
    `/api/prompts/bbbb0001-other/rate` and rate another prompt."""
    sync_playwright = _chromium_or_skip()
    before = viewer.ratings(OTHER)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context().new_page()
            sent: list[str] = []
            page.on("request", lambda r: sent.append(r.url) if "/api/" in r.url else None)
            page.goto(viewer.url + "#/prompt/cccc0001")
            page.wait_for_selector("#stars button[data-star='5']")
            page.click("#stars button[data-star='5']")
            page.wait_for_function(
                "document.querySelector('#rating-summary').textContent.length > 0 && "
                "!document.querySelector('#rating-summary').textContent.startsWith('Not rated')"
            )
            rate_urls = [u for u in sent if u.endswith("/rate")]
            assert rate_urls and all("%2F" in u for u in rate_urls), rate_urls
        finally:
            browser.close()
    assert viewer.ratings(OTHER) == before
