"""/metrics in one process: access, exact deltas after known requests, headers, collectors."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from helpdesk.accounts.models import Organization
from helpdesk.monitoring.metrics import business
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789abcdef"
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def _metrics_settings(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.MONITORING_API_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_BUSINESS_CACHE_SECONDS = 0


def scrape(**headers: str) -> Series:
    """Return every sample of /metrics as {(name, labels): value}."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    series: Series = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def requests_of(series: Series, method: str, route: str, status: str) -> float:
    return value(
        series,
        "http_server_request_duration_seconds_count",
        http_request_method=method,
        http_route=route,
        http_response_status_code=status,
    )


def test_it_refuses_a_scrape_without_a_token() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"http_server" not in response.content


def test_it_refuses_a_wrong_token() -> None:
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response


def test_it_serves_the_metrics_with_the_token() -> None:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]


def test_it_accepts_the_monitoring_token_and_staff(settings: Any, alice: Any) -> None:
    settings.MONITORING_API_TOKEN = "monitoring-token-0123456789abcdef0123"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {settings.MONITORING_API_TOKEN}"}
    assert Client().get("/metrics", **headers).status_code == 200
    staff = Client()
    alice.is_staff = True
    alice.save()
    staff.force_login(alice)
    assert staff.get("/metrics").status_code == 200


def test_it_refuses_a_user_api_token(bob: Any) -> None:
    assert client_for(bob).get("/metrics").status_code == 401


def test_it_allows_listed_networks_and_refuses_others(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 403
    # A forged X-Forwarded-For from an untrusted peer does not move the client address.
    forged = Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert forged.get("/metrics").status_code == 403
    settings.TRUSTED_PROXIES = ["192.0.2.0/24"]
    proxied = Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert proxied.get("/metrics").status_code == 200


def test_it_refuses_other_methods() -> None:
    response = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405


def test_it_serves_openmetrics_when_asked() -> None:
    response = Client().get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


def test_it_counts_requests_by_route_template(bob: Any, make_ticket: Any) -> None:
    ticket = make_ticket()
    before = scrape()
    api = client_for(bob)
    for _ in range(3):
        assert api.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 200
    assert api.get("/api/v1/tickets/999999/").status_code == 404
    after = scrape()
    route = "api/v1/tickets/<pk>/"
    assert requests_of(after, "GET", route, "200") - requests_of(before, "GET", route, "200") == 3
    assert requests_of(after, "GET", route, "404") - requests_of(before, "GET", route, "404") == 1
    # The raw path never becomes a label value.
    assert not any(f"/{ticket.pk}/" in v for _, labels in after for _, v in labels)


def test_it_labels_every_admin_page_with_one_route(db: None) -> None:
    """The admin's hundred-odd routes share one label value: staff pages, bounded series."""
    before = scrape()
    for page, status in (("/admin/", 302), ("/admin/tickets/ticket/", 302), ("/admin/login/", 200)):
        assert Client().get(page).status_code == status
    after = scrape()
    for status, count in (("302", 2), ("200", 1)):
        added = requests_of(after, "GET", "admin/*", status) - requests_of(
            before, "GET", "admin/*", status
        )
        assert added == count
    assert not any(v.startswith("admin/") and v != "admin/*" for _, ls in after for _, v in ls)


def test_it_collapses_unmatched_paths_and_unknown_methods() -> None:
    before = scrape()
    for path in ("/no/such/page", "/wp-login.php", "/no/such/page/2"):
        assert Client().get(path).status_code == 404
    assert Client().generic("BREW", "/api/v1/tickets/").status_code in {401, 405}
    after = scrape()
    delta = requests_of(after, "GET", "unmatched", "404") - requests_of(
        before, "GET", "unmatched", "404"
    )
    assert delta == 3
    other = {
        labels
        for (name, labels), count in after.items()
        if name == "http_server_request_duration_seconds_count"
        and ("http_request_method", "_OTHER") in labels
        and count > value(before, name, **dict(labels))
    }
    assert other and all(("http_route", "api/v1/tickets/") in labels for labels in other)
    assert not any(("http_request_method", "BREW") in labels for _, labels in after)


def test_it_leaves_metrics_and_health_paths_out() -> None:
    scrape()
    after = scrape()
    routes = {v for _, labels in after for k, v in labels if k == "http_route"}
    assert "metrics" not in routes
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert "Server-Timing" not in response


def test_it_counts_queries_and_reports_them_in_server_timing(bob: Any, make_ticket: Any) -> None:
    make_ticket()
    before = scrape()
    api = client_for(bob)
    queries: list[str] = []

    def count(execute: Any, sql: str, *args: Any) -> Any:
        queries.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(count):
        response = api.get("/api/v1/tickets/")
    after = scrape()
    assert response.status_code == 200
    timing = response["Server-Timing"]
    assert timing.startswith("app;dur=")
    assert "db;dur=" in timing
    assert f'desc="{len(queries)} queries"' in timing
    assert "cache;dur=" in timing
    assert response["X-Response-Time"].endswith("s")
    # Every query is timed, the scrape's own collectors' too: at least the request's.
    name = "db_client_operation_duration_seconds_count"
    assert value(after, name, db_alias="default") - value(before, name, db_alias="default") >= len(
        queries
    )
    per_request = "db_client_queries_per_request_sum"
    # The scrape itself runs queries too (business collector), but outside a measured request.
    assert value(after, per_request, db_alias="default") - value(
        before, per_request, db_alias="default"
    ) == len(queries)


def test_it_counts_response_sizes_and_in_flight_requests(bob: Any) -> None:
    before = scrape()
    response = client_for(bob).get("/api/v1/tickets/")
    after = scrape()
    name = "http_server_response_body_size_bytes_sum"
    assert value(after, name, http_request_method="GET") - value(
        before, name, http_request_method="GET"
    ) == len(response.content)
    assert value(after, "http_server_active_requests") == 0


def test_it_counts_view_exceptions_by_class(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.logging_urls"
    before = scrape()
    client = Client(raise_request_exception=False)
    assert client.get("/test/boom/").status_code == 500
    after = scrape()
    name = "http_server_exceptions_total"
    assert (
        value(after, name, exception_type="RuntimeError")
        - value(before, name, exception_type="RuntimeError")
        == 1
    )
    assert requests_of(after, "GET", "test/boom/", "500") == 1 + requests_of(
        before, "GET", "test/boom/", "500"
    )
    assert value(after, "http_server_active_requests") == 0


def test_it_lets_an_escaping_exception_through_and_ends_the_request() -> None:
    from django.test import RequestFactory

    from helpdesk.monitoring.metrics.middleware import MetricsMiddleware
    from helpdesk.monitoring.metrics.timing import current_timing

    def broken(_: Any) -> Any:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        MetricsMiddleware(broken)(RequestFactory().get("/api/v1/tickets/"))
    assert current_timing.get() is None
    assert value(scrape(), "http_server_active_requests") == 0


def test_it_formats_the_timing_headers_with_and_without_database_work(bob: Any) -> None:
    number = r"\d+\.\d"
    timing = re.compile(
        rf'app;dur={number}, db;dur={number};desc="(\d+) queries", cache;dur={number}\Z'
    )
    with_queries = client_for(bob).get("/api/v1/tickets/")
    without = Client().get("/no/such/page/")
    for response in (with_queries, without):
        assert re.fullmatch(r"\d+\.\d{3}s", response["X-Response-Time"])
    assert int(timing.match(with_queries["Server-Timing"])[1]) > 0  # type: ignore[index]


@pytest.mark.parametrize("path", ["/status/", "/api/v1/tickets/", "/monitoring/login/"])
def test_it_keeps_the_timing_breakdown_from_anonymous_callers(bob: Any, path: str) -> None:
    # A query count that differs with the input (a known username at sign-in) would tell.
    response = Client().get(path)
    assert "Server-Timing" not in response
    assert re.fullmatch(r"\d+\.\d{3}s", response["X-Response-Time"])
    assert "db;dur=" in client_for(bob).get("/api/v1/tickets/")["Server-Timing"]


def test_it_counts_cache_hits_misses_and_errors() -> None:
    before = scrape()
    cache.delete("metrics-test")
    assert cache.get("metrics-test") is None
    cache.set("metrics-test", 1)
    assert cache.get("metrics-test") == 1
    assert cache.get_many(["metrics-test", "metrics-missing"]) == {"metrics-test": 1}
    with pytest.raises(ValueError):
        cache.incr("metrics-missing")
    after = scrape()
    for name, expected in (("helpdesk_cache_hits_total", 2), ("helpdesk_cache_misses_total", 2)):
        delta = value(after, name, cache_alias="default") - value(
            before, name, cache_alias="default"
        )
        # The scrape's own collectors may read the cache: at least ours, exactly in the tests'
        # own window is not guaranteed, so compare with what the collectors did in between.
        assert delta >= expected
    errors = "helpdesk_cache_errors_total"
    assert value(after, errors, cache_alias="default") == value(
        before, errors, cache_alias="default"
    )


def test_it_counts_each_key_of_a_many_key_read_once() -> None:
    from prometheus_client import REGISTRY

    from helpdesk.monitoring.metrics.cache import LocMemCache

    local = LocMemCache("many-key-test", {"ALIAS": "many-key-test"})
    local.set("here", 1)
    assert local.get_many(["here", "missing"]) == {"here": 1}

    def count(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"cache_alias": "many-key-test"})

    assert count("helpdesk_cache_hits_total") == 1
    assert count("helpdesk_cache_misses_total") == 1


def test_it_logs_slow_requests_with_their_figures(
    settings: Any, bob: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SLOW_REQUEST_SECONDS = 0
    with caplog.at_level(logging.WARNING, logger="helpdesk.monitoring.metrics.middleware"):
        response = client_for(bob).get("/api/v1/tickets/", HTTP_X_REQUEST_ID="slow-req-1")
    (record,) = [r for r in caplog.records if r.name == "helpdesk.monitoring.metrics.middleware"]
    fields = record.__dict__
    assert fields["http.route"] == "api/v1/tickets/"
    assert fields["http.request.method"] == "GET"
    assert fields["http.response.status_code"] == 200
    assert fields["helpdesk.db.queries"] >= 1
    assert fields["event.duration"] > 0
    assert response["X-Request-ID"] == "slow-req-1"
    from helpdesk.monitoring.logging.formatters import ECSFormatter

    line = ECSFormatter().format(record)
    assert "slow-req-1" in line


def test_it_does_not_log_fast_requests(bob: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="helpdesk.monitoring.metrics.middleware"):
        client_for(bob).get("/api/v1/tickets/")
    assert not [r for r in caplog.records if r.name == "helpdesk.monitoring.metrics.middleware"]


def test_it_replaces_a_hostile_request_id_on_measured_requests() -> None:
    hostile = "a\r\nSet-Cookie: x=1" + "y" * 10_000
    response = Client().get("/no/such/page", HTTP_X_REQUEST_ID=hostile)
    assert len(response["X-Request-ID"]) == 32
    assert "X-Response-Time" in response


def test_it_reports_a_failing_collector_without_breaking_the_scrape(settings: Any) -> None:
    settings.HELPDESK_METRICS_COLLECTORS = [
        *settings.HELPDESK_METRICS_COLLECTORS,
        "helpdesk.monitoring.nowhere.MissingCollector",
    ]
    series = scrape()
    assert value(series, "helpdesk_metrics_collector_up", collector="MissingCollector") == 0
    assert value(series, "helpdesk_metrics_collector_up", collector="BusinessCollector") == 1
    assert value(series, "helpdesk_metrics_scrape_duration_seconds") > 0


def test_it_exports_build_info() -> None:
    series = scrape()
    (labels,) = [labels for name, labels in series if name == "helpdesk_build_info"]
    assert {k for k, _ in labels} == {
        "version",
        "git_commit",
        "python_version",
        "django_version",
    }


@pytest.fixture
def tickets_in_three_orgs(make_ticket: Any, org: Organization, alice: Any) -> Iterator[None]:
    from django.contrib.auth import get_user_model

    from helpdesk.accounts.models import Membership, Role
    from helpdesk.tickets import services

    for _ in range(3):
        make_ticket(priority="high")
    for slug, count in (("globex", 2), ("initech", 1)):
        other = Organization.objects.create(name=slug.title(), slug=slug)
        requester = get_user_model().objects.create_user(username=f"c-{slug}")
        Membership.objects.create(user=requester, organization=other, role=Role.CUSTOMER)
        Membership.objects.create(user=alice, organization=other, role=Role.ADMIN)
        for _ in range(count):
            services.create_ticket(
                alice,
                services.access_for(alice),
                organization=other,
                requester=requester,
                subject="Elsewhere",
            )
    yield


def test_it_exports_ticket_figures_with_bounded_organizations(
    settings: Any, tickets_in_three_orgs: None
) -> None:
    settings.METRICS_TOP_ORGANIZATIONS = 1
    series = scrape()
    tickets = {
        labels: count for (name, labels), count in series.items() if name == "helpdesk_tickets"
    }
    orgs = {dict(labels)["organization"] for labels in tickets}
    assert orgs == {"acme", "other"}
    assert (
        value(series, "helpdesk_tickets", organization="acme", status="new", priority="high") == 3
    )
    assert value(series, "helpdesk_tickets_created_total", organization="other") == 3
    assert value(series, "helpdesk_ticket_resolution_seconds_count") == 0
    assert value(series, "helpdesk_users_created_total") >= 3


def test_it_exports_sla_breaches_and_resolution_times(make_ticket: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.tickets.models import Ticket

    now = timezone.now()
    late = make_ticket()
    Ticket.objects.filter(pk=late.pk).update(sla_due_at=now - timedelta(hours=1))
    done = make_ticket()
    Ticket.objects.filter(pk=done.pk).update(
        status="resolved",
        created_at=now - timedelta(hours=2),
        resolved_at=now,
        first_response_at=now - timedelta(minutes=90),
        sla_due_at=now - timedelta(hours=1),
    )
    series = scrape()
    breached = "helpdesk_tickets_sla_breached"
    assert value(series, breached, organization="acme", state="open") == 1
    assert value(series, breached, organization="acme", state="resolved") == 1
    assert value(series, "helpdesk_ticket_resolution_seconds_count") == 1
    assert value(series, "helpdesk_ticket_resolution_seconds_sum") == pytest.approx(7200, abs=1)
    assert value(series, "helpdesk_ticket_resolution_seconds_bucket", le="3600.0") == 0
    assert value(series, "helpdesk_ticket_resolution_seconds_bucket", le="14400.0") == 1
    assert value(series, "helpdesk_ticket_first_response_seconds_bucket", le="1800.0") == 1


def test_it_counts_active_users_from_logins_and_token_use(bob: Any, carol: Any) -> None:
    client_for(bob).get("/api/v1/tickets/")  # token use stamps last_used_at
    series = scrape()
    assert value(series, "helpdesk_users_active") == 1


def test_it_caches_business_figures_between_scrapes(
    settings: Any, make_ticket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.METRICS_BUSINESS_CACHE_SECONDS = 3600
    calls = []
    real = business.collect_business
    monkeypatch.setattr(business, "collect_business", lambda top: calls.append(top) or real(top))
    collector = business.BusinessCollector()
    list(collector.collect())
    list(collector.collect())
    assert len(calls) == 1
