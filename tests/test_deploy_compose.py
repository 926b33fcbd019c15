"""docker-compose.yml, the image and the Grafana dashboard, checked without a container engine.

The compose file parses; every container of our image runs a real `verdicts run` target (or a real
CLI command / the model server); every environment variable set on our containers is one the settings
classes read (and the values pass those settings' validation); start order comes from healthchecks;
the site is published on one port; the dashboard queries only metrics the services export.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from verdicts.cli.main import main as cli
from verdicts.cli.registry import SERVICE_MODULES, schema_of
from verdicts.platform.db_roles import ACCESS, SERVICE_SCHEMAS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
NATS_CONF = ROOT / "deploy" / "nats" / "nats-server.conf"
SETTINGS_MODULES = [
    "verdicts.platform.settings",
    "verdicts.cli.stack",
    "verdicts.ingest.config",
    "verdicts.review_panel.config",
    "verdicts.votes.config",
    "verdicts.render.config",
    "verdicts.inference.config",
]
# Read by the OpenTelemetry SDK through verdicts.platform.telemetry (README: "standard OTEL_* variables").
OTEL_VARIABLES = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"}
_LOGIN = "|".join([*(s.upper() for s in SERVICE_SCHEMAS), "ADMIN"])
_URLS = "|".join([*(s.upper() for s in SERVICE_SCHEMAS), ACCESS.upper()])
PER_SERVICE = re.compile(
    rf"VERDICTS_({_LOGIN})_NATS_(USER|PASSWORD|PASSWORD_FILE)|VERDICTS_({_URLS})_DATABASE_URL"
)
METRICS = {
    "verdicts_messages_handled_total",
    "verdicts_handler_seconds",
    "verdicts_redeliveries_total",
    "verdicts_dead_letters_total",
    "verdicts_outbox_waiting",
    "verdicts_consumer_lag",
    "verdicts_http_requests_total",
    "verdicts_http_request_seconds",
    "verdicts_inference_requests_total",
    "verdicts_inference_tokens_total",
    "verdicts_inference_cost_usd_total",
    "verdicts_inference_latency_seconds",
    "verdicts_votes_accepted_total",
    "verdicts_votes_discarded_total",
    "verdicts_pages_published_total",
}


def settings_classes() -> list[type[BaseSettings]]:
    found: list[type[BaseSettings]] = []
    for name in SETTINGS_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings:
                found.append(value)
    return found


def settings_variables() -> set[str]:
    """Every environment variable a settings class reads (aliases included)."""
    names: set[str] = set()
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                names.update(str(choice) for choice in alias.choices)
            elif isinstance(alias, str):
                names.add(alias)
            else:
                names.add(f"{prefix}{field}".upper())
    return names


KNOWN = settings_variables()


def unknown_variables(names: object) -> list[str]:
    return sorted(
        name
        for name in names  # type: ignore[attr-defined]
        if name not in KNOWN and name not in OTEL_VARIABLES and not PER_SERVICE.fullmatch(name)
    )


def test_settings_variables_are_read_from_the_classes():
    assert {"VERDICTS_NATS_URL", "DATABASE_URL", "VERDICTS_PORT", "ANTHROPIC_API_KEY"} <= KNOWN
    assert {"VERDICTS_VOTES_TOKEN_SECRET", "VERDICTS_RENDER_SITE_DIR", "VERDICTS_INFERENCE_VLLM_URL"} <= KNOWN
    assert unknown_variables(["VERDICTS_INGEST_NATS_PASSWORD_FILE", "VERDICTS_ACCESS_DATABASE_URL"]) == []
    assert unknown_variables(["VERDICTS_NO_SUCH_THING", "VERDICTS_ACCESS_NATS_USER"]) == [
        "VERDICTS_ACCESS_NATS_USER",
        "VERDICTS_NO_SUCH_THING",
    ]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def ours(service: dict[str, Any]) -> bool:
    """A container of the verdicts image (third-party images keep their own variables)."""
    return "build" in service


def as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    assert isinstance(value, list)
    return [str(v) for v in value]


def test_the_services_the_issue_names(compose):
    services = compose["services"]
    named = ["nats", "postgres", "ingest", "review-panel", "votes", "render", "inference", "vllm", "llama"]
    assert set(named) | {"otel-collector", "jaeger", "prometheus", "grafana"} <= set(services)
    assert services["vllm"]["profiles"] == ["gpu"]
    assert services["llama"]["profiles"] == ["cpu"]


def assert_cli_command(words: list[str], where: str) -> None:
    """``verdicts WORDS...`` names a real (sub)command of the CLI."""
    command: click.Command = cli
    for word in words:
        assert isinstance(command, click.Group), f"{where}: verdicts {words}"
        assert word in command.commands, f"{where}: verdicts {words}"
        command = command.commands[word]
    assert not isinstance(command, click.Group), f"{where}: verdicts {words} is a group"


def test_every_container_of_our_image_runs_a_real_target(compose):
    ran = set()
    for name, service in compose["services"].items():
        if not ours(service):
            continue
        entrypoint = as_list(service.get("entrypoint"))
        command = as_list(service.get("command"))
        if not entrypoint:  # the image's: verdicts run NAME
            assert command[:1], f"{name}: no command"
            assert command[0] in SERVICE_MODULES, f"{name}: {command} is no `verdicts run` target"
            ran.add(command[0])
        elif entrypoint[:1] == ["verdicts"]:
            assert_cli_command(entrypoint[1:], name)
        else:
            assert entrypoint == ["python", "-m", "verdicts.platform.model_server"], name
            importlib.import_module("verdicts.platform.model_server")
    assert ran == set(SERVICE_MODULES)
    for target in SERVICE_MODULES:
        assert compose["services"][target]["command"] == [target]


def test_the_image_runs_verdicts_run_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["verdicts", "run"]' in dockerfile
    assert "uv sync --locked" in dockerfile
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile
    assert "/health/ready" in dockerfile
    assert "ARG gpu=false" in dockerfile
    assert "--extra gpu" in dockerfile
    env = set(re.findall(r"\b(VERDICTS_[A-Z0-9_]+)=", dockerfile))
    assert env
    assert unknown_variables(env) == []


def test_every_variable_set_on_our_containers_is_known(compose):
    for name, service in compose["services"].items():
        if ours(service):
            environment = service.get("environment") or {}
            assert isinstance(environment, dict), f"{name}: environment as a mapping"
            assert unknown_variables(environment) == [], name


def _interpolate(value: object) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?message}: a default or a plausible secret."""

    def one(match: re.Match[str]) -> str:
        default = match.group(3)
        if match.group(2) == ":-" and default is not None:
            return default
        return "Secret0x" + match.group(1).lower().replace("_", "")[:8] + "0" * 24

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, str(value))


@pytest.mark.parametrize("target", sorted(SERVICE_MODULES))
def test_each_service_environment_passes_its_settings(compose, target, monkeypatch, tmp_path):
    import os

    from verdicts.platform.settings import PlatformSettings, load_settings

    for name in list(os.environ):
        if name.startswith(("VERDICTS_", "OTEL_")) or name in {"DATABASE_URL", "ANTHROPIC_API_KEY"}:
            monkeypatch.delenv(name)
    password = tmp_path / "password"
    password.write_text("Secret0password")
    for name, value in compose["services"][target]["environment"].items():
        monkeypatch.setenv(name, str(password) if name.endswith("_FILE") else _interpolate(value))
    platform = load_settings(PlatformSettings)
    schema = schema_of(target)
    assert platform.nats_url.startswith("nats://")
    assert platform.database_url_for(schema).startswith("postgresql://")
    login = platform.nats_login_for(schema)
    assert login is not None
    assert login.user == target
    for name in os.environ:  # only its own NATS password, only its own database role
        if m := PER_SERVICE.fullmatch(name):
            assert (m.group(1) or m.group(3)).lower() == schema, f"{target} gets {name}"
    config = importlib.import_module(SERVICE_MODULES[target].rsplit(".", 1)[0] + ".config")
    for cls in vars(config).values():
        if isinstance(cls, type) and issubclass(cls, BaseSettings) and cls is not BaseSettings:
            load_settings(cls)


def test_start_order_follows_healthchecks(compose):
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        pairs = depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends)
        for dependency, rule in pairs:
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if isinstance(rule, dict) and rule.get("condition") == "service_healthy":
                check = services[dependency].get("healthcheck") or {}
                assert check.get("test"), f"{dependency} has no healthcheck"
                assert not check.get("disable"), f"{dependency} has its healthcheck disabled"
    assert services["db-roles"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for target in SERVICE_MODULES:
        depends = services[target]["depends_on"]
        assert depends["nats"]["condition"] == "service_healthy"
        assert depends["db-roles"]["condition"] == "service_completed_successfully"
    for consumer in ["review-panel", "votes", "render"]:  # ingest provisions the streams first
        assert services[consumer]["depends_on"]["ingest"]["condition"] == "service_healthy"


def test_the_site_is_published_on_one_port(compose):
    published = {}
    for name, service in compose["services"].items():
        for port in service.get("ports") or []:
            if not str(port).startswith("127.0.0.1:"):
                published[name] = port
    assert list(published) == ["edge"]
    assert "render" in (ROOT / "deploy/compose/nginx.conf").read_text().split("location /")[-1]


def test_nats_runs_the_repository_configuration_with_every_password(compose):
    nats = compose["services"]["nats"]
    command = nats["command"]
    for flag in ["-c", "-a", "-p", "-m", "-sd"]:
        assert flag in command
    config = command[command.index("-c") + 1]
    assert f"./deploy/nats/nats-server.conf:{config}:ro" in nats["volumes"]
    wanted = set(re.findall(r"\$(VERDICTS_[A-Z_]+_NATS_PASSWORD)", NATS_CONF.read_text()))
    assert len(wanted) == 6
    assert set(nats["environment"]) == wanted


def test_mounted_files_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_the_gpu_profile_serves_smollm3_on_a_reserved_gpu(compose):
    vllm = compose["services"]["vllm"]
    assert _interpolate(vllm["image"]).startswith("vllm/vllm-openai:")
    assert "HuggingFaceTB/SmolLM3-3B" in vllm["command"]
    assert "--enable-prefix-caching" in vllm["command"]
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert any(str(v).startswith("model-cache:") for v in vllm["volumes"])
    assert "/v1/models" in " ".join(vllm["healthcheck"]["test"])


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/verdicts.json").read_text())
    exprs = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["type"] == "prometheus"
        for target in panel["targets"]:
            assert target["datasource"]["type"] == "prometheus"
            exprs.append(target["expr"])
    return exprs


def test_the_dashboard_queries_the_services_metrics():
    used = set()
    for expr in _dashboard_exprs():
        for metric in re.findall(r"\bverdicts_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            assert base in METRICS, f"{metric} is no metric the services export"
            used.add(base)
    assert used == METRICS
    provisioning = ROOT / "deploy/grafana/provisioning"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"
    assert (provisioning / "dashboards/verdicts.yaml").exists()
