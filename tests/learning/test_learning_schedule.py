"""Scheduled training: in the server process when `learning.schedule` comes (an injectable clock), made up on
start after a missed night, never twice a night; and as a cron entry for CLI users."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from learning_testkit import (  # noqa: F401
    library_rows,
    make_service,
    rate_all,
    sim_db,
    sim_home,
    sim_pg,
    sim_prompts,
    store_prompts,
)
from testkit import CLI, ROOT, parse_json

from prompt_alchemy.ranking.schedule import CRON_MARKER, is_due, last_slot, next_slot
from prompt_alchemy.server.schedule import run_learning_loop

pytestmark = pytest.mark.usefixtures("backend")


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return self.now


def local(*args: int) -> datetime:
    return datetime(*args).astimezone()


async def wait_for(condition, what: str, limit: float = 120.0) -> None:
    """Yield to the scheduler until `condition()` holds (the limit only turns a hang into a failure)."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        await asyncio.sleep(0.01)


def _models(home) -> list[dict]:
    return library_rows(home, "SELECT version, status, active, trigger FROM models ORDER BY version")


@pytest.mark.sqlite_only("no library: slot arithmetic")
def test_slots():
    now = local(2030, 1, 1, 1, 59)
    assert last_slot(now, "02:00") == local(2029, 12, 31, 2, 0)
    assert next_slot(now, "02:00") == local(2030, 1, 1, 2, 0)
    assert last_slot(local(2030, 1, 1, 2, 0), "02:00") == local(2030, 1, 1, 2, 0)
    started = local(2030, 1, 1, 1, 0)
    assert not is_due(now, "02:00", None, started)
    assert is_due(local(2030, 1, 1, 2, 0, 5), "02:00", None, started)
    assert not is_due(local(2030, 1, 1, 3, 0), "02:00", local(2030, 1, 1, 2, 0, 5), started)
    assert is_due(local(2030, 1, 1, 9, 0), "02:00", local(2029, 12, 30, 2, 0), started)  # a missed night


async def test_training_runs_when_its_time_comes(sim_home):
    service = make_service(**{"learning.schedule": "02:00"})
    clock = FakeClock(local(2030, 1, 1, 1, 59))
    task = asyncio.create_task(run_learning_loop(service, clock=clock, poll=0.01))
    try:
        await wait_for(lambda: clock.reads >= 30, "the scheduler to poll")
        assert _models(sim_home) == [] and service.store.last_maintenance("train") is None

        clock.now = local(2030, 1, 1, 2, 0, 30)
        await wait_for(lambda: len(_models(sim_home)) == 1, "the nightly training")
        assert _models(sim_home) == [{"version": 1, "status": "adopted", "active": 1, "trigger": "schedule"}]
        assert service.store.last_maintenance("train") == clock.now
        assert service.ranker.learned is not None and service.ranker.learned.version == 1

        clock.now = local(2030, 1, 1, 2, 45)  # later the same night: no second run
        reads = clock.reads
        await wait_for(lambda: clock.reads >= reads + 30, "the scheduler to poll")
        assert len(_models(sim_home)) == 1

        clock.now = local(2030, 1, 2, 2, 0, 1)  # the next night: trains again (same data: not better, kept)
        await wait_for(lambda: len(_models(sim_home)) == 2, "the second night's training")
        assert _models(sim_home)[1] == {"version": 2, "status": "rejected", "active": 0, "trigger": "schedule"}
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await service.aclose()


async def test_a_missed_night_is_made_up_on_start(sim_home):
    service = make_service()
    now = local(2030, 1, 3, 10, 0)
    service.store.record_maintenance("train", now - timedelta(days=2), "v0 adopted")
    clock = FakeClock(now)
    task = asyncio.create_task(run_learning_loop(service, clock=clock, poll=0.01))
    try:
        await wait_for(lambda: len(_models(sim_home)) == 1, "the make-up training")
        assert _models(sim_home)[0]["trigger"] == "schedule"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await service.aclose()


async def test_the_server_picks_up_a_model_trained_by_another_process(sim_home):
    server_side = make_service()
    assert server_side.ranker.learned is None
    clock = FakeClock(local(2030, 1, 1, 10, 0))
    task = asyncio.create_task(run_learning_loop(server_side, clock=clock, poll=0.01))
    try:
        await wait_for(lambda: clock.reads >= 5, "the scheduler to start")
        other = make_service()  # e.g. `prompt-alchemy train` or the cron entry
        report = await other.train(now=local(2030, 1, 1, 10, 5))
        await other.aclose()
        assert report.adopted
        await wait_for(lambda: server_side.ranker.learned is not None, "the server to load the new model")
        assert server_side.ranker.learned.version == 1
        assert [m["trigger"] for m in _models(sim_home)] == ["cli"]  # the server did not train again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server_side.aclose()


async def test_replicas_on_one_library_train_once_a_night(sim_home):
    """Two servers (replicas) sharing the library wake at the same slot: one trains (holding the store's training
    lock), the other sees the lock taken or the night's run recorded, and loads the model the first one trained."""
    replicas = [make_service(**{"learning.schedule": "02:00"}) for _ in range(2)]
    clocks = [FakeClock(local(2030, 1, 1, 1, 59)) for _ in replicas]
    tasks = [asyncio.create_task(run_learning_loop(s, clock=c, poll=0.01)) for s, c in zip(replicas, clocks)]
    try:
        await wait_for(lambda: all(c.reads >= 5 for c in clocks), "the schedulers to start")
        for clock in clocks:
            clock.now = local(2030, 1, 1, 2, 0, 30)
        await wait_for(lambda: all(s.ranker.learned is not None for s in replicas), "both replicas to use a model")
        reads = [c.reads for c in clocks]
        await wait_for(lambda: all(c.reads >= r + 30 for c, r in zip(clocks, reads)), "the schedulers to poll")
        assert _models(sim_home) == [{"version": 1, "status": "adopted", "active": 1, "trigger": "schedule"}]
        assert [s.ranker.learned.version for s in replicas] == [1, 1]
        assert not any(t.done() for t in tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for service in replicas:
            await service.aclose()


async def test_too_little_feedback_is_skipped_once_a_night(home):
    train, _ = sim_prompts()
    service = make_service()
    store_prompts(service, train[:10])
    rate_all(service, train[:5])
    clock = FakeClock(local(2030, 1, 1, 1, 59))
    task = asyncio.create_task(run_learning_loop(service, clock=clock, poll=0.01))
    try:
        await wait_for(lambda: clock.reads >= 5, "the scheduler to start")
        clock.now = local(2030, 1, 1, 2, 1)
        await wait_for(lambda: service.store.last_maintenance("train") is not None, "the attempt")
        reads = clock.reads
        await wait_for(lambda: clock.reads >= reads + 30, "the scheduler to poll")
        assert service.store.last_maintenance("train") == local(2030, 1, 1, 2, 1)
        detail = (await service.learning_status())["last_attempt"]["detail"]
        assert detail.startswith("skipped: training needs at least 20")
        assert _models(home) == [] and not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await service.aclose()


async def test_no_schedule_means_no_training(home):
    """Without a schedule the loop only watches for models trained elsewhere; it never trains, and it creates no
    library."""
    service = make_service(**{"learning.schedule": None})
    clock = FakeClock(local(2030, 1, 1, 2, 0))
    task = asyncio.create_task(run_learning_loop(service, clock=clock, poll=0.01))
    try:
        await wait_for(lambda: clock.reads >= 20, "the loop to poll")
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await service.aclose()
    assert not (home / "prompts.db").exists()


async def test_learning_off_means_no_loop(home):
    service = make_service(**{"learning.enabled": False})
    await asyncio.wait_for(run_learning_loop(service, clock=FakeClock(local(2030, 1, 1, 2, 0))), 30)
    await service.aclose()
    assert not (home / "prompts.db").exists()


def test_the_server_process_trains_on_schedule(sim_home):
    """`prompt-alchemy serve` runs the scheduler: a night missed while it was down is made up when it starts."""
    service = make_service()
    service.store.record_maintenance("train", datetime.now().astimezone() - timedelta(days=2), "v0 adopted")
    asyncio.run(service.aclose())
    server = subprocess.Popen(
        CLI + ["serve", "--transport", "http", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 240
        while not _models(sim_home):
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < end, "the server did not train"
            time.sleep(0.2)
        assert _models(sim_home)[0]["trigger"] == "schedule"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ------------------------------------------------------------------------------------------------ cron


@pytest.mark.sqlite_only("the URL is given by hand")
def test_a_url_with_a_password_is_never_written_into_the_crontab(home, cli, tmp_path):
    tab = tmp_path / "crontab"
    proc = cli(
        "train",
        "--install-schedule",
        "--crontab-file",
        str(tab),
        env={"PROMPT_ALCHEMY_DATABASE_URL": "postgresql://team:s3cret-pw@127.0.0.1:5/prompts"},
    )
    assert proc.returncode == 2 and "~/.pgpass" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "s3cret-pw" not in proc.stdout + proc.stderr and not tab.exists()


@pytest.mark.sqlite_only("crontab handling")
def test_install_and_uninstall_keep_other_crontab_lines(home, cli, tmp_path):
    tab = tmp_path / "crontab"
    others = "MAILTO=me@example.com\n# my backups\n30 3 * * * /usr/bin/backup --all\n"
    tab.write_text(others)
    data = parse_json(cli("train", "--install-schedule", "--crontab-file", str(tab), "-o", "json"))
    assert data["installed"] and not data["replaced"] and data["schedule"] == "02:00"
    lines = tab.read_text().splitlines()
    assert lines[:3] == others.splitlines() and len(lines) == 4
    entry = lines[3]
    assert entry.startswith("0 2 * * * ") and entry.endswith(CRON_MARKER)
    assert f"PROMPT_ALCHEMY_HOME={home}" in entry and "-m prompt_alchemy train --trigger cron" in entry
    assert "training.log" in entry and "API_KEY" not in entry

    again = cli(
        "train", "--install-schedule", "--crontab-file", str(tab), env={"PROMPT_ALCHEMY_LEARNING__SCHEDULE": "23:15"}
    )
    assert again.returncode == 0 and "replaced" in again.stdout
    lines = tab.read_text().splitlines()
    assert len(lines) == 4 and lines[3].startswith("15 23 * * * ")

    gone = cli("train", "--uninstall-schedule", "--crontab-file", str(tab))
    assert gone.returncode == 0 and "removed" in gone.stdout
    assert tab.read_text() == others
    before = tab.stat().st_mtime_ns
    nothing = cli("train", "--uninstall-schedule", "--crontab-file", str(tab))
    assert nothing.returncode == 0 and "nothing changed" in nothing.stdout
    assert tab.read_text() == others and tab.stat().st_mtime_ns == before


def test_the_installed_entry_trains(sim_home, cli, tmp_path, backend, request):
    """Run the installed line's command the way cron would (sh, no PROMPT_ALCHEMY_* in the environment)."""
    tab = tmp_path / "crontab"
    assert cli("train", "--install-schedule", "--crontab-file", str(tab)).returncode == 0
    entry = tab.read_text().splitlines()[0]
    command = entry.split(" ", 5)[5].replace("\\%", "%")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
    subprocess.run(["sh", "-c", command], env=env, cwd=tmp_path, check=True, timeout=300)
    assert _models(sim_home) == [{"version": 1, "status": "adopted", "active": 1, "trigger": "cron"}]
    assert "adopted" in (sim_home / "training.log").read_text()


@pytest.fixture
def fake_crontab(tmp_path):
    """A stand-in `crontab` command on PATH (-l and -), keeping the table in a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    store = tmp_path / "user-crontab"
    script = bin_dir / "crontab"
    script.write_text(f"""#!{sys.executable}
import sys, pathlib
store = pathlib.Path({str(store)!r})
if sys.argv[1:] == ["-l"]:
    if not store.exists():
        sys.stderr.write("no crontab for tester\\n")
        sys.exit(1)
    sys.stdout.write(store.read_text())
elif sys.argv[1:] == ["-"]:
    store.write_text(sys.stdin.read())
else:
    sys.exit(2)
""")
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}, store


@pytest.mark.sqlite_only("crontab handling")
def test_the_crontab_command_is_used_without_a_file(home, cli, fake_crontab):
    env, store = fake_crontab
    proc = cli("train", "--install-schedule", env=env)
    assert proc.returncode == 0 and "user crontab" in proc.stdout
    assert store.read_text().rstrip().endswith(CRON_MARKER) and store.read_text().count("\n") == 1
    proc = cli("train", "--uninstall-schedule", env=env)
    assert proc.returncode == 0 and store.read_text() == ""


@pytest.mark.sqlite_only("crontab handling")
def test_cron_errors(home, cli, tmp_path):
    empty = tmp_path / "nobin"
    empty.mkdir()
    proc = cli("train", "--install-schedule", env={"PATH": str(empty)})
    assert proc.returncode == 1 and "'crontab' command is not installed" in proc.stderr
    tab = tmp_path / "crontab"
    proc = cli(
        "train", "--install-schedule", "--crontab-file", str(tab), env={"PROMPT_ALCHEMY_LEARNING__SCHEDULE": "null"}
    )
    assert proc.returncode == 2 and "learning.schedule is not set" in proc.stderr and not tab.exists()
    proc = cli("train", "--install-schedule", "--uninstall-schedule")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    proc = cli("train", "--dry-run", "--install-schedule", "--crontab-file", str(tab))
    assert proc.returncode == 2 and not tab.exists()
    bad = cli("learning", "status", env={"PROMPT_ALCHEMY_LEARNING__SCHEDULE": "25:00"})
    assert bad.returncode == 2 and "HH:MM" in bad.stderr
