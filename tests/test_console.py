"""The monitoring console: who may see and do what, its pages render from the monitoring data,
and the chart JSON answers from the query layer (and is in the OpenAPI schema)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from prometheus_client import CollectorRegistry, Histogram

from helpdesk.monitoring.console import charts
from helpdesk.monitoring.console.templatetags.console import NO_DATA, figure
from helpdesk.monitoring.history import query as q
from tests.metrics_history import T0, Recorder

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct horse battery"
# Every page of the console: (URL, what its HTML must contain).
PAGES = [
    ("/monitoring/", "Health checks"),
    ("/monitoring/requests/", "Routes by time spent"),
    ("/monitoring/alerts/", "Notifications by channel"),
    ("/monitoring/errors/", "Web Vitals by page route"),
    ("/monitoring/runbooks/HighErrorRate/", "Runbook: HighErrorRate"),
    ("/monitoring/database/", "Largest tables"),
    ("/monitoring/system/", "Disks"),
    ("/monitoring/security/", "Active lockouts"),
    ("/monitoring/business/", "Tickets by status"),
]
CHART = "/api/v1/monitoring/console/charts/overview.traffic/"


@pytest.fixture
def staff() -> Any:
    return User.objects.create_user("sam", password=PASSWORD, is_staff=True)


@pytest.fixture
def reader(bob: Any) -> Any:
    """A member of the monitoring group (read-only in the console)."""
    bob.groups.add(Group.objects.get_or_create(name="monitoring")[0])
    return bob


def signed_in(user: Any | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize(("url", "text"), PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(url: str, text: str) -> None:
    response = signed_in(None).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/monitoring/login/?next=")


@pytest.mark.parametrize(("url", "text"), PAGES)
def test_it_refuses_members_without_the_monitoring_group(url: str, text: str, carol: Any) -> None:
    assert signed_in(carol).get(url).status_code == 403


@pytest.mark.parametrize(("url", "text"), PAGES)
def test_it_shows_every_page_to_staff_and_readers(
    url: str, text: str, staff: Any, reader: Any
) -> None:
    for user, role in ((staff, "staff"), (reader, "read-only")):
        response = signed_in(user).get(url)
        assert response.status_code == 200, user
        body = response.content.decode()
        assert text in body
        assert f"· {role}</span>" in body
        assert "<script>" not in body  # the CSP allows no inline script
        assert "/static/helpdesk/console.js" in body
        assert "/static/helpdesk/monitor.js" in body  # the console monitors itself
        assert "Content-Security-Policy" in response.headers


def test_it_refuses_inactive_staff(staff: Any) -> None:
    staff.is_active = False
    staff.save()
    assert signed_in(None).get("/monitoring/").status_code == 302


def test_it_signs_in_with_a_password_and_returns_to_the_page(reader: Any) -> None:
    client = Client()
    page = client.get("/monitoring/login/?next=/monitoring/")
    assert page.status_code == 200
    assert "Sign in" in page.content.decode()
    response = client.post(
        "/monitoring/login/",
        {"username": "bob", "password": PASSWORD, "next": "/monitoring/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/monitoring/"
    assert client.get("/monitoring/").status_code == 200
    assert client.post("/monitoring/logout/").status_code == 302
    assert client.get("/monitoring/").status_code == 302


def test_it_refuses_a_wrong_password_on_the_login_page(reader: Any) -> None:
    response = Client().post("/monitoring/login/", {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


def test_it_keeps_the_chosen_range_in_the_menu(staff: Any) -> None:
    body = signed_in(staff).get("/monitoring/?range=24h&refresh=60").content.decode()
    assert 'href="/monitoring/?range=24h&amp;refresh=60"' in body
    assert '<option value="24h" selected>' in body
    assert 'data-refresh="60"' in body
    assert f"{CHART}?range=24h" in body
    # An unknown range or refresh falls back to the defaults.
    body = signed_in(staff).get("/monitoring/?range=99y&refresh=7").content.decode()
    assert '<option value="1h" selected>' in body
    assert 'data-refresh="0"' in body


# -- chart JSON --------------------------------------------------------------------------------


def test_it_allows_chart_data_to_readers_only(staff: Any, reader: Any, carol: Any) -> None:
    assert signed_in(None).get(CHART).status_code in {401, 403}
    assert signed_in(carol).get(CHART).status_code == 403
    assert signed_in(reader).get(CHART).status_code == 200
    assert signed_in(staff).get(CHART).status_code == 200


def test_it_answers_bad_chart_requests_with_4xx(staff: Any) -> None:
    client = signed_in(staff)
    assert client.get("/api/v1/monitoring/console/charts/nope/").status_code == 404
    response = client.get(f"{CHART}?range=2y")
    assert response.status_code == 400
    assert "range" in response.json()


def _requests() -> tuple[Histogram, Recorder]:
    registry = CollectorRegistry()
    requests = Histogram(
        charts.REQUESTS,
        "requests",
        ["http_request_method", "http_route", "http_response_status_code"],
        buckets=(0.1, 0.5, 1.0),
        registry=registry,
    )
    return requests, Recorder(registry)


def _traffic() -> Recorder:
    requests, record = _requests()
    record.at(0)
    for minute in range(1, 6):
        for _ in range(60):
            requests.labels("GET", "api/v1/tickets/", "200").observe(0.05)
        for _ in range(minute * 6):
            requests.labels("GET", "api/v1/tickets/", "500").observe(0.8)
        record.at(minute * 60)
    return record


def test_it_answers_charts_from_the_query_layer_on_one_grid() -> None:
    _traffic()
    now = T0 + 5 * 60
    backend = q.EmbeddedBackend(now=now)
    data = charts.chart_data(
        charts.CHARTS["overview.traffic"], charts.RANGES["15m"], backend=backend, now=now
    )
    assert data["backend"] == "embedded"
    assert data["step"] == 60
    assert len(data["timestamps"]) == 15
    assert data["timestamps"][-1] == now
    lines = {line["legend"]: line["values"] for line in data["series"]}
    assert set(lines) == {"all", "5xx"}  # no 4xx: no line
    assert all(len(values) == 15 for values in lines.values())
    # The last written minute holds what the sample at minute 4 saw: 60 fast and 24 failed
    # requests, per second.
    assert lines["all"][-1] == pytest.approx(84 / 60)
    assert lines["5xx"][-1] == pytest.approx(24 / 60)
    assert not lines["all"][0]  # before the traffic

    errors = charts.chart_data(
        charts.CHARTS["overview.errors"], charts.RANGES["15m"], backend=backend, now=now
    )
    (share,) = errors["series"]
    assert share["values"][-1] == pytest.approx(24 / 84)
    latency = charts.chart_data(
        charts.CHARTS["overview.latency"], charts.RANGES["15m"], backend=backend, now=now
    )
    p50, p95, _ = (line["values"][-1] for line in latency["series"])
    assert p50 is not None and p50 <= 0.1
    assert 0.5 < p95 <= 1.0


def test_it_draws_no_errors_as_zero_where_there_was_traffic() -> None:
    requests, record = _requests()
    record.at(0)
    requests.labels("GET", "x", "200").observe(0.01)
    record.at(60)
    record.at(120)
    record.at(180)
    now = T0 + 180
    backend = q.EmbeddedBackend(now=now)
    data = charts.chart_data(
        charts.CHARTS["overview.errors"], charts.RANGES["15m"], backend=backend, now=now
    )
    (share,) = data["series"]
    assert share["values"][-2] == 0.0  # the minute with traffic
    assert share["values"][-1] is None  # no traffic, no ratio


def test_it_serves_chart_json_to_the_browser(staff: Any) -> None:
    response = signed_in(staff).get(f"{CHART}?range=6h")
    assert response.status_code == 200
    data = response.json()
    assert data["range"] == "6h"
    assert len(data["timestamps"]) == 360
    assert response["Cache-Control"] == "private, max-age=10"


@pytest.mark.parametrize(("key", "points", "step"), [("7d", 168, 3600), ("30d", 720, 3600)])
def test_it_answers_long_ranges_from_hour_points(
    staff: Any, key: str, points: int, step: int
) -> None:
    signed_in(staff).get(CHART)  # the URLs are loaded: every page's charts are registered
    assert "alerts.firing" in charts.CHARTS
    for name in sorted(charts.CHARTS):
        response = signed_in(staff).get(f"/api/v1/monitoring/console/charts/{name}/?range={key}")
        assert response.status_code == 200, name
        data = response.json()
        assert (len(data["timestamps"]), data["step"]) == (points, step), name


def test_it_answers_503_when_the_backend_is_down(staff: Any, settings: Any) -> None:
    settings.PROMETHEUS_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = signed_in(staff).get(CHART)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_it_documents_the_chart_endpoint_in_the_openapi_schema() -> None:
    schema = json.loads(Client().get("/api/v1/schema/?format=json").content)
    operation = schema["paths"]["/api/v1/monitoring/console/charts/{name}/"]["get"]
    names = next(p for p in operation["parameters"] if p["name"] == "name")["schema"]["enum"]
    assert "overview.traffic" in names
    assert "200" in operation["responses"]


def test_it_formats_figures_in_chart_units() -> None:
    assert figure(None, "ratio") == NO_DATA
    assert figure(0.0123, "ratio") == "1.23 %"
    assert figure(0.25, "seconds") == "250 ms"
    assert figure(2.5, "seconds") == "2.50 s"
    assert figure(3.14159, "req/s") == "3.14/s"
    assert figure(2048, "bytes") == "2 KiB"
    assert figure(1200, "count") == "1,200"


# -- actions on the Alerts page ----------------------------------------------------------------


@pytest.fixture
def firing() -> Any:
    from helpdesk.monitoring.alerting import services

    alert, _ = services.fire(
        name="HighErrorRate",
        labels={"severity": "critical", "service": "web"},
        annotations={"summary": "5xx", "runbook_url": "docs/runbooks/HighErrorRate.md"},
    )
    return alert


def test_it_lets_only_staff_acknowledge(firing: Any, staff: Any, reader: Any) -> None:
    url = f"/monitoring/alerts/{firing.pk}/ack/"
    assert signed_in(None).post(url)["Location"].startswith("/monitoring/login/")
    assert signed_in(reader).post(url).status_code == 403
    firing.refresh_from_db()
    assert firing.acknowledged_at is None
    page = signed_in(reader).get("/monitoring/alerts/").content.decode()
    assert "Acknowledge</button>" not in page and "Create silence" not in page
    response = signed_in(staff).post(url, {"query": "?range=6h"})
    assert response.status_code == 302
    assert response["Location"] == "/monitoring/alerts/?range=6h"
    firing.refresh_from_db()
    assert firing.acknowledged_by_name == "sam"
    assert signed_in(staff).get(url).status_code == 405


def test_it_sends_no_repeat_of_an_alert_acknowledged_on_the_console(
    firing: Any, staff: Any, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.monitoring.alerting import services
    from helpdesk.monitoring.alerting.models import Channel, Notification

    Channel.objects.create(name="ops", kind="webhook", config={"url": "http://127.0.0.1:9/"})
    signed_in(staff).post(f"/monitoring/alerts/{firing.pk}/ack/")
    later = timezone.now() + timedelta(days=2)
    services.schedule(now=later)
    assert not Notification.objects.filter(alert=firing, kind__in=["repeat", "escalation"]).exists()


def test_it_creates_and_expires_silences_from_the_form(firing: Any, staff: Any) -> None:
    from helpdesk.monitoring.alerting import services
    from helpdesk.monitoring.alerting.models import Silence

    client = signed_in(staff)
    prefilled = client.get(f"/monitoring/alerts/?silence={firing.pk}").content.decode()
    assert "alertname=&quot;HighErrorRate&quot;" in prefilled
    response = client.post(
        "/monitoring/silences/",
        {
            "matchers": 'alertname="HighErrorRate"\nservice=~"we.*"',
            "duration": "2h",
            "comment": "deploy",
        },
    )
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == [
        {"name": "alertname", "value": "HighErrorRate", "isRegex": False, "isEqual": True},
        {"name": "service", "value": "we.*", "isRegex": True, "isEqual": True},
    ]
    assert silence.created_by == "sam"
    assert services.is_silenced(firing.labels, silence.starts_at) is not None
    assert "Silence" in client.get("/monitoring/alerts/").content.decode()
    client.post(f"/monitoring/silences/{silence.pk}/expire/")
    silence.refresh_from_db()
    assert not silence.active_at(silence.ends_at)


@pytest.mark.parametrize(
    ("matchers", "duration", "message"),
    [
        ("", "2h", "Give at least one matcher."),
        ("not a matcher", "2h", "is not a matcher"),
        ('x=~"("', "2h", "regular expression"),
        ('alertname="X"', "99y", "Choose a duration"),
    ],
)
def test_it_refuses_bad_silences_with_a_message(
    staff: Any, reader: Any, matchers: str, duration: str, message: str
) -> None:
    from helpdesk.monitoring.alerting.models import Silence

    assert signed_in(reader).post("/monitoring/silences/", {"matchers": 'a="b"'}).status_code == 403
    response = signed_in(staff).post(
        "/monitoring/silences/", {"matchers": matchers, "duration": duration}, follow=True
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Silence.objects.exists()


def test_it_lets_only_staff_expire_silences(reader: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.monitoring.alerting import services

    silence = services.create_silence(
        matchers=[{"name": "a", "value": "b"}], ends_at=timezone.now() + timedelta(hours=1)
    )
    assert signed_in(reader).post(f"/monitoring/silences/{silence.pk}/expire/").status_code == 403


def test_it_shows_runbooks_and_refuses_other_paths(staff: Any) -> None:
    client = signed_in(staff)
    assert client.get("/monitoring/runbooks/NoSuchAlert/").status_code == 404
    assert client.get("/monitoring/runbooks/..%2Fsettings/").status_code == 404


# -- the figures of the Requests and Errors pages -----------------------------------------------


def test_it_tables_routes_by_time_spent_with_slow_requests() -> None:
    from helpdesk.monitoring.console.pages.traffic import route_table, status_mix

    _traffic()
    backend = q.EmbeddedBackend(now=T0 + 300)
    (row,) = route_table(300, backend)
    # Minutes 1-4 written: 240 fast requests and 6+12+18+24 = 60 failed ones of 0.8 s.
    assert row["route"] == "api/v1/tickets/"
    assert row["requests"] == pytest.approx(300)
    assert row["error_ratio"] == pytest.approx(60 / 300)
    assert row["status"] == "fail"
    assert row["seconds"] == pytest.approx(240 * 0.05 + 60 * 0.8)
    assert row["share"] == pytest.approx(1.0)
    assert row["slow"] == 0  # 0.8 s is under SLOW_REQUEST_SECONDS (1 s)
    mix = {entry["code"]: entry for entry in status_mix(300, backend)}
    assert mix["500"]["requests"] == pytest.approx(60)
    assert mix["500"]["status"] == "fail"
    assert mix["200"]["share"] == pytest.approx(0.8)


def test_it_gives_web_vitals_p75_and_good_poor_shares_per_route() -> None:
    from helpdesk.monitoring.browser.budget import CLS_BUCKETS, VITAL_BUCKETS
    from helpdesk.monitoring.console.pages.errors import vitals_table

    registry = CollectorRegistry()
    vitals = Histogram(
        "browser_web_vital_seconds",
        "v",
        ["metric", "route", "device"],
        buckets=VITAL_BUCKETS,
        registry=registry,
    )
    Histogram(
        "browser_web_vital_cls", "c", ["route", "device"], buckets=CLS_BUCKETS, registry=registry
    )
    record = Recorder(registry)
    record.at(0)
    for value in [1.0] * 6 + [3.0] * 2 + [5.0] * 2:  # 60 % good, 20 % NI, 20 % poor
        vitals.labels("LCP", "/tickets/:id", "desktop").observe(value)
    record.at(60)
    record.at(120)
    (row,) = vitals_table(600, q.EmbeddedBackend(now=T0 + 120))
    lcp = row["vitals"]["LCP"]
    assert row["route"] == "/tickets/:id"
    assert lcp["views"] == pytest.approx(10)
    assert (lcp["good"], lcp["needs_improvement"], lcp["poor"]) == pytest.approx((0.6, 0.2, 0.2))
    assert 2.5 < lcp["p75"] <= 4.0
    assert lcp["status"] == "warn"
    assert "CLS" not in row["vitals"]  # no CLS measured
