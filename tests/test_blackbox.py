"""The scaled setup's blackbox_exporter modules, run by Debian's real prometheus-blackbox-exporter
against the running app (pytest-django's live server), and the Prometheus job that uses them.

Skipped without the binary; a failure under HELPDESK_REQUIRE_SERVICES=1 (CI installs it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.services import free_port, require_binary, wait_until

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "blackbox" / "blackbox.yml"


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_binary("prometheus-blackbox-exporter")
    port = free_port(24800, 24899)
    log = tmp_path_factory.mktemp("blackbox") / "blackbox.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [binary, f"--config.file={CONFIG}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/-/healthy", timeout=1).status_code == 200
        except requests.RequestException:
            return process.poll() is not None

    try:
        wait_until(healthy, timeout=20, message="blackbox_exporter did not start")
        assert process.poll() is None, log.read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def probe(blackbox: str, module: str, target: str) -> dict[str, float]:
    """Ask blackbox_exporter to probe ``target`` with ``module``; return its samples."""
    answer = requests.get(
        f"{blackbox}/probe", params={"module": module, "target": target}, timeout=15
    )
    assert answer.status_code == 200, answer.text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if not sample.labels
    }


@pytest.mark.django_db(transaction=True)
def test_it_probes_the_running_app_with_the_shipped_modules(
    blackbox: str, live_server: Any
) -> None:
    ready = probe(blackbox, "http_ready", f"{live_server.url}/health/ready")
    login = probe(blackbox, "http_login", f"{live_server.url}/admin/login/")
    # Ready (the worker's heartbeat check only warns without a worker: still 200).
    assert (ready["probe_success"], ready["probe_http_status_code"]) == (1.0, 200.0)
    assert login["probe_success"] == 1.0
    assert login["probe_http_status_code"] == 200.0


@pytest.mark.django_db(transaction=True)
def test_it_fails_on_a_missing_form_an_error_and_a_dead_app(
    blackbox: str, live_server: Any
) -> None:
    # The login module wants the password field: a page without it fails.
    assert probe(blackbox, "http_login", f"{live_server.url}/api/v1/")["probe_success"] == 0.0
    missing = probe(blackbox, "http_ready", f"{live_server.url}/health/no-such-check")
    assert (missing["probe_success"], missing["probe_http_status_code"]) == (0.0, 404.0)
    dead = f"http://127.0.0.1:{free_port(24900, 24999)}/health/ready"
    assert probe(blackbox, "http_ready", dead)["probe_success"] == 0.0


def test_it_scrapes_every_module_from_prometheus() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == "blackbox"]
    modules = {target["labels"]["module"] for target in job["static_configs"]}
    assert modules == set(yaml.safe_load(CONFIG.read_text())["modules"])
    assert job["metrics_path"] == "/probe"
    replacements = [rule.get("replacement") for rule in job["relabel_configs"]]
    assert "blackbox-exporter:9115" in replacements


def test_it_passes_the_exporters_own_config_check() -> None:
    binary = require_binary("prometheus-blackbox-exporter")
    result = subprocess.run(
        [binary, "--config.check", f"--config.file={CONFIG}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "level=warn" not in result.stderr, result.stderr
