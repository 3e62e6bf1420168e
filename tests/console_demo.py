"""Demo data for the console's browser tests, written into a server's database: a quarter of
an hour of request, browser and database metrics in the embedded history (sampled as the
worker would, minute by minute up to now), a firing alert with a notification, an error
issue, and the users (a staff user and a member of the monitoring group).

Run in the server's environment: ``python -m tests.console_demo`` (Django set up here).
"""

from __future__ import annotations

import random
import time

import django


def seed_history(minutes: int = 15) -> None:
    """Sample made-up traffic into the history: one sample a minute, ending now."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from helpdesk.monitoring.browser.budget import CLS_BUCKETS, VITAL_BUCKETS
    from helpdesk.monitoring.history.sampler import Sampler
    from helpdesk.monitoring.metrics.instruments import DURATION_BUCKETS

    registry = CollectorRegistry()
    requests = Histogram(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests.",
        ["http_request_method", "http_route", "http_response_status_code"],
        buckets=DURATION_BUCKETS,
        registry=registry,
    )
    vitals = Histogram(
        "browser_web_vital_seconds",
        "Web Vitals.",
        ["metric", "route", "device"],
        buckets=VITAL_BUCKETS,
        registry=registry,
    )
    cls = Histogram(
        "browser_web_vital_cls", "CLS.", ["route", "device"], buckets=CLS_BUCKETS, registry=registry
    )
    firing = Gauge("helpdesk_alerts_firing", "Alerts firing now.", ["severity"], registry=registry)
    events = Counter(
        "errors_events", "Error events.", ["project", "level", "source"], registry=registry
    )
    now = [time.time() - minutes * 60]
    sampler = Sampler(registry.collect, clock=lambda: now[0], owner="console-demo")
    rng = random.Random(7)
    routes = {
        "api/v1/tickets/": (0.04, "200"),
        "api/v1/tickets/<pk>/": (0.02, "200"),
        "api/v1/auth/token/": (0.2, "200"),
        "monitoring/": (0.15, "200"),
    }
    for _ in range(minutes + 1):
        sampler.sample()
        for route, (typical, code) in routes.items():
            for _ in range(rng.randint(20, 60)):
                requests.labels("GET", route, code).observe(rng.expovariate(1 / typical))
        for _ in range(rng.randint(1, 4)):
            requests.labels("POST", "api/v1/tickets/", "500").observe(0.9)
            requests.labels("GET", "api/v1/tickets/<pk>/", "404").observe(0.01)
        firing.labels("critical").set(1)
        firing.labels("warning").set(rng.randint(0, 2))
        events.labels("platform", "error", "server").inc(rng.randint(0, 5))
        for route in ("admin/login/", "other"):
            for _ in range(10):
                vitals.labels("LCP", route, "desktop").observe(rng.uniform(0.5, 5.0))
                vitals.labels("INP", route, "mobile").observe(rng.uniform(0.05, 0.6))
                cls.labels(route, "desktop").observe(rng.uniform(0.0, 0.3))
        now[0] += 60
    now[0] = time.time()
    sampler.sample()


def seed_users() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user_model = get_user_model()
    user_model.objects.create_user("staff", password="console-staff-password", is_staff=True)
    reader = user_model.objects.create_user("reader", password="console-reader-password")
    reader.groups.add(Group.objects.get_or_create(name="monitoring")[0])
    user_model.objects.create_user("outsider", password="console-outsider-password")


def seed_alerts() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.monitoring.alerting import services
    from helpdesk.monitoring.alerting.models import Channel

    Channel.objects.get_or_create(name="ops-webhook", kind="webhook", defaults={"config": {}})
    services.fire(
        name="HighErrorRate",
        labels={"severity": "critical", "service": "web"},
        annotations={"summary": "5xx above 5 %", "runbook_url": "docs/runbooks/HighErrorRate.md"},
        severity="critical",
        starts_at=timezone.now() - timedelta(minutes=12),
    )
    earlier, _ = services.fire(
        name="HighLatency",
        labels={"severity": "warning", "service": "web"},
        annotations={"summary": "p95 above 1 s", "runbook_url": "docs/runbooks/HighLatency.md"},
        severity="warning",
        starts_at=timezone.now() - timedelta(hours=3),
    )
    assert earlier is not None
    services.resolve(earlier.fingerprint, ends_at=timezone.now() - timedelta(hours=2))


def seed_errors() -> None:
    from django.utils import timezone

    from helpdesk.monitoring.errors.models import ErrorIssue
    from helpdesk.monitoring.errors.server import platform_project

    ErrorIssue.objects.create(
        project=platform_project(),
        fingerprint="console-demo",
        title="ZeroDivisionError: division by zero",
        culprit="helpdesk.tickets.views in report",
        event_count=12,
        user_count=3,
        last_seen=timezone.now(),
    )


def main() -> None:
    django.setup()
    seed_users()
    seed_history()
    seed_alerts()
    seed_errors()


if __name__ == "__main__":
    main()
