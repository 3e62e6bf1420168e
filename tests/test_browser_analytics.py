"""The analytics endpoints: the spec's payloads and the SDK's batches become histogram
observations; bad input gets a clear 4xx and records nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from helpdesk import checks
from helpdesk.monitoring.browser import budget, labels

pytestmark = pytest.mark.django_db

PERFORMANCE = "/api/v1/analytics/performance/"
INTERACTIONS = "/api/v1/analytics/interactions/"
ORIGIN = "http://testserver"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148 Safari/604.1"
TABLET = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"


@pytest.fixture(autouse=True)
def _routes(settings: Any) -> Iterator[None]:
    settings.BROWSER_ROUTE_SET = frozenset({"/tickets/:id", "api/v1/tickets/<pk>/"})
    settings.BROWSER_ACTION_SET = frozenset({"save-ticket"})
    labels.forget_slots()
    yield
    labels.forget_slots()


def post(path: str, body: Any, origin: str | None = ORIGIN, **headers: str) -> Any:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    extra = {"HTTP_ORIGIN": origin} if origin is not None else {}
    extra.setdefault("HTTP_USER_AGENT", DESKTOP)
    extra.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return Client().post(path, raw, content_type="text/plain;charset=UTF-8", **extra)


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_count", labels) or 0.0


def bucket(name: str, le: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_bucket", {**labels, "le": le}) or 0.0


def batch(**fields: Any) -> dict[str, Any]:
    return {"sentAt": time.time() * 1000, "page": "http://testserver/app/tickets/7", **fields}


def test_it_accepts_the_specs_page_load_payload_with_the_page_from_the_referer() -> None:
    labels = {"phase": "total", "route": "api/v1/tickets/<pk>/"}
    before = count("browser_page_load_seconds", **labels)
    # performanceMonitoring.ts: fetch() with JSON, same origin, no page in the body.
    response = Client().post(
        PERFORMANCE,
        json.dumps({"domContentLoaded": 12.5, "loadComplete": 3.1, "totalTime": 812.0}),
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
        HTTP_REFERER="http://testserver/api/v1/tickets/42/?secret=1",
    )
    assert response.status_code == 204
    assert count("browser_page_load_seconds", **labels) == before + 1
    # 812 ms in seconds: in the 1 s bucket, not the 0.5 s one.
    assert (
        bucket("browser_page_load_seconds", "1.0", **labels)
        - bucket("browser_page_load_seconds", "0.5", **labels)
        >= 1
    )


def test_it_accepts_the_specs_interaction_payload() -> None:
    before = count("browser_interaction_seconds", action="save-ticket", route="other")
    other = count("browser_interaction_seconds", action="other", route="other")
    assert post(INTERACTIONS, {"action": "save-ticket", "duration": 180}).status_code == 204
    assert post(INTERACTIONS, {"action": "free text 123", "duration": 5}).status_code == 204
    assert count("browser_interaction_seconds", action="save-ticket", route="other") == before + 1
    assert count("browser_interaction_seconds", action="other", route="other") == other + 1


def test_it_records_the_sdks_batch_by_metric_route_and_device() -> None:
    lcp = {"metric": "LCP", "route": "/tickets/:id", "device": "mobile"}
    cls = {"route": "/tickets/:id", "device": "mobile"}
    before_lcp, before_cls = (
        count("browser_web_vital_seconds", **lcp),
        count("browser_web_vital_cls", **cls),
    )
    poor_before = bucket("browser_web_vital_seconds", "4.0", **lcp)
    vitals = [
        {"name": "LCP", "value": 4500.0, "id": "v6-1", "rating": "poor", "target": "img.hero"},
        {"name": "CLS", "value": 0.3, "id": "v6-2", "rating": "poor"},
        {"name": "INP", "value": 120, "id": "v6-3", "rating": "good", "navigationType": "navigate"},
    ]
    page_load = {"domContentLoaded": 1, "loadComplete": 2, "totalTime": 300}
    body = batch(route="/tickets/:id", vitals=vitals, pageLoad=page_load)
    assert post(PERFORMANCE, body, user_agent=PHONE).status_code == 204
    assert count("browser_web_vital_seconds", **lcp) == before_lcp + 1
    # 4.5 s is over the poor threshold (4 s): not in the le=4 bucket.
    assert bucket("browser_web_vital_seconds", "4.0", **lcp) == poor_before
    assert count("browser_web_vital_cls", **cls) == before_cls + 1
    assert count("browser_page_load_seconds", phase="load_complete", route="/tickets/:id") >= 1


def test_it_labels_tablets_and_unknown_routes() -> None:
    labels = {"metric": "TTFB", "route": "other", "device": "tablet"}
    before = count("browser_web_vital_seconds", **labels)
    body = batch(route="/not/listed", vitals=[{"name": "TTFB", "value": 90}])
    assert post(PERFORMANCE, body, user_agent=TABLET).status_code == 204
    assert count("browser_web_vital_seconds", **labels) == before + 1


def test_it_answers_an_allowed_cross_origin_page_with_cors(settings: Any) -> None:
    settings.BROWSER_ALLOWED_ORIGINS = ["https://portal.example"]
    preflight = Client().options(
        PERFORMANCE,
        HTTP_ORIGIN="https://portal.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://portal.example"
    response = post(PERFORMANCE, batch(), origin="https://portal.example")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://portal.example"


@pytest.mark.parametrize("origin", [None, "null", "https://evil.example", "http://testserver:81"])
def test_it_refuses_other_origins(origin: str | None) -> None:
    response = post(PERFORMANCE, batch(vitals=[{"name": "LCP", "value": 1}]), origin=origin)
    assert response.status_code == 403
    assert response.json() == {"detail": "Origin not allowed."}
    assert "Access-Control-Allow-Origin" not in response


def test_it_refuses_bodies_over_64_kib() -> None:
    body = json.dumps(batch(page="http://testserver/" + "a" * 70_000))
    response = post(PERFORMANCE, body)
    assert response.status_code == 413
    assert "65536" in response.json()["detail"]


def test_it_refuses_a_batch_older_than_five_minutes() -> None:
    before = count("browser_web_vital_seconds", metric="LCP", route="other", device="desktop")
    stale = batch(vitals=[{"name": "LCP", "value": 1000}])
    stale["sentAt"] -= 301_000
    response = post(PERFORMANCE, stale)
    assert response.status_code == 400
    assert "sentAt" in response.json()
    assert count("browser_web_vital_seconds", metric="LCP", route="other", device="desktop") == (
        before
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (PERFORMANCE, {"vitals": [{"name": "FID", "value": 10}]}, "vitals.0.name"),
        (PERFORMANCE, {"vitals": [{"name": "LCP", "value": -1}]}, "vitals.0.value"),
        (PERFORMANCE, {"vitals": [{"name": "LCP", "value": "fast"}]}, "vitals.0.value"),
        (PERFORMANCE, {"vitals": [{"name": "CLS", "value": True}]}, "vitals.0.value"),
        (PERFORMANCE, {"vitals": [{"name": "LCP", "value": 1, "x": 1}]}, "vitals.0.x"),
        (PERFORMANCE, {"vitals": "LCP"}, "vitals"),
        (PERFORMANCE, {"vitals": [{"name": "LCP", "value": 1}] * 101}, "vitals"),
        (PERFORMANCE, {"domContentLoaded": 1, "loadComplete": 2}, "totalTime"),
        (PERFORMANCE, {"domContentLoaded": 1, "loadComplete": 2, "totalTime": 4e9}, "totalTime"),
        (PERFORMANCE, {"pageLoad": {"totalTime": 1}}, "pageLoad.domContentLoaded"),
        (PERFORMANCE, {"sentAt": "now"}, "sentAt"),
        (PERFORMANCE, {"route": ["a"]}, "route"),
        (PERFORMANCE, {"unknown": 1}, "unknown"),
        (PERFORMANCE, [1, 2], "body"),
        (INTERACTIONS, {"action": "", "duration": 1}, "action"),
        (INTERACTIONS, {"action": "save", "duration": None}, "duration"),
        (INTERACTIONS, {"action": "x" * 65, "duration": 1}, "action"),
        (INTERACTIONS, {"interactions": [{"action": "save"}]}, "interactions.0.duration"),
        (INTERACTIONS, {"interactions": {}}, "interactions"),
    ],
)
def test_it_answers_field_errors_and_records_nothing(path: str, body: Any, field: str) -> None:
    before = generate_latest(REGISTRY).decode()
    # A valid measurement in the same batch must not be recorded either.
    if path == PERFORMANCE and isinstance(body, dict) and isinstance(body.get("vitals"), list):
        body = {**body, "vitals": [{"name": "TTFB", "value": 5}, *body["vitals"]]}
        field = field.replace("vitals.0", "vitals.1")
    response = post(path, body)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    after = generate_latest(REGISTRY).decode()
    assert _browser_samples(after, histograms_only=True) == _browser_samples(
        before, histograms_only=True
    )


@pytest.mark.parametrize("raw", [b"not json", b"{", b"\xff\xfe", b""])
def test_it_refuses_a_body_that_is_not_json(raw: bytes) -> None:
    response = post(PERFORMANCE, raw)
    assert response.status_code == 400
    assert response.json() == {"detail": "The body is not JSON."}


def test_it_only_takes_posts() -> None:
    response = Client().get(PERFORMANCE, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"


def test_it_limits_reports_per_client_ip(settings: Any) -> None:
    settings.BROWSER_RATE_LIMIT_PER_MINUTE = 2
    body = batch(vitals=[{"name": "FCP", "value": 100}])
    assert [post(PERFORMANCE, body).status_code for _ in range(2)] == [204, 204]
    response = post(INTERACTIONS, {"action": "save-ticket", "duration": 1})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60


def _browser_samples(text: str, histograms_only: bool = False) -> dict[tuple[Any, ...], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("browser_"):
            continue
        if histograms_only and family.type != "histogram":
            continue
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_it_labels_pages_without_a_declared_route_by_their_django_route_template(
    settings: Any,
) -> None:
    settings.BROWSER_ROUTE_SET = frozenset()
    settings.BROWSER_RESOLVED_ROUTES = 2
    fcp = {"metric": "FCP", "device": "desktop"}
    vitals = [{"name": "FCP", "value": 300}]
    pages = {
        "http://testserver/monitoring/requests/?window=1h": "monitoring/requests/",
        # Every admin page has one label, as in the request metrics.
        "http://testserver/admin/tickets/ticket/12/change/": "admin/*",
        # Past the two slots: the URLconf has the template, the metrics do not.
        "http://testserver/monitoring/alerts/": "other",
        # Resolves to nothing, or to an untracked path (static files).
        "http://testserver/no/such/page": "other",
        "http://testserver/static/spec/index.html": "other",
        # A template that holds a slot keeps it for its other URLs.
        "http://testserver/admin/login/": "admin/*",
    }
    for page, route in pages.items():
        before = count("browser_web_vital_seconds", route=route, **fcp)
        assert post(PERFORMANCE, batch(page=page, vitals=vitals)).status_code == 204
        assert count("browser_web_vital_seconds", route=route, **fcp) == before + 1, page
    # The slots are shared (the cache), not this process's: another process that has learnt
    # nothing yet gets the same answers.
    labels._slotted.clear()
    assert labels.route(None, "http://testserver/monitoring/alerts/") == "other"
    assert labels.route(None, "http://testserver/monitoring/requests/") == "monitoring/requests/"


def test_it_keeps_declared_routes_to_the_allowlist(settings: Any) -> None:
    # A declared route is the client's text: never a slot, even when it looks like a template.
    settings.BROWSER_ROUTE_SET = frozenset()
    assert labels.route("monitoring/requests/", None) == "other"
    assert labels.route("monitoring/requests/", "http://testserver/monitoring/") == "other"


def test_it_keeps_the_browser_series_under_5000(settings: Any) -> None:
    # The allowlists include what the other tests of this process recorded: the registry is
    # the process's, and its series are what a scrape sees.
    # The templates an earlier test gave slots are listed: those slots are free again here.
    routes = [
        "/tickets/:id",
        "api/v1/tickets/<pk>/",
        "monitoring/requests/",
        "admin/*",
    ]
    actions = ["save-ticket", *(f"action-{i}" for i in range(4))]
    resolved = settings.BROWSER_RESOLVED_ROUTES
    ceiling = budget.series(len(routes) + resolved, len(actions))
    assert ceiling <= budget.MAX_SERIES
    settings.BROWSER_ROUTE_SET = frozenset(routes)
    settings.BROWSER_ACTION_SET = frozenset(actions)
    settings.BROWSER_RATE_LIMIT_PER_MINUTE = 10_000
    page_load = {"domContentLoaded": 1, "loadComplete": 2, "totalTime": 3}
    vitals = [{"name": name, "value": 1} for name in budget.THRESHOLDS]
    # Every route (and one not listed), every device, every action (and one not listed), and
    # every reject reason the tests can reach.
    for route in [*routes, "/unlisted"]:
        for agent in (DESKTOP, PHONE, TABLET):
            body = batch(route=route, vitals=vitals, pageLoad=page_load)
            assert post(PERFORMANCE, body, user_agent=agent).status_code == 204
        items = [{"action": a, "duration": 1} for a in [*actions, "unlisted"]]
        assert post(INTERACTIONS, batch(route=route, interactions=items)).status_code == 204
    # Pages without a declared route, at more URLconf templates than there are slots.
    paths = [
        *(f"monitoring/{p}" for p in ("", "alerts/", "silences/", "errors/", "login/")),
        *(f"api/v1/monitoring/errors/{p}" for p in ("issues/", "issues/1/", "projects/")),
        *(f"api/v1/{p}" for p in ("tickets/", "tickets/1/", "tickets/1/comments/", "schema/")),
        *(f"api/v1/monitoring/{p}" for p in ("database/", "system/", "slo/", "alerts/")),
        "admin/tickets/ticket/1/change/",
    ]
    assert len(paths) > resolved
    for path in paths:
        body = batch(page=f"http://testserver/{path}", vitals=vitals, pageLoad=page_load)
        assert post(PERFORMANCE, body, user_agent=PHONE).status_code == 204
    post(PERFORMANCE, {"vitals": [{"name": "FID", "value": 1}]})
    post(PERFORMANCE, b"{}", origin="https://evil.example")
    exposed = len(_browser_samples(generate_latest(REGISTRY).decode()))
    assert exposed <= ceiling <= budget.MAX_SERIES


def test_it_refuses_allowlists_over_the_series_budget(settings: Any) -> None:
    settings.BROWSER_ROUTE_SET = frozenset(f"/r{i}" for i in range(40))
    settings.BROWSER_ACTION_SET = frozenset(f"a{i}" for i in range(40))
    errors = [e for e in checks.monitoring() if e.id == "helpdesk.E009"]
    assert len(errors) == 1
    assert "allow fewer routes or actions" in errors[0].msg
    settings.BROWSER_ROUTE_SET = frozenset(f"/r{i}" for i in range(2))
    settings.BROWSER_ACTION_SET = frozenset(f"a{i}" for i in range(10))
    settings.BROWSER_RESOLVED_ROUTES = 10
    assert not [e for e in checks.monitoring() if e.id == "helpdesk.E009"]
    # The resolved routes' slots count as routes.
    settings.BROWSER_RESOLVED_ROUTES = 40
    assert [e for e in checks.monitoring() if e.id == "helpdesk.E009"]
