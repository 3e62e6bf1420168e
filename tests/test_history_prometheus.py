"""The same chart questions to both backends on the same traffic: the embedded history
(sampled from a registry every second) and a real Prometheus (Debian's) scraping that registry
every second. Answers for one whole minute of steady traffic must agree within 10 %."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server

from helpdesk.monitoring.history import query as q
from helpdesk.monitoring.history.sampler import Sampler
from tests.engines import prometheus
from tests.services import free_port, require_binary, wait_until

H = "http_server_request_duration_seconds"
QUESTIONS = {
    "rate by route": q.rate(f"{H}_count", 60, by=["http_route"]),
    "increase": q.increase(f"{H}_count", 60),
    "error ratio": q.ratio(
        q.rate(f'{H}_count{{http_response_status_code=~"5.."}}', 60),
        q.rate(f"{H}_count", 60),
    ),
    "p95 by route": q.quantile(0.95, H, 60, by=["http_route"]),
    "p50 of /a": q.quantile(0.5, H, 60, where='http_route="/a"'),
    "top route": q.topk(1, q.rate(f"{H}_count", 60, by=["http_route"])),
    "gauge sum": q.gauge("app_connections"),
}


def _traffic(histogram: Histogram, stop: threading.Event) -> None:
    """About 100 requests a second: /a fast with 4 % errors, /b slower."""
    i = 0
    while not stop.is_set():
        for _ in range(10):
            i += 1
            status = "500" if i % 25 == 0 else "200"
            histogram.labels("GET", "/a", status).observe(0.02 + (i % 7) * 0.01)
            if i % 3 == 0:
                histogram.labels("GET", "/b", "200").observe(0.3 + (i % 5) * 0.1)
        time.sleep(0.1)


def _compare(embedded: list[q.Value], scraped: list[q.Value]) -> None:
    def by_labels(values: list[q.Value]) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(v.labels.items())): v.value for v in values}

    mine, theirs = by_labels(embedded), by_labels(scraped)
    assert mine.keys() == theirs.keys()
    for labels, value in mine.items():
        assert value == pytest.approx(theirs[labels], rel=0.1), labels


@pytest.mark.services
@pytest.mark.django_db
def test_it_answers_like_prometheus_on_the_same_traffic(tmp_path: Path, settings: Any) -> None:
    require_binary("prometheus")
    registry = CollectorRegistry()
    histogram = Histogram(
        H,
        "Request duration.",
        ["http_request_method", "http_route", "http_response_status_code"],
        buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        registry=registry,
    )
    Gauge("app_connections", "Connections.", registry=registry).set(7)
    histogram.labels("GET", "/a", "500").observe(0.01)  # every series exists from the start
    histogram.labels("GET", "/b", "200").observe(0.3)
    port = free_port(25200, 25299)
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "app", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                ],
            }
        )
    )
    sampler = Sampler(registry.collect, owner="comparison")
    stop = threading.Event()
    try:
        with prometheus(config, tmp_path / "prom", free_port(25300, 25399)) as url:
            wait_until(
                lambda: requests.get(
                    f"{url}/api/v1/query", params={"query": "up == 1"}, timeout=2
                ).json()["data"]["result"],
                timeout=20,
                message="Prometheus did not scrape the registry",
            )
            sampler.sample()
            traffic = threading.Thread(target=_traffic, args=(histogram, stop), daemon=True)
            traffic.start()
            # One whole minute of traffic, then the sample that writes it.
            minute = (int(time.time()) // 60 + 1) * 60
            while time.time() < minute + 62:
                sampler.sample()
                time.sleep(1)
            stop.set()
            traffic.join()
            at = float(minute + 60)
            embedded = q.EmbeddedBackend()
            prom = q.PrometheusBackend(url)
            for name, question in QUESTIONS.items():
                mine, theirs = embedded.instant(question, at), prom.instant(question, at)
                assert mine, name
                _compare(mine, theirs)
            chart = QUESTIONS["error ratio"]
            (line,) = embedded.range(chart, at - 60, at, 60)
            (scraped,) = prom.range(chart, at - 60, at, 60)
            assert line.points[-1][0] == scraped.points[-1][0] == at
            assert line.points[-1][1] == pytest.approx(scraped.points[-1][1], rel=0.1)
    finally:
        stop.set()
        server.shutdown()
