"""The security middleware: request rate per client IP, scanners, probes, 404 floods, 403s,
lockout answers and the Content-Security-Policy header.

It sits right after the request-context and access-log middleware, so everything it refuses is
still logged. Per request it counts the client IP's hit in the current minute in memory; each
process sends its counts to Redis in one pipelined call a second (``RateCounter``), so the
rate detection and throttling see the other processes' requests up to a second late (lockouts
are decided elsewhere, exactly: ``lockout``). Without Redis the counter is the local-memory
cache. Everything else happens only when something suspicious is seen. Health probes, /metrics
and static files (MONITORING_UNTRACKED_PATHS) are exempt. While Redis fails, the counters live
in the process's memory (``store``): a cache outage neither fails nor slows every request.

- More than SECURITY_RATE_LIMIT_PER_MINUTE requests in a minute: one
  ``excess_rate_limit_exceeded`` event per IP per minute, and 429 with Retry-After when the
  route group (``auth``, ``admin``, ``api``, ``other``) is in SECURITY_THROTTLE_GROUPS.
- A known attack tool's user agent: ``malicious_attack_tool`` (once per IP per minute); a path
  this product never serves (/.env, /wp-admin…): ``malicious_probe_path`` (once per IP, path
  signature and minute). ``curl`` and HTTP libraries are only classified, not flagged.
- SECURITY_404_LIMIT_PER_MINUTE 404 answers to one IP in a minute: ``malicious_excess_404``.
- Every 403: ``authz_fail``.
- A login refused or stopped by a lockout (see ``backends``/``receivers``) becomes 429.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

import redis
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

from helpdesk.lib.client_ip import client_ip
from helpdesk.lib.synthetic import is_synthetic
from helpdesk.monitoring.security import events
from helpdesk.monitoring.security.agents import attack_tool, classify, probe_path
from helpdesk.monitoring.security.backends import LOCK_ATTRIBUTE
from helpdesk.monitoring.security.lockout import Lock, engine
from helpdesk.monitoring.security.store import failover

logger = logging.getLogger(__name__)

_BUCKET = 60
# The site-wide counter sends each process's hits to Redis once a second (see RateCounter).
_SEND_SECONDS = 1.0


# Sentry SDKs' ingestion endpoints (helpdesk.monitoring.errors): limited per project key there,
# since one backend host may rightly send many errors from one address.
_INGEST = re.compile(r"^/api/\d+/(?:envelope|store)/$")


def route_group(path: str) -> str:
    """Return the throttling group of a path: ingest, auth, admin, api or other."""
    if _INGEST.match(path):
        return "ingest"
    if path.startswith(("/api/v1/auth/", "/admin/login/", "/monitoring/login/")):
        return "auth"
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/api/"):
        return "api"
    return "other"


class RateCounter:
    """Count hits per key in minute buckets, shared by every process through Redis.

    With ``send_seconds`` 0 each hit is one round trip (``INCRBY`` and ``EXPIRE``, pipelined)
    through the counter's own client on the default cache's URL, options and key prefix
    (Django's ``RedisCache.incr`` asks EXISTS first and refuses a missing key). With
    ``send_seconds`` > 0 the process counts in memory and sends what it counted in one
    pipelined call with its first hit after each interval; a hit returns the total Redis gave
    at the last send plus this process's hits since. Other processes' hits are then seen late
    by at most their interval (a process that goes idle sends its last hits with its next
    request), and a send that fails loses that interval's hits. Without Redis, or while it
    fails, hits count in this process's stand-in (``store``).
    """

    def __init__(self, send_seconds: float = 0.0) -> None:
        self._redis: redis.Redis | None = None
        config = settings.CACHES["default"]
        if config["BACKEND"].endswith(".RedisCache"):
            self._redis = redis.Redis.from_url(config["LOCATION"], **config.get("OPTIONS", {}))
        self.send_seconds = send_seconds
        self._lock = threading.Lock()
        self._bucket = 0
        self._unsent: Counter[str] = Counter()  # Redis key -> hits not sent yet
        self._sent: dict[str, int] = {}  # Redis key -> its total at the last send (this bucket)
        self._send_at = 0.0

    def hit(self, ip: str, bucket: int, scope: str = "rate") -> int:
        """Count one request; returns the IP's count in this bucket of ``scope``.

        The site-wide budget is the ``rate`` scope; an endpoint with a budget of its own (see
        ``ratelimit.over_limit``) counts under its own scope.
        """
        key = f"security:{scope}:{ip}:{bucket}"
        store = failover("default")  # this process's memory while Redis fails
        if self._redis is not None and not store.degraded:
            raw = cache.make_key(key)
            with self._lock:
                if bucket != self._bucket:  # a new minute: the last one's totals are done
                    self._bucket, self._sent = bucket, {}
                self._unsent[raw] += 1
                count = self._sent.get(raw, 0) + self._unsent[raw]
                now = time.monotonic()
                if now < self._send_at:
                    return count
                batch, self._unsent = self._unsent, Counter()
                self._send_at = now + self.send_seconds
            try:
                return self._send(batch)[raw] + self._unsent[raw]
            except redis.RedisError as error:
                store.failed(error)
        try:
            return int(store.incr(key))
        except ValueError:
            if store.add(key, 1, timeout=_BUCKET * 3):
                return 1
            return int(store.incr(key))

    def _send(self, batch: Counter[str]) -> dict[str, int]:
        """Add the ``batch`` of hits to the Redis counters in one round trip; return the totals."""
        pipe = cast(redis.Redis, self._redis).pipeline(transaction=False)
        for raw, hits in batch.items():
            pipe.incrby(raw, hits)
            pipe.expire(raw, _BUCKET * 3)
        totals = dict(zip(batch, pipe.execute()[::2], strict=True))
        with self._lock:
            self._sent.update(totals)
        return totals


def _wants_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    if "json" in accept:
        return True
    if "text/html" in accept:
        return False
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return False  # a form post (the session login page) reads HTML
    return request.path.startswith("/api/")


def too_many_requests(request: HttpRequest, retry_after: int, message: str) -> HttpResponse:
    """Return a 429 answer with Retry-After, JSON for the API, HTML for forms."""
    if _wants_json(request):
        body = json.dumps({"detail": message, "retry_after": retry_after})
        response = HttpResponse(body, status=429, content_type="application/json")
    else:
        html = (
            "<!DOCTYPE html><html><head><title>Too many requests</title></head>"
            f"<body><h1>Too many requests</h1><p>{escape(message)}</p></body></html>"
        )
        response = HttpResponse(html, status=429, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response


def lockout_response(request: HttpRequest, lock: Lock, now: float) -> HttpResponse:
    """Return the 429 answer for a login refused by a lockout."""
    retry = lock.retry_after(now)
    what = "this address" if lock.scope == "ip" else "this account"
    return too_many_requests(
        request,
        retry,
        f"Too many failed login attempts from {what}. Try again in {retry} seconds.",
    )


def lock_clock() -> float:
    """Return the lockout engine's time (injectable in tests)."""
    return engine.clock()


class SecurityMonitorMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponse],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.get_response = get_response
        self.clock = clock
        self.counter = RateCounter(send_seconds=_SEND_SECONDS)
        self.exempt = tuple(settings.MONITORING_UNTRACKED_PATHS)
        self.csp: str = settings.SECURITY_CSP

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path.startswith(self.exempt) or route_group(path) == "ingest":
            return self.get_response(request)
        now = self.clock()
        bucket = int(now // _BUCKET)
        ip = client_ip(request)
        try:
            # The platform's own probes (their header is signed with SECRET_KEY) share an address
            # with whatever else runs beside the worker; counting them would let that traffic
            # throttle the probes into false ProbeFailing alerts.
            count = 0 if is_synthetic(request) else self.counter.hit(ip, bucket)
        except Exception as error:
            # A cache outage must not take the site down; the readiness alert reports it.
            logger.debug("rate counter unavailable: %s", type(error).__name__)
            count = 0
        limit: int = settings.SECURITY_RATE_LIMIT_PER_MINUTE
        if count > limit:
            if count == limit + 1:
                events.publish_for(
                    request,
                    "excess_rate_limit_exceeded",
                    reason=f"over {limit} requests per minute",
                    group=route_group(path),
                )
            if route_group(path) in settings.SECURITY_THROTTLE_GROUPS:
                retry = max(1, int((bucket + 1) * _BUCKET - now + 0.999))
                return too_many_requests(
                    request, retry, f"Too many requests. Try again in {retry} seconds."
                )
        agent = request.META.get("HTTP_USER_AGENT", "")
        if classify(agent) == "scanner":
            self._once(request, ip, bucket, "malicious_attack_tool", attack_tool(agent) or "")
        probe = probe_path(path)
        if probe is not None:
            self._once(request, ip, bucket, "malicious_probe_path", probe)

        response = self.get_response(request)

        lock: Lock | None = getattr(request, LOCK_ATTRIBUTE, None)
        if lock is not None:
            response = lockout_response(request, lock, lock_clock())
        status = response.status_code
        if status == 404:
            self._count_404(request, ip, bucket)
        elif status == 403:
            events.publish_for(request, "authz_fail", reason="http_403")
        if (
            self.csp
            and "Content-Security-Policy" not in response
            and response.get("Content-Type", "").startswith("text/html")
        ):
            response["Content-Security-Policy"] = self.csp
        return response

    def _once(self, request: HttpRequest, ip: str, bucket: int, action: str, what: str) -> None:
        # One event per IP (and signature) per minute: a scanner sends thousands of requests.
        seen = f"security:seen:{action}:{ip}:{what}:{bucket}"
        if failover("default").add(seen, 1, timeout=_BUCKET * 2):
            events.publish_for(request, action, reason=what)

    def _count_404(self, request: HttpRequest, ip: str, bucket: int) -> None:
        key = f"security:404:{ip}:{bucket}"
        store = failover("default")
        if store.add(key, 1, timeout=_BUCKET * 2):
            seen = 1
        else:
            try:
                seen = int(store.incr(key))
            except ValueError:
                return
        if seen == settings.SECURITY_404_LIMIT_PER_MINUTE:
            events.publish_for(
                request,
                "malicious_excess_404",
                reason=f"{seen} not-found answers in a minute",
            )
