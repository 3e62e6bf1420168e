"""gunicorn settings, all from the environment (PORT, HOST, WEB_CONCURRENCY, WEB_THREADS)."""

from __future__ import annotations

import os

_production = os.environ.get("HELPDESK_ENV", "development").lower() == "production"

bind = f"{os.environ.get('HOST') or ('0.0.0.0' if _production else '127.0.0.1')}:{os.environ.get('PORT') or '8000'}"  # noqa: S104,E501
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
graceful_timeout = 10
keepalive = 5
# Request line and header limits refuse oversized requests before Django sees them.
limit_request_line = 8190
limit_request_fields = 100
# The application writes the access log (one ECS line per request, with the request id and
# user); gunicorn's own lines go through the same LOGGING config, so they are ECS JSON too.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def _logconfig() -> dict[str, object]:
    from helpdesk.settings import LOGGING

    return LOGGING


logconfig_dict = _logconfig()
proc_name = "helpdesk-web"
# A per-user control socket would collide between several instances on one host (tests, CI).
control_socket_disable = True
