"""Demo data for the console's browser tests, written into a server's database: a quarter of
an hour of request, browser and database metrics in the embedded history (sampled as the
worker would, minute by minute up to now), a firing alert with a notification, an error
issue, and the users (a staff user and a member of the monitoring group).

Run in the server's environment: ``python -m tests.console_demo`` (Django set up here).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import django

# The client the demo locks out (the Security page's browser test unlocks it).
LOCKED_IP = "203.0.113.77"


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
    page_minute = page_metrics(registry)
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
        page_minute()
        now[0] += 60
    now[0] = time.time()
    sampler.sample()


def page_metrics(registry: Any) -> Callable[[], None]:
    """Add the families of the Database, System, Security and Business pages' charts to
    ``registry``; return what moves them by one minute."""
    from prometheus_client import Counter, Gauge, Histogram

    from helpdesk.monitoring.metrics.business import FIRST_RESPONSE_BUCKETS, RESOLUTION_BUCKETS
    from helpdesk.monitoring.metrics.instruments import DB_DURATION_BUCKETS

    def gauge(name: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, name, labels, registry=registry)

    connections = gauge("helpdesk_db_connections", ("state",))
    queries = Histogram(
        "db_client_operation_duration_seconds",
        "Database operations.",
        ["db_alias"],
        buckets=DB_DURATION_BUCKETS,
        registry=registry,
    )
    usage = {
        name: gauge(f"helpdesk_system_{name}_utilisation_ratio")
        for name in ("cpu", "memory", "swap")
    }
    disk = gauge("helpdesk_system_disk_utilisation_ratio", ("path",))
    resident = gauge("helpdesk_system_process_resident_memory_bytes")
    security = Counter("helpdesk_security_events", "Security events.", ["type"], registry=registry)
    tickets = gauge("helpdesk_tickets", ("organization", "status", "priority"))
    breached = gauge("helpdesk_tickets_sla_breached", ("organization", "state"))
    created = Counter("helpdesk_tickets_created", "Created.", ["organization"], registry=registry)
    resolved = Counter(
        "helpdesk_tickets_resolved", "Resolved.", ["organization"], registry=registry
    )
    first = Histogram(
        "helpdesk_ticket_first_response_seconds",
        "First response.",
        buckets=FIRST_RESPONSE_BUCKETS,
        registry=registry,
    )
    resolution = Histogram(
        "helpdesk_ticket_resolution_seconds",
        "Resolution.",
        buckets=RESOLUTION_BUCKETS,
        registry=registry,
    )
    rng = random.Random(11)

    def minute() -> None:
        for state, typical in (("active", 3), ("idle", 8), ("idle in transaction", 1)):
            connections.labels(state).set(rng.randint(0, typical * 2))
        for _ in range(rng.randint(200, 400)):
            queries.labels("default").observe(rng.expovariate(1 / 0.004))
        for name, typical in (("cpu", 0.35), ("memory", 0.55), ("swap", 0.05)):
            usage[name].set(min(1.0, max(0.0, rng.gauss(typical, 0.08))))
        disk.labels("/").set(0.62 + rng.random() / 100)
        resident.set(rng.randint(150, 180) * 1024 * 1024)
        for kind, most in (("authn_login_fail", 6), ("authz_fail", 3), ("malicious_probe_path", 2)):
            security.labels(kind).inc(rng.randint(1, most))
        for org in ("acme", "globex"):
            for status in ("new", "open", "pending", "resolved"):
                tickets.labels(org, status, "normal").set(rng.randint(5, 40))
            breached.labels(org, "open").set(rng.randint(0, 3))
            breached.labels(org, "resolved").set(rng.randint(5, 8))
            created.labels(org).inc(rng.randint(1, 5))
            resolved.labels(org).inc(rng.randint(1, 4))
            for _ in range(3):
                first.observe(rng.uniform(120, 7200))
                resolution.observe(rng.uniform(1800, 3 * 86400))

    return minute


def seed_pages() -> None:
    """Tickets for the Business page, security events and a locked-out IP for Security."""
    from django.conf import settings
    from django.core.management import call_command

    from helpdesk.monitoring.security import events
    from helpdesk.monitoring.security.lockout import engine

    call_command("seed_demo", tickets=120, verbosity=0)
    for _ in range(3):
        events.publish("authn_login_fail", ip=LOCKED_IP, path="/admin/login/", username="root")
    events.publish("malicious_probe_path", ip=LOCKED_IP, path="/.env", method="GET")
    for _ in range(settings.SECURITY_LOGIN_FAILURE_LIMIT):
        engine.record_failure(LOCKED_IP, None)


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
    seed_pages()


if __name__ == "__main__":
    main()
