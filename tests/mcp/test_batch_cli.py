"""`prompt-alchemy batch` as a real subprocess over real SQLite: results file, --resume after an interruption
(no idea generated twice, none lost), recovery of an item saved but not recorded, --dry-run, bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "prompt_alchemy"]


def results(path: Path) -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[0]["type"] == "batch"
    return lines[0], [line for line in lines[1:] if line["type"] == "item"]


def sessions_by_idea(home: Path) -> Counter:
    db = home / "prompts.db"
    if not db.exists():
        return Counter()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT original_input, COUNT(DISTINCT session_id) FROM prompts " "GROUP BY original_input"
        ).fetchall()
    return Counter(dict(rows))


def prompt_count(home: Path) -> int:
    db = home / "prompts.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0]


def write_ideas(tmp_path: Path, n: int, name: str = "ideas.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(f"idea number {i}" for i in range(1, n + 1)) + "\n", encoding="utf-8")
    return path


def test_batch_writes_results_and_saves_every_idea(cli, home, tmp_path):
    ideas = write_ideas(tmp_path, 4)
    proc = cli("batch", str(ideas), "--provider", "scripted", "--count", "1", "--workers", "3", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["total"], report["generated"], report["failed"], report["skipped"]) == (4, 4, 0, 0)
    header, items = results(Path(f"{ideas}.results.jsonl"))
    assert header["input"] == str(ideas)
    assert sorted(i["index"] for i in items) == [1, 2, 3, 4]
    assert all(i["status"] == "ok" and len(i["prompt_ids"]) == 3 for i in items)
    assert sessions_by_idea(home) == Counter({f"idea number {i}": 1 for i in range(1, 5)})


def test_text_output_and_a_rerun_without_resume_is_refused(cli, home, tmp_path):
    ideas = write_ideas(tmp_path, 2)
    proc = cli("batch", str(ideas), "--provider", "scripted", "--count", "1")
    assert proc.returncode == 0, proc.stderr
    assert "2 generated · 0 failed" in proc.stdout and "idea number 2" in proc.stdout
    before = Path(f"{ideas}.results.jsonl").read_text()
    again = cli("batch", str(ideas), "--provider", "scripted", "--count", "1")
    assert again.returncode == 2 and "--resume" in again.stderr
    assert Path(f"{ideas}.results.jsonl").read_text() == before
    assert prompt_count(home) == 6


def test_resume_skips_finished_items_and_generates_new_ones(cli, home, tmp_path):
    ideas = write_ideas(tmp_path, 2)
    out = tmp_path / "out.jsonl"
    assert cli("batch", str(ideas), "--provider", "scripted", "--count", "1", "--output-file", str(out)).returncode == 0
    with ideas.open("a") as fh:
        fh.write("a late addition\n")
    proc = cli(
        "batch",
        str(ideas),
        "--provider",
        "scripted",
        "--count",
        "1",
        "--output-file",
        str(out),
        "--resume",
        "-o",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["generated"], report["skipped"]) == (1, 2)
    assert [i["status"] for i in report["items"]] == ["skipped", "skipped", "ok"]
    assert sessions_by_idea(home) == Counter({"idea number 1": 1, "idea number 2": 1, "a late addition": 1})
    _, items = results(out)
    assert len(items) == 3


def test_interrupted_batch_resumes_without_duplicates_or_losses(home, tmp_path):
    # enough items, slow enough, that the batch cannot finish between the second result and the signal
    total = 16
    ideas = write_ideas(tmp_path, total)
    out = tmp_path / "results.jsonl"
    env = dict(os.environ, PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY="0.3")
    args = CLI + [
        "batch",
        str(ideas),
        "--provider",
        "scripted",
        "--count",
        "1",
        "--workers",
        "2",
        "--output-file",
        str(out),
    ]
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a run started in the background (nohup, `&` without job control) inherits SIGINT ignored: give the batch
        # the terminal's default, as a user pressing Ctrl-C has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_text().splitlines()) >= 3:  # header + two finished items
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    _, first = results(out)
    assert 2 <= len(first) < total
    assert len(sessions_by_idea(home)) >= len(first)

    resumed = subprocess.run(
        args + ["--resume", "-o", "json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["skipped"] == len(first) and report["generated"] == total - len(first)
    assert sessions_by_idea(home) == Counter({f"idea number {i}": 1 for i in range(1, total + 1)})
    _, items = results(out)
    assert sorted(i["index"] for i in items) == list(range(1, total + 1))


def test_an_item_saved_but_not_recorded_is_recovered_not_regenerated(cli, home, tmp_path):
    ideas = write_ideas(tmp_path, 3)
    out = tmp_path / "results.jsonl"
    assert cli("batch", str(ideas), "--provider", "scripted", "--count", "1", "--output-file", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    lost = json.loads(lines[-1])
    out.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])  # the process died while writing that line
    proc = cli(
        "batch",
        str(ideas),
        "--provider",
        "scripted",
        "--count",
        "1",
        "--output-file",
        str(out),
        "--resume",
        "-o",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["skipped"], report["generated"]) == (2, 1)
    recovered = next(i for i in report["items"] if i["status"] == "ok")
    assert recovered["session_id"] == lost["session_id"]
    assert sorted(recovered["prompt_ids"]) == sorted(lost["prompt_ids"])
    assert sessions_by_idea(home) == Counter({f"idea number {i}": 1 for i in range(1, 4)})
    _, items = results(out)
    assert [i["index"] for i in items if i["key"] == lost["key"]] == [lost["index"]]


def test_failed_items_exit_1_and_are_retried_on_resume(cli, home, tmp_path):
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('{"idea": "short", "phases": ["prima-materia"]}\n{"idea": "full"}\n', encoding="utf-8")
    out = tmp_path / "r.jsonl"
    failing = {"PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__FAIL_PHASES": '["solutio"]'}
    proc = cli("batch", str(ideas), "--provider", "scripted", "--count", "1", "--output-file", str(out), env=failing)
    assert proc.returncode == 1
    assert "1 of 2 item(s) failed" in proc.stderr
    _, items = results(out)
    assert {i["status"] for i in items} == {"ok", "error"}
    proc = cli(
        "batch",
        str(ideas),
        "--provider",
        "scripted",
        "--count",
        "1",
        "--output-file",
        str(out),
        "--resume",
        "-o",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [i["status"] for i in report["items"]] == ["skipped", "ok"]
    assert sessions_by_idea(home) == Counter({"short": 1, "full": 1})


def test_dry_run_validates_and_writes_nothing(cli, home, tmp_path):
    ideas = write_ideas(tmp_path, 3)
    proc = cli("batch", str(ideas), "--provider", "scripted", "--dry-run", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dry_run"] is True and [i["status"] for i in report["items"]] == ["planned"] * 3
    assert not Path(f"{ideas}.results.jsonl").exists()
    assert prompt_count(home) == 0
    text = cli("batch", str(ideas), "--provider", "scripted", "--dry-run")
    assert "3 of 3 item(s) would be generated" in text.stdout


def test_dry_run_with_resume_shows_what_is_left(cli, tmp_path):
    ideas = write_ideas(tmp_path, 2)
    assert cli("batch", str(ideas), "--provider", "scripted", "--count", "1").returncode == 0
    with ideas.open("a") as fh:
        fh.write("one more\n")
    proc = cli("batch", str(ideas), "--provider", "scripted", "--resume", "--dry-run", "-o", "json")
    report = json.loads(proc.stdout)
    assert [i["status"] for i in report["items"]] == ["skipped", "skipped", "planned"]


def test_bad_input_exits_2_and_changes_nothing(cli, home, tmp_path):
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('{"idea": "fine"}\n{"idea": "bad", "persona": "pirate"}\n', encoding="utf-8")
    proc = cli("batch", str(ideas), "--provider", "scripted")
    assert proc.returncode == 2
    assert "batch item 2" in proc.stderr and "pirate" in proc.stderr
    assert not Path(f"{ideas}.results.jsonl").exists()
    assert prompt_count(home) == 0
    for args, expected in [
        (["--workers", "0"], "workers"),
        (["--count", "11"], "--count"),
        (["--phases", "alembic"], "--phases"),
        (["--format", "xml"], "unknown batch format"),
    ]:
        proc = cli("batch", str(ideas), "--provider", "scripted", *args)
        assert proc.returncode == 2 and expected in proc.stderr, (args, proc.stderr)
    proc = cli("batch", str(tmp_path / "missing.txt"))
    assert proc.returncode == 2 and "cannot read batch file" in proc.stderr
    not_results = tmp_path / "other.jsonl"
    not_results.write_text("hello\n")
    proc = cli(
        "batch", str(write_ideas(tmp_path, 1)), "--provider", "scripted", "--output-file", str(not_results), "--resume"
    )
    assert proc.returncode == 2 and "not a prompt-alchemy batch results file" in proc.stderr
    assert prompt_count(home) == 0


def test_stdin_input(cli, home, tmp_path):
    out = tmp_path / "stdin.results.jsonl"
    proc = cli(
        "batch",
        "-",
        "--provider",
        "scripted",
        "--count",
        "1",
        "--output-file",
        str(out),
        "-o",
        "json",
        input="from stdin one\nfrom stdin two\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["generated"] == 2
    header, _ = results(out)
    assert header["input"] == "stdin"


HOLD_LOCK = """
import sys, time
from pathlib import Path
from prompt_alchemy.filelocks import try_lock
lock = try_lock(Path(sys.argv[1]))
print("held" if lock is not None else "busy", flush=True)
time.sleep(600)
"""


def hold_lock(path: Path) -> subprocess.Popen:
    """Another process holding the lock on `path` (until killed)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_results_file_in_use_is_refused_until_its_holder_dies(cli, home, tmp_path):
    ideas = write_ideas(tmp_path, 1)
    out = tmp_path / "busy.jsonl"
    holder = hold_lock(tmp_path / "busy.jsonl.lock")
    try:
        proc = cli("batch", str(ideas), "--provider", "scripted", "--output-file", str(out))
        assert proc.returncode == 1 and "in use by another batch run" in proc.stderr
        assert prompt_count(home) == 0 and not out.exists()
    finally:
        holder.kill()  # SIGKILL: no cleanup runs; the operating system drops the lock
        holder.wait()
    proc = cli("batch", str(ideas), "--provider", "scripted", "--count", "1", "--output-file", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(results(out)[1]) == 1 and prompt_count(home) == 3


def test_a_running_batch_holds_its_results_file(cli, home, tmp_path):
    """While a batch run writes its results file, another process cannot take the file's lock."""
    out = tmp_path / "held.jsonl"
    ideas = write_ideas(tmp_path, 1)
    code = (
        "import sys\nfrom prompt_alchemy.engine.batch import ResultsFile\n"
        "f = ResultsFile(sys.argv[1], resume=False, source='x'); f.open(); print('open', flush=True)\n"
        "sys.stdin.readline(); f.close(); print('closed', flush=True); sys.stdin.readline()\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "open"
        proc = cli("batch", str(ideas), "--provider", "scripted", "--output-file", str(out), "--resume")
        assert proc.returncode == 1 and "in use by another batch run" in proc.stderr
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "closed"  # close() releases it with the process still alive
        proc = cli("batch", str(ideas), "--provider", "scripted", "--count", "1", "--output-file", str(out), "--resume")
        assert proc.returncode == 0, proc.stderr
    finally:
        writer.kill()
        writer.wait()
