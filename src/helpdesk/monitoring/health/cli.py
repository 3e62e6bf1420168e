"""``helpdesk healthcheck``: exit 0 when healthy, 1 otherwise, for container health checks.

    helpdesk healthcheck            GET /health/live of the local server
    helpdesk healthcheck --ready    GET /health/ready (dependencies too)
    helpdesk healthcheck --url URL  any URL (200 → 0)
    helpdesk healthcheck --worker   the background worker on this host has a fresh heartbeat

The HTTP modes use urllib and do not load Django (a check every few seconds stays cheap, and
images need no curl). ``--worker`` loads Django and runs the ``worker`` check of HEALTH_CHECKS
against this host's heartbeat rows.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

logger = logging.getLogger(__name__)


def _http(url: str, timeout: float) -> int:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        print(f"unhealthy: {url} is not an http(s) URL", file=sys.stderr)
        return 1
    request = urllib.request.Request(url, headers={"User-Agent": "helpdesk-healthcheck"})  # noqa: S310
    try:
        # The scheme is checked above: no file:// or custom handlers.
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        print(f"unhealthy: {url} unreachable ({type(error).__name__})", file=sys.stderr)
        return 1
    healthy = 200 <= status < 300
    print(f"{'healthy' if healthy else 'unhealthy'}: {url} answered {status}")
    return 0 if healthy else 1


def _worker() -> int:
    """Run the ``worker`` check of HEALTH_CHECKS against this host's workers only."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.utils.module_loading import import_string

    from helpdesk.monitoring.health.checks import HealthCheck, HealthCheckError

    for entry in settings.HEALTH_CHECKS:
        cls: type[HealthCheck] = import_string(entry["check"])
        if cls.name == "worker":
            break
    else:
        print("unhealthy: HEALTH_CHECKS has no worker check", file=sys.stderr)
        return 1
    check = cls(**{**entry.get("options", {}), "hostname": socket.gethostname()})
    try:
        age = check.run()
    except HealthCheckError as error:
        print(f"unhealthy: {error.message}", file=sys.stderr)
        return 1
    print(f"healthy: worker heartbeat {age}s old")
    return 0


def main(argv: list[str]) -> int:
    """Parse ``argv`` (the arguments after ``healthcheck``) and return the exit code."""
    parser = argparse.ArgumentParser(
        prog="helpdesk healthcheck", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--ready", action="store_true", help="check /health/ready")
    mode.add_argument("--worker", action="store_true", help="check this host's worker heartbeat")
    mode.add_argument("--url", help="check this URL instead")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args(argv)
    if args.worker:
        return _worker()
    url = args.url
    if not url:
        port = os.environ.get("PORT") or "8000"
        url = f"http://127.0.0.1:{port}/health/{'ready' if args.ready else 'live'}"
    return _http(url, args.timeout)
