"""The SQLite store's `exclusive(task)` lock across real processes: held by one process, refused to another, and
dropped when the holder is killed (no cleanup code runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prompt_alchemy.storage.sqlite import SQLiteStore

HOLD = """
import sys
from prompt_alchemy.storage.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
with store.exclusive("train") as mine:
    print("held" if mine else "refused", flush=True)
    sys.stdin.readline()
"""


def test_another_process_holding_a_task_refuses_it_until_it_dies(tmp_path: Path) -> None:
    db = tmp_path / "lib.db"
    SQLiteStore(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    store = SQLiteStore(db)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with store.exclusive("train") as mine:
            assert not mine
        with store.exclusive("vacuum") as other_task:
            assert other_task
        holder.kill()
        holder.wait()
        with store.exclusive("train") as mine:
            assert mine
            second = subprocess.run(
                [sys.executable, "-c", HOLD, str(db)], input="\n", capture_output=True, text=True, timeout=120
            )
            assert second.stdout.strip() == "refused", second.stderr
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        store.close()


def test_no_module_locks_files_with_posix_only_calls() -> None:
    """File locks go through prompt_alchemy.filelocks (portable); fcntl does not exist on Windows."""
    import prompt_alchemy

    src = Path(prompt_alchemy.__file__).parent
    users = [str(p.relative_to(src)) for p in src.rglob("*.py") if "fcntl" in p.read_text(encoding="utf-8")]
    assert users == []
