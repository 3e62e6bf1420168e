"""URLs for the server-side capture tests: the product's URLs plus views that fail."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from helpdesk.urls import urlpatterns as product_urls

logger = logging.getLogger("helpdesk.tests.errors")


class LedgerError(RuntimeError):
    """A failure deep in the app's own code."""


def _charge(ticket_id: int) -> None:
    raise LedgerError(f"ledger row {ticket_id} is locked (token=tk-secret-991)")


def failing_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    _charge(ticket_id)
    return HttpResponse()  # pragma: no cover


def logging_view(request: HttpRequest) -> HttpResponse:
    try:
        _charge(7)
    except LedgerError:
        logger.exception("charging ticket %s failed", 7)
    logging.getLogger("thirdparty.lib").error("not ours", exc_info=True)
    logger.error("no exception attached")
    return JsonResponse({"ok": True})


urlpatterns = [
    path("fail/<int:ticket_id>/", failing_view),
    path("log-error/", logging_view),
    *product_urls,
]
