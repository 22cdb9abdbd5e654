"""Real services for the scale-out tests and benchmarks/bench_scale.py, all on 127.0.0.1: Debian's `redis-server`
and `haproxy`, and `prompt-alchemy serve` replicas on fixed ports (so HAProxy can name them and a restarted replica
comes back where it was). Binaries are found on PATH; when missing, scripts/test-services.sh installs them (root
with apt-get, as in CI), and only when that fails is a test skipped, naming the binary."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
SCRIPTED = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}
_BINARIES = {"redis-server": "/usr/bin/redis-server", "haproxy": "/usr/sbin/haproxy"}


def find_binary(name: str) -> str | None:
    """The path of `name` (redis-server, haproxy), installing it with scripts/test-services.sh when missing; None
    when it is missing and cannot be installed."""
    found = shutil.which(name) or (_BINARIES[name] if os.path.exists(_BINARIES[name]) else None)
    if found:
        return found
    subprocess.run(["bash", str(ROOT / "scripts" / "test-services.sh")], capture_output=True, timeout=600)
    return shutil.which(name) or (_BINARIES[name] if os.path.exists(_BINARIES[name]) else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}")


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RedisServer:
    """A redis-server of its own: 127.0.0.1 on a free port, nothing saved to disk."""

    def __init__(self, binary: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, self.proc, "redis-server")

    def stop(self) -> None:
        _stop(self.proc)


class Replica:
    """One `prompt-alchemy serve --transport http` process on a fixed port, in its own home, on a shared library."""

    def __init__(
        self, home: Path, env: dict[str, str], *, role: str = "all", concurrency: int = 2, wait: bool = True
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home, self.port, self.role, self.concurrency = home, free_port(), role, concurrency
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "serve.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
        self.env.update(SCRIPTED, PROMPT_ALCHEMY_HOME=str(home), **env)
        self.proc: subprocess.Popen | None = None
        self.start(wait=wait)

    @classmethod
    def many(cls, homes: list[Path], env: dict[str, str], **options) -> list[Replica]:
        """Replicas started at once (their start-ups overlap), returned when every one is ready."""
        replicas = [cls(home, env, wait=False, **options) for home in homes]
        for replica in replicas:
            replica.wait_ready()
        return replicas

    def start(self, *, wait: bool = True) -> None:
        self.proc = subprocess.Popen(
            [
                str(SCRIPT),
                "serve",
                "--transport",
                "http",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--role",
                self.role,
                "--concurrency",
                str(self.concurrency),
                "--log-file",
                str(self.log),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        import httpx

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica on {self.port} exited {self.proc.returncode}: {self.tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"replica on {self.port} not ready: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8")[-2000:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no goodbye, whatever it holds is abandoned."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM: stop accepting, finish what is in flight, exit."""
        if self.proc is not None:
            _stop(self.proc)

    @staticmethod
    def stop_all(replicas: list[Replica]) -> None:
        """SIGTERM to every replica at once, then wait for each (their shutdowns overlap)."""
        for replica in replicas:
            if replica.proc is not None and replica.proc.poll() is None:
                replica.proc.terminate()
        for replica in replicas:
            if replica.proc is not None:
                _stop(replica.proc)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=120)


HAPROXY_CONFIG = """\
global
    maxconn 512
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout queue 30s
    # a request that found its replica gone (refused, reset before any answer) goes to another replica
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response 503
    option http-server-close

frontend api
    bind 127.0.0.1:{port}
    default_backend replicas

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats

backend replicas
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    # a probe may take a while on a loaded machine: wait for it; two failed probes take a replica out
    timeout check 3s
    default-server inter 500ms fall 2 rise 1
{servers}
"""


class HAProxy:
    """Debian's haproxy in the foreground, balancing `replicas` (their ports) on 127.0.0.1."""

    def __init__(self, binary: str, folder: Path, ports: list[int]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port, self.stats_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(ports))
        self.config = folder / "haproxy.cfg"
        self.config.write_text(
            HAPROXY_CONFIG.format(port=self.port, stats_port=self.stats_port, servers=servers), encoding="utf-8"
        )
        check = subprocess.run([binary, "-c", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("haproxy rejected its configuration: " + check.stdout + check.stderr)
        self.log = folder / "haproxy.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(self.config)], stdout=self._out, stderr=subprocess.STDOUT
        )
        wait_port(self.port, self.proc, "haproxy")

    def server_status(self) -> dict[str, str]:
        """Each replica's state in HAProxy's rotation ({"r0": "UP", "r1": "DOWN", ...}), from its stats page."""
        import csv
        import io

        import httpx

        text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5).text.lstrip("# ")
        return {
            row["svname"]: row["status"].split()[0]
            for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_up(self, name: str, timeout: float = 30) -> None:
        """Until HAProxy has replica `name` (r0, r1, ...) back in its rotation."""
        deadline = time.monotonic() + timeout
        while self.server_status().get(name) != "UP":
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy did not put {name} back in rotation: {self.server_status()}")
            time.sleep(0.05)

    def stop(self) -> None:
        _stop(self.proc)
        self._out.close()


def shared_env(
    database_url: str, *, latency: float, redis_url: str | None = None, stalled_after: float | None = None
) -> dict[str, str]:
    """The settings every replica shares: one PostgreSQL library, the scripted provider with `latency` seconds per
    call, no learning loop, and optionally the Redis cache and a shorter wait before a dead worker's items go back
    on the queue (server.worker_stalled_after)."""
    env = {
        "PROMPT_ALCHEMY_DATABASE_URL": database_url,
        "PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY": str(latency),
        "PROMPT_ALCHEMY_GENERATION__EMBEDDING_PROVIDER": "scripted",
        "PROMPT_ALCHEMY_LEARNING__ENABLED": "false",
    }
    if stalled_after is not None:
        env["PROMPT_ALCHEMY_SERVER__WORKER_STALLED_AFTER"] = str(stalled_after)
    if redis_url:
        env["PROMPT_ALCHEMY_CACHE__URL"] = redis_url
    return env
