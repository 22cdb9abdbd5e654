"""The deployment files, checked offline (no Docker daemon or cluster is reachable here): the Kubernetes manifests
against the Kubernetes schemas, the Dockerfile's parse, user, health check and entrypoint, the compose file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schema(path):
    import kubernetes_validate

    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_the_manifests_are_a_complete_deployment():
    docs = {
        d["kind"]: d
        for p in MANIFESTS
        if p.name != "worker.yaml"  # the workers: tests/jobs
        for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))
    }
    assert {"Deployment", "Service", "Secret", "ConfigMap"} <= set(docs)
    dep = docs["Deployment"]["spec"]
    assert dep["replicas"] == 3
    container = dep["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert dep["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert {e["secretRef"]["name"] for e in container["envFrom"]} == {docs["Secret"]["metadata"]["name"]}
    assert dep["template"]["spec"]["volumes"][0]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    config = yaml.safe_load(docs["ConfigMap"]["data"]["config.yaml"])
    assert config["server"]["require_auth"] is True
    service_port = docs["Service"]["spec"]["ports"][0]
    assert service_port["targetPort"] == container["ports"][0]["name"]


def test_the_configmap_config_is_valid_for_this_version(tmp_path):
    from prompt_alchemy.config import validate_config

    cm = yaml.safe_load((DEPLOY / "kubernetes" / "configmap.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"], encoding="utf-8")
    assert validate_config(path, env={"PROMPT_ALCHEMY_HOME": str(tmp_path)}) == []


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck_and_entrypoint():
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    instructions = parser.structure
    froms = [i["value"] for i in instructions if i["instruction"] == "FROM"]
    assert len(froms) == 2 and all("slim" in f for f in froms) and froms[0].endswith("AS builder")
    final = max(i["startline"] for i in instructions if i["instruction"] == "FROM")
    tail = [i for i in instructions if i["startline"] >= final]
    users = [i["value"] for i in tail if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(i["instruction"] == "COPY" and "--from=builder" in i["value"] for i in tail)
    health = [i["value"] for i in tail if i["instruction"] == "HEALTHCHECK"]
    assert health and "/health" in health[0]
    entry = [i["value"] for i in tail if i["instruction"] == "ENTRYPOINT"]
    assert entry and '"serve"' in entry[0] and '"http"' in entry[0] and '"0.0.0.0"' in entry[0]
    assert "prompt-alchemy local install" in parser.content  # the portable local model is inside


def test_compose_runs_the_server_beside_postgres_with_pgvector():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert "pgvector" in services["db"]["image"]
    assert services["server"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["server"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_compose_servers_environment_is_a_valid_configuration(tmp_path):
    """Every PROMPT_ALCHEMY_* value the compose file sets loads as this version's configuration (with the defaults
    compose substitutes for ${VAR:-default})."""
    import re

    from prompt_alchemy.config import validate_config

    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    env = {
        name: re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))
        for name, value in compose["services"]["server"]["environment"].items()
        if name.startswith("PROMPT_ALCHEMY_")
    }
    assert "PROMPT_ALCHEMY_DATABASE_URL" in env and "${" not in env["PROMPT_ALCHEMY_DATABASE_URL"]
    assert validate_config(env={**env, "PROMPT_ALCHEMY_HOME": str(tmp_path)}) == []
