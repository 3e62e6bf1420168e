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
PAGES = [("/monitoring/", "Health checks")]
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
