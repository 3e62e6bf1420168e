"""Alerting benchmark: fault to first notification through Prometheus and Alertmanager.

The shipped configuration and timings, end to end with real parts:

- the app: `helpdesk serve` (gunicorn) on SQLite with METRICS_TOKEN set and the default
  HEALTH_CACHE_SECONDS; its REDIS_URL points at a TCP relay to the real Redis, so the shipped
  cache health check reaches Redis only through the relay;
- Prometheus (/usr/bin/prometheus) on deploy/prometheus/prometheus.yml and every rule file,
  unchanged except the scrape target, the token file and the Alertmanager address (scrape and
  evaluation every 15 s, HealthCheckFailing `for: 2m`);
- Alertmanager (prometheus-alertmanager) on the shipped routing rendered by render.sh
  (group_wait 10 s, group_interval 10 s), with a local Slack-compatible receiver, a real SMTP
  server and the app's webhook.

Each cycle cuts the relay at a random moment, times until the Slack receiver gets the FIRING
HealthCheckFailing message, restores the relay and times until the RESOLVED message. It also
records when Prometheus first saw the check fail and when the alert became pending and firing,
and prints the analytical bounds next to the measured figures. About 3 minutes per cycle.

Run: .venv/bin/python benchmarks/bench_alerting_prometheus.py [--prometheus-cycles 1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The pipeline helpers live in test modules that import the app's models.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("HELPDESK_ENV", "test")
os.environ.setdefault("LOG_LEVEL", "ERROR")  # the receivers log every message otherwise
django.setup()

from tests.engines import alertmanager, prometheus  # noqa: E402
from tests.receivers import HttpReceiver, SmtpReceiver  # noqa: E402
from tests.services import free_port, port_open  # noqa: E402
from tests.tcp import Forwarder  # noqa: E402
from tests.test_alert_rules import PROMETHEUS  # noqa: E402
from tests.test_alertmanager_config import TOKEN, render_local  # noqa: E402

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))
METRICS_TOKEN = "m" * 40
RULE = "HealthCheckFailing"
REDIS = ("127.0.0.1", 6379)
# The shipped timings (asserted against the files below, so the bounds follow them).
SCRAPE, EVALUATION, FOR, GROUP_WAIT, GROUP_INTERVAL = 15.0, 15.0, 120.0, 10.0, 10.0


def _seconds(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(value[:-1]) * units[value[-1]]


def check_shipped_timings(am_config: Path) -> None:
    """Fail when the shipped files no longer match the timings the bounds are computed from."""
    prom = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["global"]
    assert _seconds(prom["scrape_interval"]) == SCRAPE
    assert _seconds(prom["evaluation_interval"]) == EVALUATION
    rules = yaml.safe_load((PROMETHEUS / "rules" / "dependencies.yml").read_text())
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == RULE)
    assert _seconds(rule["for"]) == FOR
    route = yaml.safe_load(am_config.read_text())["route"]
    assert _seconds(route["group_wait"]) == GROUP_WAIT
    assert _seconds(route["group_interval"]) == GROUP_INTERVAL


def prometheus_config(root: Path, app: str, alertmanager: int) -> Path:
    """Write the shipped prometheus.yml with only the target, token file and Alertmanager set."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    helpdesk = next(job for job in config["scrape_configs"] if job["job_name"] == "helpdesk")
    token = root / "monitoring_token"
    token.write_text(METRICS_TOKEN)
    helpdesk["authorization"]["credentials_file"] = str(token)
    helpdesk["static_configs"] = [{"targets": [app]}]
    config["scrape_configs"] = [helpdesk]  # the exporters are not part of this benchmark
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        f"127.0.0.1:{alertmanager}"
    ]
    config["rule_files"] = [str(PROMETHEUS / "rules" / "*.yml")]
    path = root / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def serve(data: Path, port: int, redis_url: str) -> subprocess.Popen[bytes]:
    """Migrate and start `helpdesk serve`; return once /health/live answers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE", "REDIS", "HEALTH", "PROMETHEUS_MULTIPROC", "ALERT"))
    }
    env.update(
        HELPDESK_DATA_DIR=str(data),
        HELPDESK_ENV="test",
        LOG_FILES="0",
        ACCESS_LOG="0",
        LOG_LEVEL="ERROR",
        PORT=str(port),
        REDIS_URL=redis_url,
        METRICS_TOKEN=METRICS_TOKEN,
        ALERTMANAGER_WEBHOOK_TOKEN=TOKEN,
    )
    subprocess.run([HELPDESK, "migrate", "-v0"], env=env, check=True, capture_output=True)
    log = (data / "server.log").open("w")
    process = subprocess.Popen(
        [HELPDESK, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait(lambda: port_open("127.0.0.1", port) or process.poll() is not None, 60)
    if process.poll() is not None:
        raise RuntimeError((data / "server.log").read_text())
    return process


def wait(predicate: Callable[[], Any], timeout: float) -> float | None:
    """Poll ``predicate`` every 0.1 s; return the monotonic time it held, None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.1)
    return None


class Watch:
    """Record the first moment each stage of the pipeline is seen after a fault or a repair."""

    def __init__(self, prometheus: str, slack: HttpReceiver) -> None:
        self.prometheus = prometheus
        self.slack = slack

    def _query(self, query: str) -> list[dict[str, Any]]:
        try:
            response = requests.get(
                f"{self.prometheus}/api/v1/query", params={"query": query}, timeout=2
            )
            return list(response.json()["data"]["result"])
        except (requests.RequestException, ValueError, KeyError):
            return []

    def cache_up(self) -> float | None:
        result = self._query('helpdesk_health_check_up{job="helpdesk",check="cache"}')
        return float(result[0]["value"][1]) if result else None

    def alert_state(self) -> str | None:
        try:
            alerts = requests.get(f"{self.prometheus}/api/v1/alerts", timeout=2).json()
        except (requests.RequestException, ValueError):
            return None
        states = [
            a["state"]
            for a in alerts["data"]["alerts"]
            if a["labels"].get("alertname") == RULE and a["labels"].get("check") == "cache"
        ]
        return states[0] if states else None

    def titles(self, prefix: str) -> int:
        titles = [item["json"]["attachments"][0]["title"] for item in list(self.slack.accepted)]
        return sum(title.startswith(prefix) and f" {RULE} " in title for title in titles)

    def stages(
        self, start: float, checks: dict[str, Callable[[], bool]], timeout: float
    ) -> dict[str, float]:
        """Poll every check until the last one holds; return seconds from ``start`` to each."""
        seen: dict[str, float] = {}
        deadline = start + timeout
        last = list(checks)[-1]
        while last not in seen and time.monotonic() < deadline:
            for name, check in checks.items():
                if name not in seen and check():
                    seen[name] = time.monotonic() - start
            time.sleep(0.1)
        return seen


def cycle(number: int, watch: Watch, relay: Forwarder) -> tuple[float | None, float | None]:
    time.sleep(random.uniform(0, SCRAPE))  # the fault lands at a random scrape phase
    relay.stop()
    cut = time.monotonic()
    firing = watch.stages(
        cut,
        {
            "check fails in Prometheus": lambda: watch.cache_up() == 0.0,
            "alert pending": lambda: watch.alert_state() in ("pending", "firing"),
            "alert firing in Prometheus": lambda: watch.alert_state() == "firing",
            "FIRING at Slack": lambda: watch.titles("[FIRING") >= number,
        },
        timeout=FOR + 180,
    )
    # FIRING arrives at a fixed offset from an evaluation: repair at a random phase as well.
    time.sleep(random.uniform(0, SCRAPE))
    relay.start()
    restored = time.monotonic()
    resolved = watch.stages(
        restored,
        {
            "check passes in Prometheus": lambda: watch.cache_up() == 1.0,
            "alert inactive in Prometheus": lambda: watch.alert_state() is None,
            "RESOLVED at Slack": lambda: watch.titles("[RESOLVED") >= number,
        },
        timeout=180,
    )
    print(f"  cycle {number}: relay cut")
    for name, seconds in firing.items():
        print(f"    {seconds:6.1f} s  {name}")
    print(f"  cycle {number}: relay restored")
    for name, seconds in resolved.items():
        print(f"    {seconds:6.1f} s  {name}")
    return firing.get("FIRING at Slack"), resolved.get("RESOLVED at Slack")


def bounds() -> None:
    health_cache = 2.0  # HEALTH_CACHE_SECONDS default: a scrape may read a report this old
    low = FOR + GROUP_WAIT
    high = SCRAPE + health_cache + EVALUATION + FOR + GROUP_WAIT
    print(
        f"  bounds, fault -> FIRING: for {FOR:.0f} + group_wait {GROUP_WAIT:.0f} = {low:.0f} s "
        f"at best; + scrape {SCRAPE:.0f} + health cache {health_cache:.0f} + evaluation "
        f"{EVALUATION:.0f} = {high:.0f} s at worst (plus delivery latency)"
    )
    high = SCRAPE + health_cache + EVALUATION + GROUP_INTERVAL
    print(
        f"  bounds, repair -> RESOLVED: 0 s at best; scrape {SCRAPE:.0f} + health cache "
        f"{health_cache:.0f} + evaluation {EVALUATION:.0f} + group_interval "
        f"{GROUP_INTERVAL:.0f} = {high:.0f} s at worst"
    )


def run(cycles: int) -> list[tuple[float | None, float | None]]:
    missing = [b for b in ("prometheus", "prometheus-alertmanager") if not shutil.which(b)]
    if missing or not port_open(*REDIS):
        print(f"  skipped: {', '.join(missing) or 'Redis on 127.0.0.1:6379'} not available")
        return []
    root = Path(tempfile.mkdtemp(prefix="bench-alerting-prom-"))
    app_port, am_port, prom_port = (
        free_port(18800, 18833),
        free_port(18834, 18866),
        free_port(18867, 18899),
    )
    relay = Forwarder(REDIS)
    relay.start()
    figures: list[tuple[float | None, float | None]] = []
    server = serve(root, app_port, f"redis://127.0.0.1:{relay.port}/8")
    try:
        with HttpReceiver() as slack, SmtpReceiver() as smtp:
            app = f"127.0.0.1:{app_port}"
            webhook = f"http://{app}/api/v1/monitoring/alerts/alertmanager/"
            am_config = render_local(root, smtp.port, slack.url, webhook)
            check_shipped_timings(am_config)
            (root / "prometheus").mkdir()
            prom_config = prometheus_config(root / "prometheus", app, am_port)
            with (
                alertmanager(am_config, root / "am-data", am_port),
                prometheus(prom_config, root / "prom-data", prom_port),
            ):
                watch = Watch(f"http://127.0.0.1:{prom_port}", slack)
                if wait(lambda: watch.cache_up() == 1.0, 60) is None:
                    print("  Prometheus never saw a passing cache check; see server.log")
                    return []
                bounds()
                for number in range(1, cycles + 1):
                    figures.append(cycle(number, watch, relay))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        relay.stop()
        shutil.rmtree(root, ignore_errors=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prometheus-cycles", type=int, default=1)
    args, _ = parser.parse_known_args()
    print(
        "Fault to first notification (Prometheus + Alertmanager, shipped configuration, "
        "the app's Redis relay cut):"
    )
    figures = run(args.prometheus_cycles)
    for label, index in (("FIRING", 0), ("RESOLVED", 1)):
        values = [f[index] for f in figures if f[index] is not None]
        if values:
            median = statistics.median(values)
            print(f"  {label}: median {median:.1f} s, worst {max(values):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
