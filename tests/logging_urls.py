"""URLs for the logging tests: the product's URLs plus views that log, bind and fail."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from helpdesk.lib import request_context
from helpdesk.urls import urlpatterns as product_urls

logger = logging.getLogger("helpdesk.tests.views")

DSN = "postgres://helpdesk:dsn-pa55word-xyz@db:5432/helpdesk"


def chatty(request: HttpRequest) -> HttpResponse:
    """Log the kinds of things careless code logs: headers, cookies, bodies, query strings."""
    request_context.bind(ticket_id=42, organization="acme")
    logger.info("headers %s", dict(request.headers))
    logger.info("cookies %s", request.COOKIES)
    logger.info("body %s", request.body.decode(errors="replace"))
    logger.info("full path %s", request.get_full_path())
    logger.info("query", extra={"labels.query_params": dict(request.GET.items())})
    logger.warning(
        "login failed",
        extra={
            "event.action": "authn_login_fail",
            "event.category": ["authentication"],
            "event.outcome": "failure",
            "password": request.POST.get("password", "") or "from-extra-pw-1",
            "http.request.headers": {"authorization": request.headers.get("Authorization")},
        },
    )
    try:
        raise ConnectionError(f"could not connect to {DSN}")
    except ConnectionError:
        logger.exception("database unreachable")
    return JsonResponse({"ok": True})


def boom(request: HttpRequest) -> HttpResponse:
    """Fail with an unhandled error (Django turns it into a 500 and logs it)."""
    raise RuntimeError(f"kaput while talking to {DSN}")


urlpatterns = [
    path("test/chatty/", chatty),
    path("test/boom/", boom),
    *product_urls,
]
