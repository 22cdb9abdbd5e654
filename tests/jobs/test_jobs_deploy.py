"""The Kubernetes manifests for separate roles, checked offline: an API Deployment (`--role api`), a worker
Deployment (`--role worker`) with its own probes, and an HPA that scales the workers on the queue depth that
/metrics exports. The schema check of every manifest is tests/api/test_deploy.py's; here, what ties them."""

from __future__ import annotations

from pathlib import Path

import yaml

KUBE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def _docs() -> list[dict]:
    return [d for p in sorted(KUBE.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))]


def test_api_and_worker_roles_with_probes_and_an_autoscaler_on_queue_depth():
    import kubernetes_validate

    for doc in yaml.safe_load_all((KUBE / "worker.yaml").read_text(encoding="utf-8")):
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    deployments = {d["metadata"]["name"]: d for d in _docs() if d["kind"] == "Deployment"}
    api = deployments["prompt-alchemy"]["spec"]["template"]["spec"]["containers"][0]
    worker_dep = deployments["prompt-alchemy-worker"]
    worker = worker_dep["spec"]["template"]["spec"]["containers"][0]
    assert api["args"][:2] == ["--role", "api"] and worker["args"][:2] == ["--role", "worker"]
    for container in (api, worker):
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    hpa = next(d for d in _docs() if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "prompt-alchemy-worker"
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "prompt_alchemy_job_queue_depth"
    assert worker_dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_worker_role_serves_its_probes_and_queue_depth(tmp_path, postgres_url):
    """`serve --role worker --transport http`: /livez, /readyz and /metrics answer, and SIGTERM stops it."""
    import os
    import re
    import subprocess
    import time

    import httpx
    from testkit import SCRIPT, SCRIPTED

    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
    env.update(
        SCRIPTED,
        PROMPT_ALCHEMY_HOME=str(tmp_path),
        PROMPT_ALCHEMY_DATABASE_URL=postgres_url,
        PROMPT_ALCHEMY_LEARNING__ENABLED="false",
    )
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [
            str(SCRIPT),
            "serve",
            "--role",
            "worker",
            "--transport",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--log-file",
            str(log),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, match = time.monotonic() + 60, None
        while match is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            match = re.search(r"worker probes on (http://127\.0\.0\.1:\d+)", log.read_text() if log.exists() else "")
        assert match, (log.read_text() if log.exists() else "") + (proc.stderr.read() if proc.poll() else "")
        with httpx.Client(base_url=match.group(1), timeout=10) as client:
            assert client.get("/livez").status_code == 200
            assert client.get("/readyz").json() == {"status": "ok", "checks": {"database": "ok"}}
            assert re.search(r"^prompt_alchemy_job_queue_depth 0(\.0)?$", client.get("/metrics").text, re.M)
        while "item(s) at a time" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker itself has started (its probes answer first), so it can say it stopped
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        assert "stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
