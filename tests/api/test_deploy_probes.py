"""The Kubernetes manifests' probes and Prometheus scrape, run against a real server configured with the manifests'
ConfigMap: kubelet and Prometheus send the pod's IP as the Host (`10.244.1.17:PORT`), so the paths the Deployment
names must answer such a Host, while a foreign name still gets the JSON 421."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

KUBE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
POD_IP = "10.244.1.17"


def _docs() -> dict[str, dict]:
    return {d["kind"]: d for p in sorted(KUBE.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text("utf-8"))}


def _probe_targets() -> tuple[dict[str, str], int]:
    """{probe name or 'scrape': path} and the container port they name."""
    deployment = _docs()["Deployment"]["spec"]["template"]
    container = deployment["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    paths, port_names = {}, set()
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in container:
            paths[probe] = container[probe]["httpGet"]["path"]
            port_names.add(container[probe]["httpGet"]["port"])
    annotations = deployment["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    paths["scrape"] = annotations["prometheus.io/path"]
    numbers = {ports.get(p, p) for p in port_names} | {int(annotations["prometheus.io/port"])}
    assert len(numbers) == 1, numbers
    return paths, int(numbers.pop())


def test_the_manifests_probes_answer_a_pod_ip_host(make_server, tmp_path):
    paths, port = _probe_targets()
    assert {"livenessProbe", "readinessProbe", "scrape"} <= set(paths)
    assert paths["livenessProbe"] != paths["readinessProbe"]  # a database outage must not restart the pods
    config = tmp_path / "config.yaml"
    config.write_text(_docs()["ConfigMap"]["data"]["config.yaml"], encoding="utf-8")
    server = make_server("kube", {"PROMPT_ALCHEMY_CONFIG": str(config)})
    with server.client() as c:
        for name, path in paths.items():
            r = c.get(path, headers={"Host": f"{POD_IP}:{port}"})
            assert r.status_code == 200, (name, path, r.status_code, r.text)
        scrape = c.get(paths["scrape"], headers={"Host": f"{POD_IP}:{port}"})
        assert "prompt_alchemy_http_requests_total" in scrape.text
        # the ConfigMap requires keys: the API is still closed to the pod-IP Host without one
        assert c.get("/api/v1/prompts", headers={"Host": f"{POD_IP}:{port}"}).status_code == 401
        # and a name that is not the service's is still refused, as JSON
        refused = c.get(paths["scrape"], headers={"Host": f"evil.example:{port}"})
        assert refused.status_code == 421 and refused.json()["error"]["code"] == "misdirected_request"
        for probe in ("livenessProbe", "readinessProbe"):
            assert c.get(paths[probe], headers={"Host": f"evil.example:{port}"}).status_code == 200
