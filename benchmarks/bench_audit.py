"""The hostile-input and fault audit, re-run: bad CLI inputs, bad MCP messages, kill -9 mid-operation,
concurrency, secret sentinels and HTTP probes. Prints one JSON object: per category, cases tried, handled
cleanly, failures (with the first few failing cases named).

    .venv/bin/python benchmarks/bench_audit.py            # about two minutes on 2 cores

Clean means: a bad input ends with exit 2 (1 for a runtime fault) and exactly one `error:` line on stderr, no
traceback, no "unexpected" error, and nothing changed in the library; a malformed MCP message gets a JSON-RPC
error or an isError result with a reason; a killed process leaves a database that passes integrity_check and a
re-run that finishes the work once; a configured key never appears in output, library, export or logs; an HTTP
probe gets a 4xx answer, never a 500 or a hang.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "prompt_alchemy"]
SCRIPTED_ENV = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}
SCRIPTED = ["--provider", "scripted", "--count", "1"]


class Tally:
    def __init__(self) -> None:
        self.tried = 0
        self.clean = 0
        self.failures: list[str] = []

    def record(self, name: str, ok: bool, detail: str = "") -> None:
        self.tried += 1
        if ok:
            self.clean += 1
        else:
            self.failures.append(f"{name}: {detail}"[:200])

    def row(self) -> dict:
        return {
            "tried": self.tried,
            "handled_cleanly": self.clean,
            "failures": self.tried - self.clean,
            "failing_cases": self.failures[:5],
        }


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
    env.update(PROMPT_ALCHEMY_HOME=str(home), **SCRIPTED_ENV, **extra)
    return env


def cli(home: Path, *args: str, stdin: bytes | None = None, timeout: float = 120, **extra: str):
    """Run the CLI; a run that hangs past `timeout` is killed and reported as exit -9 ("timed out")."""
    try:
        return subprocess.run(
            CLI + list(args), input=stdin, capture_output=True, env=env_for(home, **extra), cwd=ROOT, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(CLI + list(args), -9, b"", f"timed out after {timeout:g}s".encode())


def state(home: Path) -> str:
    h = hashlib.sha256()
    db = home / "prompts.db"
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn:
            for row in conn.execute("SELECT id, content, tags FROM prompts ORDER BY id"):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def one_clean_line(proc, codes=(1, 2)) -> tuple[bool, str]:
    err = proc.stderr.decode("utf-8", "replace")
    lines = err.strip().splitlines()
    ok = (
        proc.returncode in codes
        and len(lines) == 1
        and lines[0].startswith("error: ")
        and "Traceback" not in err
        and "error: unexpected" not in err
    )
    return ok, f"exit {proc.returncode}: {err.strip()[:150]}"


def fresh_library(base: Path, name: str) -> Path:
    home = base / name
    home.mkdir()
    assert cli(home, "generate", "plan a picnic for twelve people", *SCRIPTED).returncode == 0
    return home


# ------------------------------------------------------------------------------------------------ bad CLI inputs


def bad_cli_inputs(base: Path) -> dict:
    t = Tally()
    home = fresh_library(base, "cli")
    db = home / "prompts.db"
    fifo = base / "fifo"
    os.mkfifo(fifo)
    csv_no_content = base / "nocontent.csv"
    csv_no_content.write_text("title\nx\n", encoding="utf-8")
    binary = base / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 8)
    cases: list[tuple[str, list[str], bytes | None, dict]] = [
        ("export over the database", ["export", str(db), "-f", "jsonl", "--force"], None, {}),
        ("export over the WAL", ["export", f"{db}-wal", "-f", "jsonl", "--force"], None, {}),
        ("export over the SHM", ["export", f"{db}-shm", "-f", "jsonl", "--force"], None, {}),
        ("export to /dev/full", ["export", "/dev/full", "-f", "jsonl", "--force"], None, {}),
        ("export to /dev/null", ["export", "/dev/null", "-f", "jsonl", "--force"], None, {}),
        ("export to a fifo", ["export", str(fifo), "-f", "jsonl", "--force"], None, {}),
        ("export into /proc", ["export", "/proc/self/x.jsonl"], None, {}),
        ("export to a missing folder", ["export", str(base / "no" / "x.jsonl")], None, {}),
        ("backup over the database", ["db", "backup", str(db), "--force"], None, {}),
        ("backup to /dev/full", ["db", "backup", "/dev/full", "--force"], None, {}),
        ("config init over the database", ["--config", str(db), "config", "init", "--force"], None, {}),
        ("results file = database", ["batch", "-", *SCRIPTED, "--output-file", str(db), "--resume"], b"idea\n", {}),
        ("import /dev/zero", ["import", "/dev/zero", "-f", "jsonl"], None, {}),
        ("import a fifo", ["import", str(fifo), "-f", "jsonl"], None, {}),
        ("import /proc/self/environ", ["import", "/proc/self/environ", "-f", "jsonl"], None, {}),
        ("import /proc/self/mem", ["import", "/proc/self/mem", "-f", "jsonl"], None, {}),
        ("import a folder", ["import", str(base), "-f", "jsonl"], None, {}),
        ("import missing", ["import", str(base / "missing.jsonl")], None, {}),
        ("import CSV without content", ["import", str(csv_no_content)], None, {}),
        ("context /dev/zero", ["generate", "x", *SCRIPTED, "--context", "/dev/zero"], None, {}),
        ("binary config", ["--config", str(binary), "list"], None, {}),
        ("generate invalid UTF-8", ["generate", *SCRIPTED], b"idea \xff\xfe", {}),
        ("score invalid UTF-8", ["score", "--text", "-"], b"\xc3(", {}),
        ("optimize invalid UTF-8", ["optimize", "--prompt", "-", "--task", "t"], b"\x80", {}),
        ("batch invalid UTF-8", ["batch", "-", *SCRIPTED], b"\xff\n", {}),
        ("since 99999999d", ["list", "--since", "99999999d"], None, {}),
        ("until 9999-12-31", ["list", "--until", "9999-12-31"], None, {}),
        ("since year 1 with offset", ["list", "--since", "0001-01-01T00:00:00+05:00"], None, {}),
        ("since nonsense", ["list", "--since", "yesterday-ish"], None, {}),
        ("page 10^20", ["list", "--page", str(10**20)], None, {}),
        ("page 0", ["list", "--page", "0"], None, {}),
        ("limit 0", ["list", "--limit", "0"], None, {}),
        ("min-rating 9", ["list", "--min-rating", "9"], None, {}),
        ("unknown phase", ["list", "--phase", "nigredo"], None, {}),
        ("show unknown id", ["show", "ffffffff"], None, {}),
        ("show short prefix", ["show", "ab"], None, {}),
        ("rate 7", ["rate", "ffffffff", "7"], None, {}),
        ("unknown persona", ["generate", "x", *SCRIPTED, "--persona", "pirate\nking"], None, {}),
        ("idea too long", ["generate", "x" * 25_000, *SCRIPTED], None, {}),
        ("empty search", ["search", "   "], None, {}),
        ("unknown search mode", ["search", "x", "--mode", "fuzzy"], None, {}),
        ("cache dir variable", ["list"], None, {"PROMPT_ALCHEMY_CACHE_DIR": str(base / "cache")}),
        ("bad env setting", ["list"], None, {"PROMPT_ALCHEMY_GENERATION__DEFAULT_COUNT": "many"}),
        ("unknown env setting", ["list"], None, {"PROMPT_ALCHEMY_NOPE": "1"}),
    ]
    for name, args, stdin, extra in cases:
        before = state(home)
        proc = cli(home, *args, stdin=stdin, **extra)
        if name == "cache dir variable":
            ok, detail = proc.returncode == 0, proc.stderr.decode()[:150]
        else:
            ok, detail = one_clean_line(proc)
            ok = ok and (proc.returncode != 2 or state(home) == before) and integrity(db) == "ok"
        t.record(name, ok, detail)
    # damaged and newer-schema libraries
    for kind in ("damaged", "newer schema"):
        lib = fresh_library(base, kind.replace(" ", "-"))
        ldb = lib / "prompts.db"
        if kind == "damaged":
            cli(lib, "db", "vacuum")
            for side in ("-wal", "-shm"):
                Path(f"{ldb}{side}").unlink(missing_ok=True)
            data = bytearray(ldb.read_bytes())
            for i in range(8192, len(data)):
                data[i] = (i * 131) % 251
            ldb.write_bytes(bytes(data))
        else:
            with contextlib.closing(sqlite3.connect(ldb)) as conn, conn:
                conn.execute("INSERT INTO _migrations VALUES ('m999_future', '2030-01-01')")
        for args in (
            ["list"],
            ["generate", "x y", *SCRIPTED],
            ["db", "backup"],
            ["search", "picnic", "--mode", "text"],
        ):
            proc = cli(lib, *args)
            if kind == "newer schema" and args[0] in ("list", "search"):
                ok, detail = proc.returncode == 0, proc.stderr.decode()[:150]
            else:
                ok, detail = one_clean_line(proc, codes=(1,))
                ok = ok and (str(ldb) in detail or "upgrade" in detail)
            t.record(f"{kind}: {' '.join(args[:2])}", ok, detail)
    return t.row()


# ------------------------------------------------------------------------------------------------ bad MCP messages


def bad_mcp_messages(base: Path) -> dict:
    t = Tally()
    home = fresh_library(base, "mcp")
    proc = subprocess.Popen(
        CLI + ["serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for(home),
        cwd=ROOT,
    )
    replies: list[dict] = []
    cond = threading.Condition()

    def read() -> None:
        for line in iter(proc.stdout.readline, b""):
            with cond:
                try:
                    replies.append(json.loads(line))
                except ValueError:
                    replies.append({"_not_json": line.decode("utf-8", "replace")})
                cond.notify_all()

    threading.Thread(target=read, daemon=True).start()

    def send(raw: bytes, expect_reply: bool = True, timeout: float = 30) -> dict | None:
        with cond:
            count = len(replies)
        proc.stdin.write(raw + b"\n")
        proc.stdin.flush()
        if not expect_reply:
            return None
        with cond:
            cond.wait_for(lambda: len(replies) > count, timeout)
            return replies[count] if len(replies) > count else None

    def call(tool: str, arguments, msg_id: int) -> bytes:
        return json.dumps(
            {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        ).encode()

    send(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "audit", "version": "1"},
                },
            }
        ).encode()
    )
    send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}', expect_reply=False)
    (home / "secret.jsonl").write_text('{"input": "SECRET-IN", "expected": "SECRET-OUT"}\n', encoding="utf-8")
    cases: list[tuple[str, bytes]] = [
        ("invalid JSON", b"{not json"),
        ("invalid UTF-8", b"\xff\xfe{}"),
        ("array", b"[1,2,3]"),
        ("params is a number", b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":5}'),
        ("params is a list", b'{"jsonrpc":"2.0","id":12,"method":"tools/list","params":[]}'),
        ("id is an object", b'{"jsonrpc":"2.0","id":{},"method":"ping"}'),
        (
            "lone surrogate",
            b'{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"search_prompts",'
            b'"arguments":{"query":"\\ud800"}}}',
        ),
        ("unknown method", b'{"jsonrpc":"2.0","id":14,"method":"nope/nope"}'),
        ("unknown tool", call("no_such_tool", {}, 15)),
        ("prompts/get unknown", b'{"jsonrpc":"2.0","id":16,"method":"prompts/get","params":{"name":"nope-12345678"}}'),
        ("resource unknown", b'{"jsonrpc":"2.0","id":17,"method":"resources/read","params":{"uri":"prompt://ffff"}}'),
        ("search since 99999999d", call("search_prompts", {"query": "x", "filters": {"since": "99999999d"}}, 18)),
        ("search until 9999-12-31", call("search_prompts", {"query": "x", "filters": {"until": "9999-12-31"}}, 19)),
        ("metrics since nonsense", call("get_metrics", {"since": "soon"}, 20)),
        (
            "examples_file absolute",
            call("optimize_prompt", {"task": "t", "prompt": "p", "examples_file": str(home / "secret.jsonl")}, 21),
        ),
        (
            "examples_file traversal",
            call("optimize_prompt", {"task": "t", "prompt": "p", "examples_file": "../secret.jsonl"}, 22),
        ),
        (
            "examples_file /dev/zero",
            call("optimize_prompt", {"task": "t", "prompt": "p", "examples_file": "/dev/zero"}, 23),
        ),
        (
            "examples_path (removed)",
            call("optimize_prompt", {"task": "t", "prompt": "p", "examples_path": str(home / "secret.jsonl")}, 24),
        ),
        (
            "inline examples malformed",
            call("optimize_prompt", {"task": "t", "prompt": "p", "examples": [{"input": 1}]}, 25),
        ),
        ("rate score 9", call("rate_prompt", {"id": "ffffffff", "score": 9}, 26)),
        ("get_prompt empty", call("get_prompt", {"id": ""}, 27)),
        ("generate count 0", call("generate_prompts", {"idea": "x", "count": 0}, 28)),
        ("generate idea wrong type", call("generate_prompts", {"idea": ["x"]}, 29)),
        ("batch empty", call("batch_generate", {"items": []}, 30)),
        ("update nothing", call("update_prompt", {"id": "ffffffff"}, 31)),
    ]
    for name, raw in cases:
        before = state(home)
        reply = send(raw)
        text = json.dumps(reply) if reply else ""
        ok = reply is not None and (
            "error" in reply
            or (reply.get("result", {}).get("isError") and reply["result"]["content"][0]["text"].strip())
        )
        ok = ok and "SECRET-" not in text and "Traceback" not in text and state(home) == before
        t.record(name, bool(ok), text[:150] or "no reply")
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read().decode("utf-8", "replace")
    t.record("no traceback in the server log", "Traceback" not in log, log[-200:])
    return t.row()


# ------------------------------------------------------------------------------------------------ kills


def kill_after(home: Path, args: list[str], delay: float, **extra: str) -> None:
    proc = subprocess.Popen(
        CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env_for(home, **extra), cwd=ROOT
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def kills(base: Path, per_kind: int = 3) -> dict:
    t = Tally()
    rng = random.Random(13)
    rows = base / "kill-rows.jsonl"
    rows.write_text(
        "".join(json.dumps({"content": f"Kill prompt {i}: step {i}.", "embedding": None}) + "\n" for i in range(3000)),
        encoding="utf-8",
    )
    home = base / "kill-import"
    home.mkdir()
    for n in range(per_kind):
        kill_after(home, ["import", str(rows)], rng.uniform(0.8, 3.0))
        db = home / "prompts.db"
        t.record(f"import kill {n}", not db.exists() or integrity(db) == "ok", "integrity")
    ok = cli(home, "import", str(rows)).returncode == 0
    with contextlib.closing(sqlite3.connect(home / "prompts.db")) as conn:
        total = conn.execute("SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM prompts").fetchone()
    t.record("import re-run completes once", ok and tuple(total) == (3000, 3000), str(total))

    home = base / "kill-batch"
    home.mkdir()
    ideas = base / "ideas.txt"
    ideas.write_text("".join(f"kill idea {i}\n" for i in range(1, 11)), encoding="utf-8")
    results = base / "results.jsonl"
    args = ["batch", str(ideas), "--count", "1", "--output-file", str(results), "--resume"]
    for n in range(per_kind):
        kill_after(home, args, rng.uniform(1.0, 4.0), PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY="0.1")
        db = home / "prompts.db"
        whole = True
        if db.exists():
            with contextlib.closing(sqlite3.connect(db)) as conn:
                whole = all(c == 3 for (c,) in conn.execute("SELECT COUNT(*) FROM prompts GROUP BY session_id"))
        t.record(f"batch kill {n}", not db.exists() or (integrity(db) == "ok" and whole), "integrity/sessions")
    ok = cli(home, *args, PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY="0.1").returncode == 0
    with contextlib.closing(sqlite3.connect(home / "prompts.db")) as conn:
        counts = [c for (c,) in conn.execute("SELECT COUNT(DISTINCT session_id) FROM prompts GROUP BY original_input")]
    t.record("batch --resume completes once", ok and len(counts) == 10 and set(counts) == {1}, str(counts))

    home = base / "kill-backup"
    home.mkdir()
    filler = base / "filler.jsonl"
    filler.write_text(
        "".join(
            json.dumps({"content": f"Filler {i}: " + "lorem ipsum " * 300, "embedding": None}) + "\n"
            for i in range(1500)
        ),
        encoding="utf-8",
    )
    cli(home, "import", str(filler))
    for n in range(per_kind):
        kill_after(home, ["db", "backup"], rng.uniform(0.3, 1.5))
        backups = list((home / "backups").glob("*.db")) if (home / "backups").is_dir() else []
        t.record(
            f"backup kill {n}",
            integrity(home / "prompts.db") == "ok" and all(integrity(b) == "ok" for b in backups),
            "integrity",
        )
    for partial in (home / "backups").glob("*.partial") if (home / "backups").is_dir() else []:
        os.utime(partial, (time.time() - 3600,) * 2)
    proc = cli(home, "db", "backup")
    t.record(
        "next backup cleans partials",
        proc.returncode == 0 and not list((home / "backups").glob("*.partial")),
        proc.stderr.decode()[:150],
    )
    return t.row()


# ------------------------------------------------------------------------------------------------ concurrency


def concurrency(base: Path) -> dict:
    t = Tally()
    rows = base / "conc-rows.jsonl"
    rows.write_text(
        "".join(json.dumps({"content": f"Concurrent prompt {i}.", "embedding": None}) + "\n" for i in range(848)),
        encoding="utf-8",
    )
    for n_procs in (2, 3):
        home = base / f"conc-import-{n_procs}"
        home.mkdir()
        procs = [
            subprocess.Popen(
                CLI + ["import", str(rows)],
                env=env_for(home),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(n_procs)
        ]
        errs = [p.communicate(timeout=300)[1].decode() for p in procs]
        with contextlib.closing(sqlite3.connect(home / "prompts.db")) as conn:
            count = conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0]
        t.record(
            f"{n_procs} parallel imports of one file",
            count == 848 and all(p.returncode == 0 for p in procs) and not any("locked" in e for e in errs),
            f"{count} rows; {errs}",
        )
    # duplicate ids within one file
    home = base / "conc-dup"
    home.mkdir()
    dup = base / "dup.jsonl"
    dup.write_text('{"id": "a1", "content": "one"}\n{"id": "a1", "content": "two"}\n', encoding="utf-8")
    proc = cli(home, "import", str(dup), "-o", "json")
    report = json.loads(proc.stdout or b"{}")
    t.record(
        "duplicate id in one file is an error",
        report.get("failed") == 1 and any("line 2" in e for e in report.get("errors", [])),
        str(report)[:150],
    )
    # imports, generates and a backup at once
    home = fresh_library(base, "conc-mixed")
    procs = [
        subprocess.Popen(CLI + args, env=env_for(home), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for args in (
            ["import", str(rows)],
            ["generate", "one idea", *SCRIPTED],
            ["generate", "two idea", *SCRIPTED],
            ["db", "backup"],
            ["list"],
        )
    ]
    errs = [p.communicate(timeout=300)[1].decode() for p in procs]
    t.record(
        "import + generate + backup + list at once",
        all(p.returncode == 0 for p in procs) and integrity(home / "prompts.db") == "ok",
        "; ".join(e[:80] for e in errs),
    )
    # a running service's vector index sees another process's import
    home = base / "conc-index"
    home.mkdir()
    code = f"""
import asyncio, json, subprocess, sys
from prompt_alchemy.services import AlchemyService
async def main():
    svc = AlchemyService.from_environment()
    if svc.embedder.unavailable_reason():
        print(json.dumps({{"skip": True}})); return
    await svc.search("x", mode="semantic") if svc.loaded.database_path.exists() else None
    p = {str(base / 'idx.jsonl')!r}
    open(p, 'w').write(json.dumps({{"content": "Tune a PostgreSQL query planner for large joins."}}) + "\\n")
    subprocess.run([sys.executable, "-m", "prompt_alchemy", "import", p], check=True, capture_output=True)
    hits = await svc.search("database query tuning", mode="semantic", limit=1)
    print(json.dumps({{"hit": hits[0].prompt.content if hits else None}}))
    await svc.aclose()
asyncio.run(main())
"""
    cli(home, "import", str(rows))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env_for(home), cwd=ROOT, timeout=300)
    out = json.loads(proc.stdout or b"{}")
    if not out.get("skip"):
        t.record(
            "server index follows another process",
            (out.get("hit") or "").startswith("Tune a PostgreSQL"),
            proc.stderr.decode()[-150:],
        )
    return t.row()


# ------------------------------------------------------------------------------------------------ secret sentinels


def secret_sentinels(base: Path) -> dict:
    t = Tally()
    secret = "sk-audit-sentinel-" + "7" * 24
    for n, (var, where) in enumerate(
        [
            ("OPENAI_API_KEY", "answer"),
            ("ANTHROPIC_API_KEY", "answer"),
            ("OPENAI_API_KEY", "idea"),
            ("GOOGLE_API_KEY", "import"),
        ]
    ):
        home = base / f"secret-{n}"
        home.mkdir()
        (home / "config.yaml").write_text(
            "providers:\n  scripted:\n    responses: ['Call it with " + secret + " please.']\n", encoding="utf-8"
        )
        extra = {var: secret}
        if where == "import":
            f = base / f"secret-{n}.jsonl"
            f.write_text(json.dumps({"content": f"Use {secret} to log in."}) + "\n", encoding="utf-8")
            proc = cli(home, "--debug", "import", str(f), "-o", "json", **extra)
        else:
            idea = f"use the key {secret}" if where == "idea" else "call the API"
            proc = cli(home, "--debug", "generate", idea, *SCRIPTED, "-o", "json", **extra)
        exported = cli(home, "export", "-", "-f", "jsonl", **extra).stdout
        with contextlib.closing(sqlite3.connect(home / "prompts.db")) as conn:
            stored = json.dumps(conn.execute("SELECT content, original_input, title FROM prompts").fetchall())
        texts = {"stdout": proc.stdout, "stderr": proc.stderr, "export": exported, "library": stored.encode()}
        leaked = [k for k, v in texts.items() if secret.encode() in v]
        t.record(f"{var} in the {where}", proc.returncode == 0 and not leaked, f"leaked into {leaked}")
    return t.row()


# ------------------------------------------------------------------------------------------------ HTTP probes


def http_probes(base: Path) -> dict:
    t = Tally()
    home = fresh_library(base, "http")
    log_file = base / "http.log"

    def start(host: str, config: str | None = None):
        args = CLI[:]
        if config:
            (home / "srv.yaml").write_text(config, encoding="utf-8")
            args += ["--config", str(home / "srv.yaml")]
        log_file.unlink(missing_ok=True)
        proc = subprocess.Popen(
            args + ["serve", "--transport", "http", "--host", host, "--port", "0", "--log-file", str(log_file)],
            env=env_for(home),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = log_file.read_text() if log_file.exists() else ""
            m = re.search(r"listening on http://\S+:(\d+)/mcp", text)
            if m:
                return proc, int(m.group(1))
            time.sleep(0.1)
        proc.kill()
        raise RuntimeError("server did not start")

    def probe(
        port: int,
        path: str,
        *,
        host: str | None = None,
        body: bytes | None = None,
        ctype: str = "application/json",
        method: str | None = None,
    ) -> tuple[int, str]:
        headers = {"Content-Type": ctype, "Accept": "application/json, text/event-stream"}
        if host:
            headers["Host"] = host
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=body,
            headers=headers,
            method=method or ("POST" if body is not None else "GET"),
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def raw_post(port: int, body: bytes) -> tuple[int, str]:
        """POST over a raw socket, reading the answer even when the server answers (413) before the whole body
        is sent and closes the connection, as it should; urllib reports that as a reset."""
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            head = (
                f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            try:
                sock.sendall(head.encode() + body)
            except OSError:
                pass
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        return (int(match.group(1)) if match else 0), data.decode("latin-1")[:200]

    def stop(proc) -> str:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        return proc.stderr.read()

    proc, port = start("127.0.0.1")
    ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    cases = [
        ("health, foreign Host", dict(path="/health", host="evil.example"), {421}),
        ("mcp, foreign Host", dict(path="/mcp", host="evil.example", body=ping), {421}),
        ("mcp, foreign Origin", dict(path="/mcp", body=ping), None),
        ("deeply nested body", dict(path="/mcp", body=b"[" * 100_000 + b"]" * 100_000), {400}),
        ("invalid JSON", dict(path="/mcp", body=b"{nope"), {400}),
        ("invalid UTF-8", dict(path="/mcp", body=b"\xff\xfe\xfd"), {400}),
        ("oversized body", dict(path="/mcp", body=b'{"a":"' + b"x" * (5 << 20) + b'"}'), {400, 413}),
        ("wrong content type", dict(path="/mcp", body=ping, ctype="text/plain"), {400, 415}),
        (
            "params is a number",
            dict(path="/mcp", body=b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":5}'),
            {400},
        ),
        ("unknown path", dict(path="/admin"), {404}),
        ("DELETE without session", dict(path="/mcp", method="DELETE"), {400, 404, 405}),
    ]
    for name, kwargs, expected in cases:
        if name == "mcp, foreign Origin":
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/mcp",
                data=ping,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream",
                    "Origin": "http://evil.example",
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    status = r.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            t.record(name, status == 403, f"HTTP {status}")
            continue
        try:
            status, body = raw_post(port, kwargs["body"]) if name == "oversized body" else probe(port, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a probe that hangs or resets is a failure
            t.record(name, False, repr(exc)[:150])
            continue
        t.record(name, status in expected and "Traceback" not in body, f"HTTP {status}: {body[:100]}")
    t.record("health on loopback Host", probe(port, "/health", host=f"127.0.0.1:{port}")[0] == 200, "")
    stderr = stop(proc)
    t.record("no traceback in the log", "Traceback" not in log_file.read_text() + stderr, stderr[-150:])
    # beyond loopback: the warning on stderr even with a log file; allowed_hosts kept
    proc, port = start("0.0.0.0", "server:\n  allowed_hosts: ['team.example:*']\n")
    t.record("allowed host answered", probe(port, "/health", host=f"team.example:{port}")[0] == 200, "")
    t.record("other host refused beyond loopback", probe(port, "/health", host="evil.example")[0] == 421, "")
    stderr = stop(proc)
    t.record(
        "bind warning on stderr and in the log",
        "beyond loopback" in stderr and "beyond loopback" in log_file.read_text(),
        stderr[:150],
    )
    return t.row()


# ------------------------------------------------------------------------------------------------ two replicas


def pg_concurrency_probes(base: Path) -> dict:
    """Two servers on one PostgreSQL (pgserver), hit at once: concurrent deletes of one prompt (one 200 and one
    audit row, the rest 404), a parent and its child deleted at once (no 500, lineage relinked), 30 concurrent
    label moves through REST imports (a history chain whose every row names the true previous prompt, each move
    audited with its key), an import's audit rows (the ids written, the labels moved), and a CLI import killed with
    kill -9 mid-way (every committed row named by an audit row)."""
    from concurrent.futures import ThreadPoolExecutor

    t = Tally()
    try:
        import pgserver
        import psycopg
    except ImportError as exc:
        return {**t.row(), "skipped": f"no PostgreSQL for the probes ({exc.name} is not installed)"}
    root = Path(tempfile.mkdtemp(prefix="pa-pgc-"))  # short: unix socket paths are limited to ~100 characters
    server = pgserver.get_server(root, cleanup_mode="delete")
    procs: list[subprocess.Popen] = []
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE audit_replicas")
        url = server.get_uri("audit_replicas")
        extra = {"PROMPT_ALCHEMY_DATABASE_URL": url}

        def start(name: str) -> int:
            home = base / f"replica-{name}"
            home.mkdir()
            log = home / "server.log"
            procs.append(
                subprocess.Popen(
                    CLI
                    + ["serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0", "--log-file", str(log)],
                    env=env_for(home, **extra),
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                m = re.search(r"listening on http://\S+:(\d+)/mcp", log.read_text() if log.exists() else "")
                if m:
                    return int(m.group(1))
                time.sleep(0.1)
            raise RuntimeError("server did not start")

        ports = [start("a"), start("b")]
        made = cli(base, "api-keys", "create", "--name", "auditor", "--scope", "write", "--output", "json", **extra)
        key = json.loads(made.stdout)["key"]

        def call(port: int, method: str, path: str, body: dict | None = None) -> int:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1{path}",
                method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        def import_rows(port: int, rows: list[dict]) -> int:
            return call(
                port, "POST", "/import", {"format": "jsonl", "content": "".join(json.dumps(r) + "\n" for r in rows)}
            )

        def at_once(calls: list) -> list:
            barrier = threading.Barrier(len(calls))

            def run(fn):
                barrier.wait()
                return fn()

            with ThreadPoolExecutor(len(calls)) as pool:
                return list(pool.map(run, calls))

        def sql(query: str, *params) -> list:
            with psycopg.connect(url, autocommit=True) as conn:
                return conn.execute(query, params).fetchall()

        def audit_rows(action: str, target: str) -> list:
            return sql(
                "SELECT a.outcome, a.actor FROM audit_log a JOIN audit_targets t ON t.audit_id = a.id "
                "WHERE a.action = %s AND t.target_id = %s",
                action,
                target,
            )

        # concurrent deletes of one prompt
        ids = [f"pdel-{n}" for n in range(6)]
        import_rows(ports[0], [{"id": i, "content": f"Delete race {i}.", "embedding": None} for i in ids])
        for pid in ids:
            codes = at_once([lambda n=n, pid=pid: call(ports[n % 2], "DELETE", f"/prompts/{pid}") for n in range(6)])
            ok_rows = [r for r in audit_rows("delete", pid) if r[0] == "ok"]
            t.record(
                f"6 concurrent deletes of {pid}",
                sorted(codes) == [200] + [404] * 5 and len(ok_rows) == 1,
                f"{codes}, {len(ok_rows)} ok audit rows",
            )
        # a parent and its child deleted at once
        rows = []
        for n in range(15):
            chain = [f"plin-{n}-{g}" for g in range(4)]
            rows += [
                {"id": c, "content": f"Lineage {n}.{g}.", "parent_id": chain[g - 1] if g else None, "embedding": None}
                for g, c in enumerate(chain)
            ]
        import_rows(ports[1], rows)
        for n in range(15):
            parent, child = f"plin-{n}-1", f"plin-{n}-2"
            pair = (parent, child) if n % 2 else (child, parent)
            codes = at_once(
                [lambda i=i, pid=pid: call(ports[i], "DELETE", f"/prompts/{pid}") for i, pid in enumerate(pair)]
            )
            linked = sql("SELECT parent_id FROM prompts WHERE id = %s", f"plin-{n}-3")
            t.record(
                f"parent and child deleted at once ({n})",
                codes == [200, 200] and linked == [(f"plin-{n}-0",)],
                f"{codes}, grandchild's parent {linked}",
            )
        # 30 concurrent label moves through REST imports
        labelled = [{"id": f"plab-{n:02d}", "content": f"Label version {n}.", "embedding": None} for n in range(30)]
        import_rows(ports[0], labelled)
        codes = at_once(
            [
                lambda n=n, row=row: import_rows(ports[n % 2], [{**row, "labels": ["production"]}])
                for n, row in enumerate(labelled)
            ]
        )
        history = sql("SELECT prompt_id, previous_id, actor FROM label_history WHERE name = 'production' ORDER BY id")
        t.record("30 concurrent label moves answered", codes == [200] * 30 and len(history) == 30, f"{codes}")
        for n, (prev, row) in enumerate(zip(history, history[1:]), start=1):
            t.record(
                f"label history row {n} names the previous prompt",
                row[1] == prev[0] and row[2] == "auditor",
                f"previous {row[1]}, moved from {prev[0]}, actor {row[2]}",
            )
        moves = sql(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'label.set' AND actor = 'auditor' "
            "AND detail LIKE '%%source=import%%'"
        )[0][0]
        t.record("each label move through import audited as a label move", moves == 30, f"{moves} rows")
        # an import's audit rows name the ids written
        missing = [pid for (pid,) in sql("SELECT id FROM prompts") if not audit_rows("import", pid)]
        t.record("every imported id named by an import audit row", not missing, f"{len(missing)} missing")
        # kill -9 mid-import: no committed row without its audit row
        home = base / "pg-kill"
        home.mkdir()
        big = base / "pg-kill.jsonl"
        big.write_text(
            "".join(
                json.dumps({"id": f"pkill-{n:05d}", "content": f"Killed import {n}: step {n}."}) + "\n"
                for n in range(1000)
            ),
            encoding="utf-8",
        )
        proc = subprocess.Popen(
            CLI + ["import", str(big)],
            env=env_for(home, **extra),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while (
            proc.poll() is None
            and time.monotonic() < deadline
            and not sql("SELECT 1 FROM prompts WHERE id LIKE 'pkill-%%' LIMIT 1")
        ):
            time.sleep(0.02)
        with psycopg.connect(url) as holder:  # no commit gets past this lock: the import is killed mid-way
            holder.execute("LOCK TABLE prompts IN SHARE MODE")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            holder.rollback()
        written = [pid for (pid,) in sql("SELECT id FROM prompts WHERE id LIKE 'pkill-%%'")]
        missing = [pid for pid in written if not audit_rows("import", pid)]
        t.record(
            "kill -9 mid-import leaves no unaudited row",
            0 < len(written) < 1000 and not missing,
            f"{len(written)} written, {len(missing)} without an audit row",
        )
    except Exception as exc:  # noqa: BLE001 - a probe that crashes is a failure, reported
        t.record("two-replica probes ran", False, repr(exc)[:150])
    finally:
        for proc in procs:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    return t.row()


# ------------------------------------------------------------------------------------------------ viewer probes


def viewer_probes(base: Path) -> dict:
    """The local viewer (`prompt-alchemy view`) under cross-site and malformed requests: foreign Hosts (parsed, not
    by prefix), writes from other origins or without the CSRF header, non-JSON bodies, oversized, deeply nested and
    mistyped bodies, crafted ids. Clean: the expected status, the JSON error shape, and no rating, label or prompt
    changed in the library."""
    import socket

    t = Tally()
    home = fresh_library(base, "viewer")
    crafted = base / "crafted.jsonl"
    crafted.write_text(json.dumps({"id": "cccc0001/../other/rate?", "content": "a crafted id"}) + "\n")
    assert cli(home, "import", str(crafted)).returncode == 0
    target = next(p["id"] for p in json.loads(cli(home, "list", "-o", "json").stdout)["prompts"] if "/" not in p["id"])
    assert cli(home, "label", "set", target, "production").returncode == 0
    proc = subprocess.Popen(
        CLI + ["view", "--port", "0"],
        env=env_for(home),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def fingerprint() -> tuple:
        with contextlib.closing(sqlite3.connect(home / "prompts.db")) as conn:
            return tuple(
                conn.execute(q).fetchall()
                for q in (
                    "SELECT count(*) FROM prompts",
                    "SELECT count(*) FROM feedback",
                    "SELECT name, prompt_id FROM labels ORDER BY name",
                    "SELECT count(*) FROM label_history",
                )
            )

    def send(
        port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"", chunked: bool = False
    ) -> tuple[int, str]:
        head = f"{method} {path} HTTP/1.1\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if chunked:
            head += "Transfer-Encoding: chunked\r\n"
            payload = (
                b"".join(
                    b"%x\r\n%s\r\n" % (len(body[i : i + 8192]), body[i : i + 8192]) for i in range(0, len(body), 8192)
                )
                + b"0\r\n\r\n"
            )
        else:
            head += f"Content-Length: {len(body)}\r\n" if body or method in ("POST", "PUT") else ""
            payload = body
        data = b""
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            with contextlib.suppress(OSError):  # the viewer may answer (413) before the whole body is sent
                sock.sendall(head.encode("latin-1") + b"\r\n" + payload)
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    data += chunk
        match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        return (int(match.group(1)) if match else 0), data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")

    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            t.record("viewer starts", False, (line + proc.stderr.read())[-200:])
            return t.row()
        port = int(match.group(1))
        own = f"http://127.0.0.1:{port}"
        host = {"Host": f"127.0.0.1:{port}"}
        page = {**host, "Origin": own, "X-Prompt-Alchemy": "1", "Content-Type": "application/json"}
        rate = f"/api/prompts/{target}/rate"
        good = json.dumps({"rating": 1, "comment": "probe"}).encode()
        cases: list[tuple[str, str, str, dict[str, str], bytes, bool, set[int]]] = []
        for foreign in (
            "evil.example",
            f"evil.example:{port}",
            f"127.0.0.1:{port}@evil.example",
            f"127.0.0.1:{port}.evil.example",
            f"127.0.0.1:{port}0",
            "localhost:1",
            f"[::2]:{port}",
            f"127.0.0.1:{port}:{port}",
            "127.0.0.1",
        ):
            cases.append(
                (f"GET /api/search, Host {foreign}", "GET", "/api/search", {"Host": foreign}, b"", False, {421})
            )
        cases.append(("GET /, Host evil.example", "GET", "/", {"Host": f"evil.example:{port}"}, b"", False, {421}))
        cases.append(
            (
                "rate, Host rebound, own-looking Origin",
                "POST",
                rate,
                {**page, "Host": f"evil.example:{port}"},
                good,
                False,
                {421},
            )
        )
        for name, change in (
            ("no Origin nor Referer", {"Origin": None}),
            ("Origin of another port", {"Origin": "http://127.0.0.1:1"}),
            ("Origin null", {"Origin": "null"}),
            ("Origin https", {"Origin": f"https://127.0.0.1:{port}"}),
            ("Origin with user info", {"Origin": f"http://127.0.0.1:{port}@evil.example"}),
            ("foreign Referer", {"Origin": None, "Referer": "http://evil.example/"}),
            ("no CSRF header", {"X-Prompt-Alchemy": None}),
            ("CSRF header 0", {"X-Prompt-Alchemy": "0"}),
        ):
            headers = {k: v for k, v in {**page, **change}.items() if v is not None}
            cases.append((f"rate, {name}", "POST", rate, headers, good, False, {403}))
            if name in ("Origin of another port", "no CSRF header"):
                cases.append(
                    (
                        f"label move, {name}",
                        "POST",
                        f"/api/prompts/{target}/labels",
                        headers,
                        b'{"name": "stolen"}',
                        False,
                        {403},
                    )
                )
                cases.append((f"label delete, {name}", "DELETE", "/api/labels/production", headers, b"", False, {403}))
                cases.append(
                    (
                        f"generate, {name}",
                        "POST",
                        "/api/generate",
                        headers,
                        b'{"idea": "spend the budget", "count": 1}',
                        False,
                        {403},
                    )
                )
        for ctype in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
        ):
            cases.append(
                (f"rate, Content-Type {ctype}", "POST", rate, {**page, "Content-Type": ctype}, good, False, {415})
            )
        cases.append(
            (
                "rate, no Content-Type",
                "POST",
                rate,
                {k: v for k, v in page.items() if k != "Content-Type"},
                good,
                False,
                {415},
            )
        )
        big = b'{"rating": 1, "comment": "' + b"x" * (2 << 20) + b'"}'
        cases.append(("rate, 2 MiB body", "POST", rate, page, big, False, {413}))
        cases.append(("rate, 2 MiB chunked body", "POST", rate, page, big, True, {413}))
        for depth in (50, 100_000):
            cases.append(
                (
                    f"rate, nested {depth} deep",
                    "POST",
                    rate,
                    page,
                    b'{"rating": 1, "x": ' + b"[" * depth + b"]" * depth + b"}",
                    False,
                    {400},
                )
            )
        for comment in ('{"a": 1}', "[1]", "5", "true"):
            cases.append(
                (
                    f"rate, comment {comment}",
                    "POST",
                    rate,
                    page,
                    f'{{"rating": 1, "comment": {comment}}}'.encode(),
                    False,
                    {422},
                )
            )
        cases.append(("rate, rating '5'", "POST", rate, page, b'{"rating": "5"}', False, {422}))
        cases.append(
            ("generate, count as text", "POST", "/api/generate", page, b'{"idea": "x", "count": "9"}', False, {422})
        )
        cases.append(("rate, body not JSON", "POST", rate, page, b"rating=5", False, {400}))
        cases.append(("rate, invalid UTF-8", "POST", rate, page, b'{"rating": 1, "comment": "\xff"}', False, {400}))
        cases.append(("diff, crafted ref", "GET", f"/api/diff?a=cccc0001/..&b={target}", host, b"", False, {400}))
        cases.append(
            (
                "rate, encoded crafted id",
                "POST",
                "/api/prompts/cccc0001%2F..%2Fother%2Frate%3F/rate",
                page,
                good,
                False,
                {400, 404},
            )
        )
        cases.append(("unknown route", "GET", "/api/nothing", host, b"", False, {404}))
        cases.append(("PUT on rate", "PUT", rate, page, b"", False, {405}))
        before = fingerprint()
        for name, method, path, headers, body, chunked, expected in cases:
            status, text = send(port, method, path, headers, body, chunked)
            try:
                err = json.loads(text)["error"]
                shaped = isinstance(err, dict) and set(err) == {"code", "message", "request_id"}
            except (ValueError, KeyError, TypeError):
                shaped = False
            unchanged = fingerprint() == before
            t.record(
                f"viewer {name}",
                status in expected and shaped and unchanged,
                f"HTTP {status}{'' if shaped else ' (not the JSON error shape)'}"
                f"{'' if unchanged else ' (the library changed)'}: {text[:80]}",
            )
        status, text = send(port, "POST", f"/api/prompts/{target}/rate", page, good)
        t.record("viewer own page rates", status == 200 and fingerprint() != before, f"HTTP {status}: {text[:80]}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    return t.row()


# ------------------------------------------------------------------------------------------------ input probes


def input_probes(base: Path) -> dict:
    """Control characters on the CLI and in import files, users' regexes that backtrack catastrophically, database
    passwords under --debug, doctor's PostgreSQL URL, leftovers of a killed backup and what an editor leaves."""
    t = Tally()
    home = fresh_library(base, "inputs")
    db = home / "prompts.db"
    pid = sqlite3.connect(db).execute("SELECT id FROM prompts LIMIT 1").fetchone()[0]
    # argv cannot carry NUL: it comes on stdin; the other control characters come as arguments
    for name, args, stdin in [
        ("idea of only NUL", ["generate", *SCRIPTED], b"\x00"),
        ("NUL inside an idea", ["generate", *SCRIPTED], b"plan a\x00 trip"),
        ("idea of only C0 and DEL", ["generate", "\x01\x1b\x7f", *SCRIPTED], None),
        ("control character in a tag", ["generate", "plan a trip", *SCRIPTED, "--tags", "a\x07"], None),
        ("control character in new content", ["update", pid, "--content", "new\x01text"], None),
        ("control character in notes", ["update", pid, "--notes", "n\x7f"], None),
        ("control character in a search", ["search", "a\x1bb", "--mode", "text"], None),
        ("control character in a rating comment", ["rate", pid, "4", "--comment", "c\x02"], None),
    ]:
        before = state(home)
        proc = cli(home, *args, stdin=stdin)
        ok, detail = one_clean_line(proc, codes=(2,))
        t.record(name, ok and state(home) == before, detail)
    rows = base / "nul-rows.jsonl"
    rows.write_text(
        json.dumps({"content": "bad \u0000 row"}) + "\n" + json.dumps({"content": "a good row"}) + "\n",
        encoding="utf-8",
    )
    proc = cli(home, "import", str(rows), "-o", "json")
    report = json.loads(proc.stdout or b"{}")
    t.record(
        "import names the NUL row and keeps the good one",
        report.get("imported") == 1 and "line 1: invalid content" in " ".join(report.get("errors", [])),
        proc.stderr.decode()[-150:],
    )
    # users' regexes: each run ends (a non-match or one clear error) well inside the timeout
    for pattern in ("(?:.|\\w)*QQQZ", "(a+)+$", "(?:(?:.|\\w)+)+\\d{9}"):
        examples = base / "regex.jsonl"
        examples.write_text(
            json.dumps({"input": "hot weather today", "expected": pattern, "match": "regex", "split": "heldout"})
            + "\n"
            + json.dumps({"input": "cold", "expected": "cold", "split": "propose"})
            + "\n",
            encoding="utf-8",
        )
        proc = cli(
            home,
            "optimize",
            "--prompt",
            "Describe the weather: {input}",
            "--task",
            "weather",
            "--examples",
            str(examples),
            "--metric",
            "accuracy",
            "--max-iterations",
            "1",
            "--provider",
            "scripted",
            "--task-provider",
            "scripted",
            "--no-save",
            timeout=60,
            PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__RESPONSES=json.dumps(["hot weather today " * 20]),
        )
        ok = proc.returncode == 0 or one_clean_line(proc, codes=(2,))[0]
        t.record(f"regex {pattern}", ok, f"exit {proc.returncode}: {proc.stderr.decode()[-150:]}")
    for url in (
        "mysql://alice:Aud1tSecret@db.example/lib",
        "postgresql://alice:Aud1tSecret@[bad/lib",
        "postgresql://alice:Aud1t%Secret@127.0.0.1:9/lib",
    ):
        proc = cli(home, "--debug", "list", PROMPT_ALCHEMY_DATABASE_URL=url)
        out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        t.record(f"--debug masks {url.split(':')[0]} password", "Aud1t" not in out, out[-150:])
    proc = cli(
        home,
        "doctor",
        "-o",
        "json",
        timeout=180,
        PROMPT_ALCHEMY_DATABASE_URL="postgresql://alice:Aud1tSecret@127.0.0.1:9/lib",
    )
    text = proc.stdout.decode("utf-8", "replace")
    t.record(
        "doctor shows the URL whole, masked",
        "postgresql://alice:****@127.0.0.1:9/lib" in text and "postgresql:/alice" not in text and "Aud1t" not in text,
        text[-150:],
    )
    # what a backup killed mid-copy leaves (a copy with a hot journal nobody holds) is removed by the next backup
    folder = home / "backups"
    folder.mkdir(exist_ok=True)
    copy = folder / "prompts-20200101T000000000000Z.db.partial"
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    (folder / (copy.name + "-journal")).write_bytes(b"\0" * 512)
    proc = cli(home, "db", "backup", "-o", "json")
    leftovers = [p.name for p in folder.iterdir() if ".partial" in p.name]
    t.record("killed backup's partial and journal removed", proc.returncode == 0 and not leftovers, str(leftovers))
    # update --edit: an editor that leaves invalid UTF-8, or a directory
    for name, body in [
        ("invalid UTF-8", "open(path, 'wb').write(b'x \\xff y')"),
        ("a directory", "os.remove(path); os.mkdir(path)"),
    ]:
        editor = base / "editor.py"
        editor.write_text(f"#!{sys.executable}\nimport os, sys\npath = sys.argv[1]\n{body}\n", encoding="utf-8")
        editor.chmod(0o755)
        before = state(home)
        proc = cli(home, "update", pid, "--edit", EDITOR=str(editor), VISUAL="")
        ok, detail = one_clean_line(proc, codes=(2,))
        t.record(f"update --edit leaves {name}", ok and state(home) == before, detail)
    return t.row()


# ------------------------------------------------------------------------------------------------ server hardening


def server_probes(base: Path) -> dict:
    """The team server against the cases of the last audit: bodies past the cap (announced, and chunked without an
    end) answered 413 JSON before they are sent; 3,000 made-up methods and paths do not grow /metrics; Host with
    user info refused (421 JSON), Origin likewise (403); the manifests' probes and scrape answer a pod-IP Host with
    the manifests' ConfigMap; no server folder in /api/v1/metrics or MCP optimize errors; SIGTERM under a 50-client
    MCP burst, with the server's stderr pipe unread, ends the process within 10 s."""
    import socket
    import uuid

    import yaml

    t = Tally()
    home = fresh_library(base, "server")
    kube = ROOT / "deploy" / "kubernetes"
    docs = {d["kind"]: d for p in sorted(kube.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text("utf-8"))}
    config = base / "kube-config.yaml"
    config.write_text(docs["ConfigMap"]["data"]["config.yaml"], encoding="utf-8")

    def start(*extra: str, **env: str) -> tuple[subprocess.Popen, int]:
        proc = subprocess.Popen(
            CLI + ["serve", "--transport", "http", "--port", "0", *extra],
            env=env_for(home, **env),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in iter(proc.stderr.readline, ""):  # then the pipe is left unread, as a careless supervisor does
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/mcp", line)
            if m:
                return proc, int(m.group(1))
        raise RuntimeError("server did not start")

    def request(
        port: int,
        method: str,
        path: str,
        *,
        host: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host or f"127.0.0.1:{port}")
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def is_json_error(body: bytes, code: str) -> bool:
        try:
            return json.loads(body)["error"]["code"] == code
        except (ValueError, KeyError, TypeError):
            return False

    def early_413(port: int, path: str, *, chunked: bool, cap: int) -> tuple[bool, str]:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {600 << 20}"
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Accept: application/json, text/event-stream\r\n{framing}\r\n\r\n".encode()
            )
            if chunked:
                piece = b"40000\r\n" + b"x" * 0x40000 + b"\r\n"
                with contextlib.suppress(OSError):
                    for _ in range(cap // 0x40000 + 4):  # just past the cap, and the body never ends
                        sock.sendall(piece)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        _, _, body = data.partition(b"\r\n\r\n")
        return data.startswith(b"HTTP/1.1 413") and is_json_error(body, "payload_too_large"), repr(data[:120])

    def mcp_call(port: int, tool: str, arguments: dict) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "audit", "version": "1"},
            },
        }
        _, h, _ = request(port, "POST", "/mcp", body=json.dumps(init).encode(), headers=headers)
        headers |= {"Mcp-Session-Id": h["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
        request(port, "POST", "/mcp", body=b'{"jsonrpc":"2.0","method":"notifications/initialized"}', headers=headers)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        return request(port, "POST", "/mcp", body=json.dumps(call).encode(), headers=headers)[2].decode()

    proc, port = start()
    try:
        for path, cap in (("/api/v1/import", 24 << 20), ("/mcp", 4 << 20)):
            for chunked in (False, True):
                try:
                    ok, detail = early_413(port, path, chunked=chunked, cap=cap)
                except Exception as exc:  # noqa: BLE001 - a hang is the failure
                    ok, detail = False, repr(exc)[:120]
                t.record(f"{path} body past the cap, {'chunked' if chunked else 'announced'}", ok, detail)
        for path in ("/metrics", "/api/v1/nowhere", "/nowhere"):
            request(port, "BREW", path)
        request(port, "GET", "/metrics")
        before = request(port, "GET", "/metrics")[2].decode()
        statuses = set()
        for i in range(3000):
            path = f"/api/v1/{uuid.uuid4().hex}" if i % 2 else f"/{uuid.uuid4().hex}/{i}"
            statuses.add(request(port, f"X{uuid.uuid4().hex[:8].upper()}", path)[0])
        after = request(port, "GET", "/metrics")[2].decode()
        series = lambda text: [x for x in text.splitlines() if x.startswith("prompt_alchemy_http_")]  # noqa: E731
        t.record(
            "3,000 made-up methods and paths",
            len(series(after)) == len(series(before)) and max(statuses) < 500,
            f"{len(before)} -> {len(after)} bytes, statuses {sorted(statuses)}",
        )
        for path in ("/health", "/metrics", "/api/v1/prompts", "/mcp"):
            for host in (f"127.0.0.1:{port}@evil.example", f"127.0.0.1.evil.example:{port}", "evil.example"):
                status, _, body = request(port, "GET", path, host=host)
                t.record(
                    f"{path} Host {host}",
                    status == 421 and is_json_error(body, "misdirected_request"),
                    f"HTTP {status}",
                )
            status, _, body = request(port, "GET", path, headers={"Origin": f"http://127.0.0.1:{port}@evil.example"})
            t.record(
                f"{path} Origin with user info", status == 403 and is_json_error(body, "forbidden"), f"HTTP {status}"
            )
        status, _, body = request(port, "GET", "/api/v1/metrics")
        t.record(
            "/api/v1/metrics names no path",
            status == 200 and str(home).encode() not in body and b'"path"' not in body,
            f"HTTP {status}",
        )
        for name in ("missing.jsonl", "../../etc/passwd", "a/b.jsonl"):
            text = mcp_call(
                port, "optimize_prompt", {"task": "explain", "prompt": "Explain it.", "examples_file": name}
            )
            t.record(
                f"optimize_prompt examples_file {name}",
                '"isError":true' in text.replace(" ", "") and str(home) not in text and "/examples" not in text,
                text[:150],
            )
    finally:
        proc.kill()
        proc.wait()

    # the manifests' probes and scrape, with the manifests' ConfigMap, from a pod-IP Host
    template = docs["Deployment"]["spec"]["template"]
    container = template["spec"]["containers"][0]
    kport = container["ports"][0]["containerPort"]
    paths = [container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")]
    paths.append(template["metadata"]["annotations"]["prometheus.io/path"])
    proc, port = start(PROMPT_ALCHEMY_CONFIG=str(config))
    try:
        for path in paths:
            status, _, _ = request(port, "GET", path, host=f"10.244.1.17:{kport}")
            t.record(f"manifest path {path} from a pod IP", status == 200, f"HTTP {status}")
        for path in paths[:2]:
            status, _, _ = request(port, "GET", path, host="evil.example")
            t.record(f"probe {path} from any Host", status == 200, f"HTTP {status}")
    finally:
        proc.kill()
        proc.wait()

    # SIGTERM under a 50-client MCP burst, the server's stderr pipe never read after start
    proc, port = start()
    stop = threading.Event()
    calls = [0]

    def client(i: int) -> None:
        with contextlib.suppress(Exception):
            while not stop.is_set():
                mcp_call(port, "search_prompts", {"query": f"picnic plan {i}", "limit": 5})
                calls[0] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(50)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 120
    while calls[0] < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
        exited = True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        exited = False
    stop.set()
    took = time.monotonic() - started
    t.record(
        "SIGTERM under a 50-client burst",
        exited and took <= 10 and calls[0] >= 300,
        f"{calls[0]} calls before; exit {proc.returncode} after {took:.1f} s",
    )
    return t.row()


def main() -> None:
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="pa-audit-"))
    try:
        table = {}
        for name, fn in (
            ("bad CLI inputs", bad_cli_inputs),
            ("bad MCP messages", bad_mcp_messages),
            ("kills", kills),
            ("concurrency", concurrency),
            ("secret sentinels", secret_sentinels),
            ("HTTP probes", http_probes),
            ("two replicas on PostgreSQL", pg_concurrency_probes),
            ("viewer", viewer_probes),
            ("inputs", input_probes),
            ("server hardening", server_probes),
        ):
            t0 = time.perf_counter()
            table[name] = fn(base)
            table[name]["wall_s"] = round(time.perf_counter() - t0, 1)
        totals = {k: sum(row[k] for row in table.values()) for k in ("tried", "handled_cleanly", "failures")}
        print(
            json.dumps({"audit": table, "totals": totals, "wall_s": round(time.perf_counter() - started, 1)}, indent=2)
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
