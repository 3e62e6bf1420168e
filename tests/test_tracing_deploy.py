"""deploy/docker-compose.tracing.yml and the collector's config, checked without Docker.

The compose file is validated against the compose-spec schema and against the app's compose
file it extends; the collector config is checked for a pipeline whose every component is
defined, and for the tail-sampling policies docs/tracing.md promises.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from tests.test_deploy import COMPOSE, DEPLOY, compose_validator, load

TRACING = DEPLOY / "docker-compose.tracing.yml"
COLLECTOR = DEPLOY / "otel-collector" / "config.yaml"


def test_it_matches_the_compose_spec() -> None:
    errors = [e.message for e in compose_validator().iter_errors(load(TRACING))]
    assert errors == []


def test_it_points_the_app_at_the_collector_it_starts() -> None:
    services = load(TRACING)["services"]
    app = load(COMPOSE)["services"]
    collector = load(COLLECTOR)
    http = urlsplit("http://" + collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
    for name in ("web", "worker"):
        assert name in app  # the file only adds to the app's services
        endpoint = urlsplit(services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.hostname == "otel-collector"
        assert endpoint.port == http.port
    mounts = [v.split(":")[0] for v in services["otel-collector"]["volumes"]]
    assert all((DEPLOY / m).is_file() for m in mounts)
    # The collector exports to Jaeger's OTLP/gRPC port, on the service of that name.
    exporter = collector["exporters"]["otlp/jaeger"]["endpoint"]
    assert exporter == "jaeger:4317"
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_it_publishes_ports_on_loopback_only_and_checks_jaeger_without_curl() -> None:
    services = load(TRACING)["services"]
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    check = services["jaeger"]["healthcheck"]
    assert "curl" not in json.dumps(check["test"])
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


def test_it_defines_every_component_its_pipeline_uses() -> None:
    config = load(COLLECTOR)
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert pipeline[kind], kind
        assert set(pipeline[kind]) <= set(config[kind]), kind
    assert set(config["service"]["extensions"]) <= set(config["extensions"])
    # Memory first, batching last (the collector's recommended order).
    assert pipeline["processors"][0] == "memory_limiter"
    assert pipeline["processors"][-1] == "batch"


def test_it_keeps_every_failed_and_slow_trace() -> None:
    policies = {p["type"]: p for p in load(COLLECTOR)["processors"]["tail_sampling"]["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["latency"]["latency"]["threshold_ms"] > 0
    assert 0 < policies["probabilistic"]["probabilistic"]["sampling_percentage"] < 100


def test_it_links_latency_exemplars_from_grafana_to_jaeger() -> None:
    datasources = DEPLOY / "grafana" / "provisioning" / "datasources"
    [prometheus] = load(datasources / "prometheus.yml")["datasources"]
    [jaeger] = load(datasources / "jaeger.yml")["datasources"]
    [link] = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    # The exemplar's label as the app writes it (helpdesk.monitoring.metrics.exemplars).
    assert link == {"name": "trace_id", "datasourceUid": jaeger["uid"]}
    assert urlsplit(jaeger["url"]).hostname in load(TRACING)["services"]
    command = load(DEPLOY / "docker-compose.monitoring.yml")["services"]["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in command
