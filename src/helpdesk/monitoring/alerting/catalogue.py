"""The one alert catalogue: every alert of the product, defined once.

Each ``AlertDef`` holds an alert's name, severity, service, summary, meaning, runbook, ``for``,
labels and thresholds, and its *signals*: the ways to detect it. A signal has a Prometheus
expression (rendered into ``deploy/prometheus/rules/*.yml`` by ``helpdesk alert-rules``), an
embedded source (built into a rule of the worker's evaluator), or both. A signal or an alert
present in one path only says why in ``only``.

Thresholds are named numbers; expressions and texts refer to them as ``{name}`` (with an
optional format spec, ``{ratio:pct}``); Prometheus's own templates (``{{ $value }}``) are left
alone. A deployment overrides a threshold in one way, honoured by both paths: the
``ALERT_THRESHOLDS`` setting (``HighErrorRate.ratio=0.02,TLSCertificateExpiringSoon.days=30``;
``<Alert>.for=<seconds>`` sets the ``for`` of every signal of the alert).
The embedded evaluator reads it at start; for Prometheus, ``helpdesk alert-rules --output DIR``
renders the rule files with it (the committed files carry the defaults).

Adding an alert is one entry in ``ALERTS`` (plus its runbook, its promtool test when it has a
Prometheus signal, and its embedded source when it has one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from helpdesk.monitoring.slo import burn, spec
from helpdesk.monitoring.slo import rules as slo_rules

logger = logging.getLogger(__name__)

# Rule files under deploy/prometheus/rules/: file stem -> header comment.
RULE_FILES: dict[str, str] = {
    "http": "The web application's HTTP service, from the recording rules in recording.yml.",
    "dependencies": "The app's dependencies and the monitoring pipeline itself: PostgreSQL, "
    "Redis, scrape targets.",
    "resources": "CPU, memory and disk: node_exporter for hosts, and the app's cgroup-aware "
    "helpdesk_system_* ratios (0-1) for a container without node_exporter.",
    "app": "The app's own machinery and business: the background worker, the notification "
    "outbox and ticket SLAs.",
    "security": "Security events (OWASP logging vocabulary) and the TLS certificate probe.",
    "errors": "Error tracking (helpdesk.monitoring.errors): new issues, regressions and event "
    "spikes per project.",
    "browser": "What visitors' browsers measure (helpdesk.monitoring.browser): Core Web Vitals "
    "by page route, judged at the 75th percentile as web.dev does.",
    "slo": "Service level objectives (their burn rates, from slo_recording.yml) and the "
    "synthetic probes of the public URL.",
}

RUNBOOKS = "docs/runbooks"
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)(?::([^{}]*))?\}(?!\})")


@dataclass(frozen=True)
class Signal:
    """One way to detect an alert.

    ``expr`` is a PromQL template (empty: embedded only); ``source`` the dotted path of a
    factory ``(thresholds) -> Source`` for the embedded evaluator (empty: Prometheus only).
    ``name`` becomes the ``signal`` label when an alert has several signals. ``description``
    is the Prometheus annotation (it shows ``{{ $value }}``); embedded sources write their own
    with the observed value. The other fields override the alert's.
    """

    name: str = ""
    expr: str = ""
    source: str = ""
    only: str = ""
    for_: str = ""
    severity: str = ""
    summary: str = ""
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    comment: str = ""
    # Extra arguments of the source factory, after the thresholds (e.g. an SLO's name).
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertDef:
    """One alert: everything both paths need to raise it the same way."""

    name: str
    severity: str
    service: str
    summary: str
    meaning: str
    group: tuple[str, str]
    signals: tuple[Signal, ...]
    for_: str = "5m"
    thresholds: Mapping[str, float | str] = field(default_factory=dict)
    only: str = ""
    # The embedded evaluator holds its other rules while this alert's condition holds.
    holds_others: bool = False

    @property
    def runbook(self) -> str:
        return f"{RUNBOOKS}/{self.name}.md"

    @property
    def paths(self) -> set[str]:
        """Return which paths detect the alert: ``prometheus``, ``embedded``, or both."""
        found = set()
        for signal in self.signals:
            if signal.expr:
                found.add("prometheus")
            if signal.source:
                found.add("embedded")
        return found or {"embedded"}


def seconds(duration: str) -> float:
    """Return the seconds of a Prometheus duration (``1h30m``, ``15s``, ``0m``)."""
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    if not match or not duration:
        raise ValueError(f"not a duration: {duration!r}")
    days, hours, minutes, secs = (int(part or 0) for part in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + secs)


def _overrides() -> dict[str, dict[str, float]]:
    """Parse ``ALERT_THRESHOLDS`` into {alert: {threshold: value}}, rejecting unknown names."""
    raw = settings.ALERT_THRESHOLDS
    known = {alert.name: alert for alert in all_alerts()}
    parsed: dict[str, dict[str, float]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        name, dot, threshold = key.strip().partition(".")
        alert = known.get(name)
        known_key = threshold in alert.thresholds or threshold == "for" if alert else False
        if not sep or not dot or alert is None or not known_key:
            raise ImproperlyConfigured(
                f"ALERT_THRESHOLDS: {item!r} is not <Alert>.<threshold>=<number> of a "
                "catalogued alert (see docs/alerting.md)"
            )
        try:
            parsed.setdefault(name, {})[threshold] = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"ALERT_THRESHOLDS: {item!r} is not a number") from None
    return parsed


def duration(value: float) -> str:
    """Return seconds as a Prometheus duration (``90`` -> ``1m30s``, ``0`` -> ``0m``)."""
    value = int(value)
    if value == 0:
        return "0m"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if value >= size:
            parts.append(f"{value // size}{unit}")
            value %= size
    return "".join(parts)


def for_of(alert: AlertDef, signal: Signal, overrides: Mapping[str, Mapping[str, float]]) -> str:
    """Return a signal's ``for``: ``<Alert>.for`` in ALERT_THRESHOLDS sets every signal's."""
    if "for" in overrides.get(alert.name, {}):
        return duration(overrides[alert.name]["for"])
    return signal.for_ or alert.for_


def thresholds(
    alert: AlertDef, overrides: Mapping[str, Mapping[str, float]] | None = None
) -> dict[str, float]:
    """Return the alert's thresholds with the deployment's overrides applied.

    A threshold given as ``"OtherAlert.name"`` follows that alert's value (so a pair such as
    the TLS warning and critical alerts cannot drift apart).
    """
    overrides = _overrides() if overrides is None else overrides
    by_name = {a.name: a for a in all_alerts()}

    def value(owner: AlertDef, key: str, depth: int = 0) -> float:
        if key in overrides.get(owner.name, {}):
            return overrides[owner.name][key]
        default = owner.thresholds[key]
        if isinstance(default, str):
            other, _, other_key = default.partition(".")
            if depth > 3:
                raise ImproperlyConfigured(f"threshold reference loop at {owner.name}.{key}")
            return value(by_name[other], other_key, depth + 1)
        return float(default)

    return {key: value(alert, key) for key in alert.thresholds}


def render(template: str, values: Mapping[str, float]) -> str:
    """Fill ``{name}`` / ``{name:spec}`` placeholders of known thresholds."""

    def fill(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        number = values[name]
        # "pct" and "ms" write 0.05 as "5 %" and 0.5 s as "500 ms", as people read them.
        if spec == "pct":
            return f"{number * 100:g} %"
        if spec == "ms":
            return f"{number * 1000:g} ms"
        if spec:
            return format(number, spec)
        return format(number, "g") if number != int(number) else str(int(number))

    return _PLACEHOLDER.sub(fill, template)


def all_alerts() -> list[AlertDef]:
    """Return every catalogued alert: ``ALERTS`` and ErrorBudgetBurn of the SLO file."""
    return [*ALERTS, error_budget_burn()]


BURN_FACTORS = {f"factor_{alert.long}": alert.factor for alert in burn.BURN_ALERTS}


def error_budget_burn() -> AlertDef:
    """Return ErrorBudgetBurn: four multiwindow burn-rate signals per SLO of the SLO file."""
    signals = []
    for slo in spec.slos():
        for alert in burn.BURN_ALERTS:
            factor = "{factor_" + alert.long + "}"
            signals.append(
                Signal(
                    name=f"{slo.name}_{alert.long}",
                    expr=slo_rules.burn_expr(slo, alert, factor),
                    source="helpdesk.monitoring.alerting.slo_rules.burn_rate",
                    args=(slo.name, alert.long),
                    severity=alert.severity,
                    summary=slo_rules.summary(slo, alert),
                    description=slo_rules.description(
                        slo, alert, "{{ $value | humanize }}", factor
                    ),
                    labels=slo_rules.labels(slo, alert),
                )
            )
    return AlertDef(
        name="ErrorBudgetBurn",
        severity="critical",
        service="slo",
        summary="An SLO burns its error budget too fast",
        meaning="an SLO's error ratio over a long and a short window is above the factor "
        "times its budget: {factor_1h}x over 1h and 5m or {factor_6h}x over 6h and 30m "
        "(critical, pages), {factor_1d}x over 1d and 2h or {factor_3d}x over 3d and 6h "
        "(warning, a ticket); one signal per SLO and window pair (docs/slo.md)",
        group=("slo", "helpdesk-slo"),
        for_="2m",
        thresholds=BURN_FACTORS,
        signals=tuple(signals),
    )


def embedded_rules(overrides: Mapping[str, Mapping[str, float]] | None = None) -> list[Any]:
    """Build the embedded evaluator's rules from every signal with a source."""
    from helpdesk.monitoring.alerting.evaluator import Rule

    overrides = _overrides() if overrides is None else overrides
    rules = []
    for alert in all_alerts():
        values = thresholds(alert, overrides)
        for signal in alert.signals:
            if not signal.source:
                continue
            factory = import_string(signal.source)
            labels = {"service": alert.service, **signal.labels}
            if signal.name and len(alert.signals) > 1:
                labels["signal"] = signal.name
            rules.append(
                Rule(
                    name=alert.name,
                    severity=signal.severity or alert.severity,
                    source=factory(values, *signal.args),
                    summary=render(alert.summary, values),
                    for_seconds=seconds(for_of(alert, signal, overrides)),
                    static_labels=labels,
                    runbook_url=alert.runbook,
                    holds_others=alert.holds_others,
                )
            )
    return rules


def prometheus_groups(
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Return the Prometheus rule groups by file stem (alerting rules only)."""
    overrides = _overrides() if overrides is None else overrides
    files: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for alert in all_alerts():
        values = thresholds(alert, overrides)
        stem, group = alert.group
        for signal in alert.signals:
            if not signal.expr:
                continue
            labels = {"severity": signal.severity or alert.severity, "service": alert.service}
            if signal.name and len(alert.signals) > 1:
                labels["signal"] = signal.name
            labels.update(signal.labels)
            rule: dict[str, Any] = {
                "alert": alert.name,
                "expr": render(signal.expr, values),
                "for": for_of(alert, signal, overrides),
                "labels": labels,
                "annotations": {
                    "summary": render(signal.summary or alert.summary, values),
                    "description": render(signal.description, values),
                    "runbook_url": alert.runbook,
                },
            }
            files.setdefault(stem, {}).setdefault(group, []).append(rule)
    return {
        stem: [{"name": name, "rules": rules} for name, rules in groups.items()]
        for stem, groups in files.items()
    }


_EXPORTER = "exporters' metrics exist only in Prometheus"
_HISTORY = "needs hours of metric history, which only Prometheus keeps today"
_SCRAPE = "measures Prometheus's scrapes, which the embedded path does not make"

ALERTS: tuple[AlertDef, ...] = (
    # ---- HTTP --------------------------------------------------------------------------
    AlertDef(
        name="HighErrorRate",
        severity="critical",
        service="helpdesk",
        summary="More than {ratio:pct} of requests fail with a server error",
        meaning="more than {ratio:pct} of requests answer 5xx over 5 min, with at least "
        "{min_rate} req/s (a ratio, not an absolute rate)",
        group=("http", "helpdesk-http"),
        thresholds={"ratio": 0.05, "min_rate": 0.1},
        signals=(
            Signal(
                # A floor of traffic so one failed request at night (1 of 2 = 50 %) pages nobody.
                expr="job:http_server_requests_5xx:ratio_rate5m > {ratio}\n"
                "  and on (job)\njob:http_server_requests:rate5m > {min_rate}",
                source="helpdesk.monitoring.alerting.sources.high_error_rate",
                summary="{{ $labels.job }}: more than {ratio:pct} of requests fail with a "
                "server error",
                description="{{ $value | humanizePercentage }} of the requests to "
                "{{ $labels.job }} answered 5xx over the last 5 minutes (threshold "
                "{ratio:pct}, with at least {min_rate} req/s).",
            ),
        ),
    ),
    AlertDef(
        name="HighResponseTime",
        severity="warning",
        service="helpdesk",
        summary="95th percentile response time above {seconds} s",
        meaning="p95 of `http_server_request_duration_seconds` above {seconds} s over 5 min, "
        "with at least {min_rate} req/s",
        group=("http", "helpdesk-http"),
        thresholds={"seconds": 1.0, "min_rate": 0.1},
        signals=(
            Signal(
                expr="job:http_server_request_duration_seconds:p95_rate5m > {seconds}\n"
                "  and on (job)\njob:http_server_requests:rate5m > {min_rate}",
                source="helpdesk.monitoring.alerting.sources.high_response_time",
                summary="{{ $labels.job }}: 95th percentile response time above {seconds} s",
                description="The p95 response time of {{ $labels.job }} is "
                "{{ $value | humanizeDuration }} over the last 5 minutes (threshold {seconds} s).",
            ),
        ),
    ),
    AlertDef(
        name="RequestRateSpike",
        severity="warning",
        service="helpdesk",
        summary="Many requests refused by the rate limit",
        meaning="more than {refusals} rate-limit refusals in 5 min; or the request rate above "
        "{baseline_factor}x the same hour yesterday (and above {baseline_min_rate} req/s), for "
        "10 min; embedded also per client address over the limit",
        group=("http", "helpdesk-http"),
        thresholds={"refusals": 100, "baseline_factor": 3, "baseline_min_rate": 1},
        signals=(
            Signal(
                name="rate_limit",
                expr="sum by (job) (increase(helpdesk_security_events_total"
                '{type="excess_rate_limit_exceeded"}[5m])) > {refusals}',
                source="helpdesk.monitoring.alerting.security_rules.rate_limit_refusals",
                summary="{{ $labels.job }}: many requests refused by the rate limit",
                description='About {{ $value | printf "%.0f" }} requests were refused by the '
                "rate limit in the last 5 minutes (threshold {refusals}).",
            ),
            Signal(
                name="baseline",
                only=_HISTORY + " (the same hour yesterday)",
                for_="10m",
                expr="job:http_server_requests:rate5m > {baseline_factor} * "
                "(job:http_server_requests:rate1h offset 1d)\n  and\n"
                "job:http_server_requests:rate5m > {baseline_min_rate}",
                summary="{{ $labels.job }}: request rate {baseline_factor} times yesterday's",
                description="{{ $labels.job }} serves {{ $value | humanize }} req/s, more than "
                "{baseline_factor} times its rate at this hour yesterday.",
            ),
            Signal(
                name="client_ip",
                only="per client address: Prometheus metrics carry no client IP (unbounded "
                "label values)",
                for_="0m",
                source="helpdesk.monitoring.alerting.security_rules.rate_spike_per_client",
            ),
        ),
    ),
    AlertDef(
        name="CapacityNearLimit",
        severity="warning",
        service="helpdesk",
        summary="Traffic near the capacity the deployment was measured to carry",
        meaning="the request rate above {ratio:pct} of the measured capacity ({capacity_rps} "
        "req/s), or on average more than {busy_ratio:pct} of the {slots} worker threads busy, "
        "for 10 min; set capacity_rps and slots to the deployment's (docs/benchmarks.md)",
        group=("http", "helpdesk-http"),
        for_="10m",
        # capacity_rps: the mix the load benchmark (benchmarks/bench_load.py) carried on the
        # default deployment, 2 cores shared with PostgreSQL (283.8 req/s, p99 < 170 ms),
        # rounded down for the background worker; slots: WEB_CONCURRENCY x WEB_THREADS (2 x 4).
        thresholds={"capacity_rps": 250, "ratio": 0.8, "slots": 8, "busy_ratio": 0.9},
        signals=(
            Signal(
                name="rate",
                expr="job:http_server_requests:rate5m > {ratio} * {capacity_rps}",
                source="helpdesk.monitoring.alerting.sources.capacity_rate",
                summary="{{ $labels.job }}: request rate near the measured capacity",
                description="{{ $labels.job }} serves {{ $value | humanize }} req/s over 5 "
                "minutes, above {ratio:pct} of the {capacity_rps} req/s it was measured to carry.",
            ),
            Signal(
                name="in_flight",
                # The gauge is a livesum over the workers: one series per instance. Averaged
                # over 5 min, so a burst of slow requests does not count.
                expr="avg_over_time(http_server_active_requests[5m]) > {busy_ratio} * {slots}",
                source="helpdesk.monitoring.alerting.sources.capacity_in_flight",
                summary="{{ $labels.instance }}: worker threads nearly all busy",
                description="{{ $labels.instance }} has {{ $value | humanize }} requests in "
                "flight on average over 5 minutes, near its {slots} worker threads.",
            ),
        ),
    ),
    # ---- dependencies ------------------------------------------------------------------
    AlertDef(
        name="DatabaseDown",
        severity="critical",
        service="database",
        summary="The app cannot reach PostgreSQL",
        meaning="`pg_up == 0` (postgres_exporter), or the app's `database` readiness check "
        "fails, for 1 min",
        group=("dependencies", "helpdesk-dependencies"),
        for_="1m",
        signals=(
            Signal(
                name="postgres_exporter",
                only=_EXPORTER,
                expr="pg_up == 0",
                summary="PostgreSQL is down (postgres_exporter cannot connect)",
                description="postgres_exporter {{ $labels.instance }} reports pg_up = "
                "{{ $value }}: it cannot reach PostgreSQL.",
            ),
            Signal(
                name="readiness",
                expr='helpdesk_health_check_up{check="database"} == 0',
                source="helpdesk.monitoring.alerting.sources.database_down",
                summary="The app cannot reach its database",
                description="The database health check of {{ $labels.instance }} has failed "
                "for over a minute (value {{ $value }}).",
            ),
        ),
    ),
    AlertDef(
        name="RedisDown",
        severity="critical",
        service="redis",
        summary="Redis is down (redis_exporter cannot connect)",
        meaning="`redis_up == 0`, for 1 min",
        only=_EXPORTER + '; the embedded path sees Redis through HealthCheckFailing{check="cache"}',
        group=("dependencies", "helpdesk-dependencies"),
        for_="1m",
        signals=(
            Signal(
                expr="redis_up == 0",
                description="redis_exporter {{ $labels.instance }} reports redis_up = "
                "{{ $value }}.",
            ),
        ),
    ),
    AlertDef(
        name="PostgresTooManyConnections",
        severity="warning",
        service="database",
        summary="PostgreSQL connections above {ratio:pct} of max_connections",
        meaning="connections above {ratio:pct} of `max_connections` (postgres_exporter, or the "
        "app's inspector), for 5 min",
        only="reads scrape-time gauges; the embedded path gets them with the metrics history",
        group=("dependencies", "helpdesk-dependencies"),
        thresholds={"ratio": 0.8},
        signals=(
            Signal(
                name="postgres_exporter",
                expr="sum by (job, instance) (pg_stat_activity_count)\n  / on (job, instance)\n"
                "max by (job, instance) (pg_settings_max_connections) > {ratio}",
                description="{{ $labels.instance }} uses {{ $value | humanizePercentage }} of "
                "max_connections.",
            ),
            Signal(
                name="inspector",
                expr="helpdesk_db_connection_utilisation_ratio > {ratio}",
                description="The app's inspector on {{ $labels.instance }} sees "
                "{{ $value | humanizePercentage }} of max_connections in use.",
            ),
        ),
    ),
    AlertDef(
        name="SlowQueries",
        severity="warning",
        service="database",
        summary="Database queries are slow",
        meaning="queries running longer than `DB_MONITOR_LONG_RUNNING_SECONDS` for 5 min, or "
        "p95 of the app's database operations above {p95_seconds:ms} for 10 min",
        only="reads scrape-time gauges and histogram rates; the embedded path gets them with "
        "the metrics history",
        group=("dependencies", "helpdesk-dependencies"),
        thresholds={"p95_seconds": 0.5},
        signals=(
            Signal(
                name="long_running",
                expr="max by (job) (helpdesk_db_long_running_queries) > 0",
                summary="Long-running queries in PostgreSQL",
                description="{{ $value | humanize }} queries have been running longer than "
                "DB_MONITOR_LONG_RUNNING_SECONDS for 5 minutes.",
            ),
            Signal(
                name="client_latency",
                for_="10m",
                expr="histogram_quantile(0.95, sum by (job, le) "
                "(rate(db_client_operation_duration_seconds_bucket[5m]))) > {p95_seconds}",
                summary="Database operations of the app are slow (p95 above {p95_seconds:ms})",
                description="The p95 duration of {{ $labels.job }}'s database operations is "
                "{{ $value | humanizeDuration }}.",
            ),
        ),
    ),
    AlertDef(
        name="HealthCheckFailing",
        severity="critical",
        service="helpdesk",
        summary="A health check of the app fails",
        meaning="one of the app's readiness checks fails, for 2 min; one alert per check (and "
        "instance)",
        group=("dependencies", "helpdesk-dependencies"),
        for_="2m",
        signals=(
            Signal(
                # The embedded source leaves the database check to DatabaseDown, as
                # Alertmanager's inhibition does for the Prometheus path.
                expr="helpdesk_health_check_up == 0",
                source="helpdesk.monitoring.alerting.sources.health_check_failing",
                summary="Health check {{ $labels.check }} fails on {{ $labels.instance }}",
                description="The {{ $labels.check }} check of {{ $labels.instance }} has failed "
                "for 2 minutes (value {{ $value }}); the instance reports not ready.",
            ),
        ),
    ),
    AlertDef(
        name="TargetDown",
        severity="critical",
        service="{{ $labels.job }}",
        summary="A scrape target is down",
        meaning="Prometheus cannot scrape a target (`up == 0`): the app for 2 min (critical), "
        "an exporter for 5 min (warning)",
        only=_SCRAPE,
        group=("dependencies", "helpdesk-monitoring"),
        signals=(
            Signal(
                name="app",
                # The app itself not answering scrapes is an outage; an exporter is not.
                expr='up{job="helpdesk"} == 0',
                for_="2m",
                summary="Scrape target {{ $labels.job }}/{{ $labels.instance }} is down",
                description="Prometheus has failed to scrape {{ $labels.instance }} (job "
                "{{ $labels.job }}) for 2 minutes (up = {{ $value }}).",
            ),
            Signal(
                name="exporter",
                expr='up{job!="helpdesk"} == 0',
                severity="warning",
                summary="Scrape target {{ $labels.job }}/{{ $labels.instance }} is down",
                description="Prometheus has failed to scrape {{ $labels.instance }} (job "
                "{{ $labels.job }}) for 5 minutes (up = {{ $value }}).",
            ),
        ),
    ),
    AlertDef(
        name="MetricsScrapeSlow",
        severity="warning",
        service="monitoring",
        summary="Scraping metrics is slow",
        meaning="a scrape takes over {scrape_seconds} s (half the timeout), or the app takes "
        "over {render_seconds} s to render `/metrics`, for 10 min",
        only=_SCRAPE,
        group=("dependencies", "helpdesk-monitoring"),
        for_="10m",
        thresholds={"scrape_seconds": 5, "render_seconds": 2},
        signals=(
            Signal(
                name="scrape",
                expr="scrape_duration_seconds > {scrape_seconds}",
                summary="Scraping {{ $labels.job }}/{{ $labels.instance }} takes over "
                "{scrape_seconds} s",
                description="The last scrape of {{ $labels.instance }} took "
                "{{ $value | humanizeDuration }} (timeout 10 s).",
            ),
            Signal(
                name="exposition",
                expr="helpdesk_metrics_scrape_duration_seconds > {render_seconds}",
                summary="{{ $labels.instance }} takes over {render_seconds} s to render /metrics",
                description="Rendering /metrics on {{ $labels.instance }} took "
                "{{ $value | humanizeDuration }}.",
            ),
        ),
    ),
    AlertDef(
        name="MetricsCollectorFailing",
        severity="warning",
        service="monitoring",
        summary="A metrics collector of the app fails",
        meaning="a scrape-time collector of the app fails (`helpdesk_metrics_collector_up == "
        "0`), for 10 min",
        only="collectors run when /metrics is scraped; without Prometheus nothing scrapes",
        group=("dependencies", "helpdesk-monitoring"),
        for_="10m",
        signals=(
            Signal(
                expr="helpdesk_metrics_collector_up == 0",
                summary="Metrics collector {{ $labels.collector }} fails on {{ $labels.instance }}",
                description="The scrape-time collector {{ $labels.collector }} has failed for "
                "10 minutes (value {{ $value }}); its metrics are missing.",
            ),
        ),
    ),
    # ---- resources ---------------------------------------------------------------------
    AlertDef(
        name="HighCPUUsage",
        severity="warning",
        service="helpdesk",
        summary="CPU usage above {ratio:pct}",
        meaning="CPU above {ratio:pct}: node_exporter (5-min rate), or the app's cgroup-aware "
        "ratio, for 5 min",
        group=("resources", "helpdesk-resources"),
        thresholds={"ratio": 0.8},
        signals=(
            Signal(
                name="node",
                only=_EXPORTER,
                labels={"service": "host"},
                expr="instance:node_cpu_utilisation:ratio_rate5m > {ratio}",
                summary="CPU usage above {ratio:pct} on {{ $labels.instance }}",
                description="CPU usage of {{ $labels.instance }} is "
                "{{ $value | humanizePercentage }} (5-minute average).",
            ),
            Signal(
                name="app",
                # A gauge sampled at each scrape: averaged so a single busy scrape does not count.
                expr="avg_over_time(helpdesk_system_cpu_utilisation_ratio[5m]) > {ratio}",
                source="helpdesk.monitoring.alerting.sources.cpu_usage",
                summary="CPU usage above {ratio:pct} of the limit on {{ $labels.instance }}",
                description="{{ $labels.instance }} uses {{ $value | humanizePercentage }} of "
                "its CPU ({{ $labels.source }}), 5-minute average.",
            ),
        ),
    ),
    AlertDef(
        name="HighMemoryUsage",
        severity="warning",
        service="helpdesk",
        summary="Memory usage above {ratio:pct}",
        meaning="memory above {ratio:pct}: node_exporter (`MemAvailable`), or the app's "
        "cgroup-aware ratio, for 5 min",
        group=("resources", "helpdesk-resources"),
        thresholds={"ratio": 0.85},
        signals=(
            Signal(
                name="node",
                only=_EXPORTER,
                labels={"service": "host"},
                expr="instance:node_memory_utilisation:ratio > {ratio}",
                summary="Memory usage above {ratio:pct} on {{ $labels.instance }}",
                description="{{ $labels.instance }} uses {{ $value | humanizePercentage }} of "
                "its memory.",
            ),
            Signal(
                name="app",
                expr="helpdesk_system_memory_utilisation_ratio > {ratio}",
                source="helpdesk.monitoring.alerting.sources.memory_usage",
                summary="Memory usage above {ratio:pct} of the limit on {{ $labels.instance }}",
                description="{{ $labels.instance }} uses {{ $value | humanizePercentage }} of "
                "its memory ({{ $labels.source }}).",
            ),
        ),
    ),
    AlertDef(
        name="DiskSpaceLow",
        severity="warning",
        service="helpdesk",
        summary="Less than {free_ratio:pct} disk space left",
        meaning="under {free_ratio:pct} free on a writable, real file system (node_exporter) "
        "or on a path the app watches, for 5 min",
        group=("resources", "helpdesk-resources"),
        thresholds={"free_ratio": 0.1},
        signals=(
            Signal(
                name="node",
                only=_EXPORTER,
                labels={"service": "host"},
                expr='node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|squashfs|overlay"}\n'
                "  / node_filesystem_size_bytes < {free_ratio}\n"
                "  and on (instance, device, mountpoint)\nnode_filesystem_readonly == 0",
                summary="Less than {free_ratio:pct} disk space left on {{ $labels.instance }} "
                "{{ $labels.mountpoint }}",
                description="{{ $labels.mountpoint }} on {{ $labels.instance }} has "
                "{{ $value | humanizePercentage }} free.",
            ),
            Signal(
                name="app",
                expr="helpdesk_system_disk_free_bytes / helpdesk_system_disk_size_bytes "
                "< {free_ratio}",
                source="helpdesk.monitoring.alerting.sources.disk_space_low",
                summary="Less than {free_ratio:pct} disk space left on {{ $labels.instance }} "
                "{{ $labels.path }}",
                description="{{ $labels.path }} seen by {{ $labels.instance }} has "
                "{{ $value | humanizePercentage }} free.",
            ),
        ),
    ),
    AlertDef(
        name="DiskWillFillIn24h",
        severity="warning",
        service="helpdesk",
        summary="A file system fills up within 24 h at the current rate",
        meaning="`predict_linear` over the last 6 h says free space reaches 0 within 24 h, for 1 h",
        only=_HISTORY + " (a 6-hour trend)",
        group=("resources", "helpdesk-resources"),
        for_="1h",
        signals=(
            Signal(
                name="node",
                labels={"service": "host"},
                expr="predict_linear(node_filesystem_avail_bytes"
                '{fstype!~"tmpfs|ramfs|squashfs|overlay"}[6h], 24 * 3600) < 0\n'
                "  and on (instance, device, mountpoint)\nnode_filesystem_readonly == 0",
                summary="{{ $labels.instance }} {{ $labels.mountpoint }} fills up within 24 h "
                "at the current rate",
                description="At the rate of the last 6 hours {{ $labels.mountpoint }} on "
                "{{ $labels.instance }} is full within a day (predicted free space in 24 h: "
                "{{ $value | humanize1024 }}B).",
            ),
            Signal(
                name="app",
                expr="predict_linear(helpdesk_system_disk_free_bytes[6h], 24 * 3600) < 0",
                summary="{{ $labels.instance }} {{ $labels.path }} fills up within 24 h at the "
                "current rate",
                description="At the rate of the last 6 hours {{ $labels.path }} seen by "
                "{{ $labels.instance }} is full within a day (predicted free space in 24 h: "
                "{{ $value | humanize1024 }}B).",
            ),
        ),
    ),
    # ---- the app's machinery -----------------------------------------------------------
    AlertDef(
        name="WorkerHeartbeatMissing",
        severity="critical",
        service="worker",
        summary="No background worker is running",
        meaning="the freshest worker heartbeat is older than {stale_seconds} s for 2 min, or a "
        "scraped app reports no heartbeat at all for 10 min",
        only="the worker runs the embedded evaluator and cannot report its own absence; the "
        "embedded path shows it as the `worker` readiness check",
        group=("app", "helpdesk-app"),
        thresholds={"stale_seconds": 120},
        signals=(
            Signal(
                name="stale",
                # Every web instance reports the same shared heartbeat: take the freshest.
                expr="min by (job) (helpdesk_worker_heartbeat_age_seconds) > {stale_seconds}",
                for_="2m",
                summary="No background worker has beaten for over {stale_seconds} s",
                description="The last worker heartbeat is {{ $value | humanizeDuration }} old: "
                "alerts are not evaluated and notifications are not delivered.",
            ),
            Signal(
                name="absent",
                # The gauge is absent while no worker ever ran (or the outbox is unreadable).
                expr="absent(helpdesk_worker_heartbeat_age_seconds) and on () "
                '(max(up{job="helpdesk"}) == 1)',
                for_="10m",
                summary="The app reports no worker heartbeat at all",
                description="helpdesk_worker_heartbeat_age_seconds has been missing from a "
                "healthy app for 10 minutes (value {{ $value }}): no worker has ever run "
                "against this database.",
            ),
        ),
    ),
    AlertDef(
        name="NotificationDeliveryFailing",
        severity="warning",
        service="alerting",
        summary="Alert notifications cannot be delivered",
        meaning="notifications reached the dead letter in the last 15 min, or the oldest due "
        "notification has waited over {backlog_seconds} s (for 5 min)",
        group=("app", "helpdesk-app"),
        thresholds={"backlog_seconds": 600},
        signals=(
            Signal(
                name="dead_letters",
                # The dead-letter count is a gauge (a retry in the admin lowers it): delta.
                expr="max by (job) (delta(helpdesk_alert_outbox_notifications"
                '{status="dead"}[15m])) > 0',
                source="helpdesk.monitoring.alerting.sources.dead_letters",
                for_="0m",
                summary="Alert notifications went to the dead letter",
                description='About {{ $value | printf "%.0f" }} notifications were given up in '
                "the last 15 minutes; see GET /api/v1/monitoring/notifications/?status=dead.",
            ),
            Signal(
                name="backlog",
                expr="max by (job) (helpdesk_alert_outbox_oldest_pending_age_seconds) "
                "> {backlog_seconds}",
                source="helpdesk.monitoring.alerting.sources.outbox_backlog",
                summary="Alert notifications wait in the outbox",
                description="The oldest due notification has waited "
                "{{ $value | humanizeDuration }}.",
            ),
        ),
    ),
    AlertDef(
        name="ClockSkew",
        severity="warning",
        service="worker",
        summary="A worker's clock is off the database's",
        meaning="a worker's wall clock differs from the database's by more than {max_seconds} "
        "s for 2 min",
        group=("app", "helpdesk-app"),
        thresholds={"max_seconds": 30},
        for_="2m",
        holds_others=True,
        signals=(
            Signal(
                expr="max by (job) (abs(helpdesk_worker_clock_offset_seconds)) > {max_seconds}",
                source="helpdesk.monitoring.alerting.sources.clock_skew",
                description="A worker's clock is {{ $value | humanizeDuration }} off the "
                "database's: the times it writes (alerts, deliveries, SLAs, the metrics "
                "history) are off by as much.",
            ),
        ),
    ),
    AlertDef(
        name="NotificationChannelDisabled",
        severity="error",
        service="alerting",
        summary="A notification channel was disabled",
        meaning="a channel refused a notification permanently (a revoked webhook, a bad "
        "address) and the app disabled it",
        only="raised by the app's delivery when it disables a channel; Prometheus never sees "
        "that event",
        group=("app", "helpdesk-app"),
        for_="0m",
        signals=(),
    ),
    AlertDef(
        name="SLABreachRate",
        severity="warning",
        service="support",
        summary="Tickets breach their SLA",
        meaning="an organization has {breaches} or more open tickets past their SLA than an "
        "hour ago, for 15 min",
        only=_HISTORY + " (an hour of the breach gauge); the first-response SLO covers "
        "the embedded path",
        group=("app", "helpdesk-app"),
        for_="15m",
        thresholds={"breaches": 5},
        signals=(
            Signal(
                # New breaches, net of breached tickets closed since.
                expr="sum by (organization) (delta(helpdesk_tickets_sla_breached"
                '{state="open"}[1h])) >= {breaches}',
                summary="Tickets of {{ $labels.organization }} breach their SLA",
                description='About {{ $value | printf "%.0f" }} more open tickets of '
                "{{ $labels.organization }} are past their SLA than an hour ago.",
            ),
        ),
    ),
    # ---- security ----------------------------------------------------------------------
    AlertDef(
        name="BruteForceAttack",
        severity="warning",
        service="security",
        summary="Repeated failed logins",
        meaning="more than {failures} failed logins in 5 min for 2 min, or more than "
        "{lockouts} lockouts in 5 min; embedded also one alert per client address that "
        "reached the lockout limit",
        group=("security", "helpdesk-security"),
        thresholds={"failures": 50, "lockouts": 3},
        signals=(
            Signal(
                name="login_fail",
                expr="sum by (job) (increase(helpdesk_security_events_total"
                '{type="authn_login_fail"}[5m])) > {failures}',
                source="helpdesk.monitoring.alerting.security_rules.failed_logins",
                for_="2m",
                summary="Many failed logins on {{ $labels.job }}",
                description='About {{ $value | printf "%.0f" }} failed logins in the last 5 '
                "minutes (threshold {failures}).",
            ),
            Signal(
                name="lockout",
                expr="sum by (job) (increase(helpdesk_security_events_total"
                '{type="authn_login_lock"}[5m])) > {lockouts}',
                source="helpdesk.monitoring.alerting.security_rules.lockouts",
                for_="0m",
                summary="Accounts or addresses locked out after failed logins on {{ $labels.job }}",
                description='About {{ $value | printf "%.0f" }} lockouts in the last 5 minutes '
                "(threshold {lockouts}).",
            ),
            Signal(
                name="client_ip",
                only="per client address: Prometheus metrics carry no client IP (unbounded "
                "label values); the limit is the lockout's, SECURITY_LOGIN_FAILURE_LIMIT",
                for_="0m",
                source="helpdesk.monitoring.alerting.security_rules.brute_force_per_client",
            ),
        ),
    ),
    AlertDef(
        name="ScanningDetected",
        severity="warning",
        service="security",
        summary="A client walks paths that do not exist (a scanner)",
        meaning="a client address produced a burst of 404s (`malicious_excess_404`) in the "
        "last 5 min",
        group=("security", "helpdesk-security"),
        for_="0m",
        signals=(
            Signal(
                expr="sum by (job) (increase(helpdesk_security_events_total"
                '{type="malicious_excess_404"}[5m])) > 0',
                source="helpdesk.monitoring.alerting.security_rules.scanning",
                summary="A scanner walks {{ $labels.job }}",
                description='About {{ $value | printf "%.0f" }} scanning bursts in the last 5 '
                "minutes.",
            ),
        ),
    ),
    AlertDef(
        name="TLSCertificateExpiringSoon",
        severity="warning",
        service="tls",
        summary="A TLS certificate expires in less than {days} days",
        meaning="a probed certificate expires in {critical_days} to {days} days, for 1 h",
        group=("security", "helpdesk-security"),
        for_="1h",
        # Below the critical limit TLSCertificateExpiryCritical takes over (one alert).
        thresholds={"days": 21, "critical_days": "TLSCertificateExpiryCritical.days"},
        signals=(
            Signal(
                expr="helpdesk_tls_certificate_expiry_seconds < {days} * 86400\n  and\n"
                "helpdesk_tls_certificate_expiry_seconds >= {critical_days} * 86400",
                source="helpdesk.monitoring.alerting.security_rules.tls_expiring_soon",
                summary="The TLS certificate of {{ $labels.host }} expires in less than "
                "{days} days",
                description="The certificate of {{ $labels.host }} expires in "
                "{{ $value | humanizeDuration }}.",
            ),
        ),
    ),
    AlertDef(
        name="TLSCertificateExpiryCritical",
        severity="critical",
        service="tls",
        summary="A TLS certificate expires in less than {days} days (or has expired)",
        meaning="a probed certificate expires in under {days} days or has expired, for 10 min",
        group=("security", "helpdesk-security"),
        for_="10m",
        thresholds={"days": 7},
        signals=(
            Signal(
                expr="helpdesk_tls_certificate_expiry_seconds < {days} * 86400",
                source="helpdesk.monitoring.alerting.security_rules.tls_expiry_critical",
                summary="The TLS certificate of {{ $labels.host }} expires in less than {days} "
                "days (or has expired)",
                description="The certificate of {{ $labels.host }} expires in "
                "{{ $value | humanizeDuration }} (negative: expired).",
            ),
        ),
    ),
    AlertDef(
        name="TLSProbeFailing",
        severity="warning",
        service="tls",
        summary="The TLS probe of a host fails",
        meaning="the TLS probe of a host fails (`helpdesk_tls_probe_success == 0`), for 30 min",
        group=("security", "helpdesk-security"),
        for_="30m",
        signals=(
            Signal(
                expr="helpdesk_tls_probe_success == 0",
                source="helpdesk.monitoring.alerting.security_rules.tls_probe_failing",
                summary="The TLS probe of {{ $labels.host }} fails",
                description="The app could not complete a TLS handshake with "
                "{{ $labels.host }} for 30 minutes (value {{ $value }}); its certificate "
                "expiry is unknown.",
            ),
        ),
    ),
    AlertDef(
        name="NewErrorIssue",
        severity="warning",
        service="errors",
        summary="A new error issue appeared",
        meaning="a project has a new error issue (`error_issues_new_total`, also its first) in "
        "the last {window_minutes} min; embedded one alert per new unresolved issue",
        group=("errors", "helpdesk-errors"),
        for_="0m",
        thresholds={"window_minutes": 15},
        signals=(
            Signal(
                # The second branch catches a project's first issue: its counter series is
                # born at 1, which increase() cannot see.
                expr="sum by (job, project) (increase(error_issues_new_total[{window_minutes}m]))"
                " > 0\n  or\nsum by (job, project) (error_issues_new_total unless "
                "error_issues_new_total offset {window_minutes}m) > 0",
                source="helpdesk.monitoring.alerting.error_rules.new_issues",
                summary="New error issue in project {{ $labels.project }}",
                description='{{ $value | printf "%.0f" }} new error issue(s) in project '
                "{{ $labels.project }} in the last {window_minutes} minutes; newest first: "
                "/api/v1/monitoring/errors/issues/?project={{ $labels.project }}"
                "&ordering=-first_seen",
            ),
        ),
    ),
    AlertDef(
        name="ErrorIssueRegression",
        severity="warning",
        service="errors",
        summary="A resolved error issue came back",
        meaning="a resolved error issue was reopened by a new event "
        "(`error_issues_regressed_total`) in the last {window_minutes} min; embedded one alert "
        "per reopened issue",
        group=("errors", "helpdesk-errors"),
        for_="0m",
        thresholds={"window_minutes": 15},
        signals=(
            Signal(
                expr="sum by (job, project) (increase(error_issues_regressed_total"
                "[{window_minutes}m])) > 0\n  or\nsum by (job, project) "
                "(error_issues_regressed_total unless error_issues_regressed_total offset "
                "{window_minutes}m) > 0",
                source="helpdesk.monitoring.alerting.error_rules.regressions",
                summary="A resolved error issue came back in project {{ $labels.project }}",
                description='{{ $value | printf "%.0f" }} resolved issue(s) of project '
                "{{ $labels.project }} reopened by new events in the last {window_minutes} "
                "minutes: /api/v1/monitoring/errors/issues/?project={{ $labels.project }}"
                "&status=unresolved",
            ),
        ),
    ),
    AlertDef(
        name="ErrorSpike",
        severity="critical",
        service="errors",
        summary="Error events spike far above the usual rate",
        meaning="a project receives at least {min_per_minute} error events a minute and over "
        "{factor} times its rate of the hour before (`errors_events_total`), for 2 min",
        group=("errors", "helpdesk-errors"),
        for_="2m",
        thresholds={"min_per_minute": 20, "factor": 10},
        signals=(
            Signal(
                # A project without the hour before has no baseline: the floor alone decides.
                expr="(sum by (job, project) (rate(errors_events_total[2m])) * 60 >= "
                "{min_per_minute})\n  unless on (job, project)\n(\n  sum by (job, project) "
                "(rate(errors_events_total[2m]))\n    <= {factor} * sum by (job, project) "
                "(rate(errors_events_total[1h] offset 2m))\n)",
                source="helpdesk.monitoring.alerting.error_rules.spikes",
                for_="2m",
                summary="Error events spike in project {{ $labels.project }}",
                description="Project {{ $labels.project }} receives "
                '{{ $value | printf "%.0f" }} error events a minute, over {factor} times its '
                "rate of the hour before.",
            ),
        ),
    ),
    # ---- browser -----------------------------------------------------------------------
    AlertDef(
        name="WebVitalsPoor",
        severity="warning",
        service="helpdesk",
        summary="Poor Web Vitals on a page route",
        meaning="p75 LCP above {lcp} s, INP above {inp:ms} or CLS above {cls} on a route over "
        "15 min (with at least {min_samples} measurements), for 15 min",
        group=("browser", "helpdesk-browser"),
        for_="15m",
        thresholds={"lcp": 4.0, "inp": 0.5, "cls": 0.25, "min_samples": 20},
        signals=(
            Signal(
                # web.dev's "poor" limits at the 75th percentile; the sample floor keeps one
                # slow visit to a quiet page from paging anyone.
                expr="(\n"
                "  histogram_quantile(0.75, sum by (metric, route, le) "
                '(rate(browser_web_vital_seconds_bucket{metric="LCP"}[15m]))) > {lcp}\n'
                "  or\n"
                "  histogram_quantile(0.75, sum by (metric, route, le) "
                '(rate(browser_web_vital_seconds_bucket{metric="INP"}[15m]))) > {inp}\n'
                "  or\n"
                "  label_replace(histogram_quantile(0.75, sum by (route, le) "
                '(rate(browser_web_vital_cls_bucket[15m]))), "metric", "CLS", "", "") > {cls}\n'
                ")\n"
                "  and on (metric, route)\n"
                "(\n"
                "  sum by (metric, route) "
                '(increase(browser_web_vital_seconds_count{metric=~"LCP|INP"}[15m]))\n'
                "  or\n"
                "  label_replace(sum by (route) (increase(browser_web_vital_cls_count[15m])), "
                '"metric", "CLS", "", "")\n'
                ") >= {min_samples}",
                source="helpdesk.monitoring.alerting.browser_rules.web_vitals_poor",
                summary="Poor {{ $labels.metric }} on {{ $labels.route }}",
                description="The 75th percentile of {{ $labels.metric }} on "
                '{{ $labels.route }} is {{ $value | printf "%.3g" }} over the last 15 minutes '
                "(poor above {lcp} s for LCP, {inp} s for INP, {cls} for CLS).",
            ),
        ),
    ),
    # ---- synthetic probes ----------------------------------------------------------------
    AlertDef(
        name="ProbeFailing",
        severity="critical",
        service="probes",
        summary="Synthetic probes of the public URL fail",
        meaning="a synthetic probe of the public URL (readiness, login page, the ticket "
        "journey) failed {failures} times in a row, or a blackbox_exporter probe fails for "
        "1 min; one alert per incident, naming the failing probes and phases",
        group=("slo", "helpdesk-probes"),
        for_="0m",
        thresholds={"failures": 3},
        signals=(
            Signal(
                name="app",
                expr="max by (job) (helpdesk_probe_consecutive_failures) >= {failures}",
                source="helpdesk.monitoring.alerting.sources.probe_failing",
                summary="The synthetic probes of {{ $labels.job }} fail",
                description="A synthetic probe of {{ $labels.job }} failed {{ $value }} times "
                "in a row (threshold {failures}); probe_success and "
                "probe_duration_seconds{phase} name the probe and the phase.",
            ),
            Signal(
                name="blackbox",
                only="blackbox_exporter runs in the scaled setup; the embedded path has the "
                "app's own probes",
                for_="1m",
                expr='min by (job) (probe_success{job="blackbox"}) == 0',
                summary="blackbox_exporter's probes of the app fail",
                description="A blackbox_exporter probe of the app has failed for a minute "
                "(probe_success = {{ $value }}).",
            ),
        ),
    ),
)
