"""The embedded evaluator: built-in rules over the app's own state, without Prometheus.

A ``Rule`` reads one ``Source``; each evaluation the source returns ``Observation``s, one per
instance (a check, a resource…), each good or bad. Per instance the rule moves
inactive → pending (bad, for less than ``for_seconds``) → firing → resolved, and resolving
needs ``resolve_after`` consecutive good evaluations, so a flapping condition does not notify
twice a minute. An instance a source stops reporting counts as good. While a rule marked
``holds_others`` reports a bad instance (ClockSkew), the other rules are not evaluated and
keep their state; when it reports none, the others read the clock anew (it may have been set
right in between). How long an instance has been pending is timed on a monotonic timer.

What firing and resolving do is the ``Sink``'s job: ``DatabaseSink`` writes alerts and their
outbox rows (and spools to a file when the database itself is down); ``AlertmanagerSink``
posts the alerts to Alertmanager's v2 API so grouping and silencing live there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from django.db import DatabaseError

from helpdesk.lib import http, outages
from helpdesk.monitoring.alerting import services, spool
from helpdesk.monitoring.alerting.models import Alert

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """One instance's condition right now."""

    instance: str
    bad: bool
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    value: float | None = None


class Source(Protocol):
    """Anything that reports observations (see ``sources.py``)."""

    def observe(self, now: float) -> list[Observation]:
        """Return the current observations; may raise, which skips the rule this turn."""


@dataclass
class Rule:
    """A built-in alerting rule."""

    name: str
    severity: str
    source: Source
    summary: str
    for_seconds: float = 0.0
    resolve_after: int | None = None
    static_labels: dict[str, str] = field(default_factory=dict)
    runbook_url: str = ""
    # While this rule's source reports a bad instance, the other rules keep their state:
    # ClockSkew, whose condition makes every other window wrong.
    holds_others: bool = False

    def labels(self, observation: Observation) -> dict[str, str]:
        return {
            "alertname": self.name,
            "severity": self.severity,
            **self.static_labels,
            **observation.labels,
        }

    def annotations(self, observation: Observation) -> dict[str, str]:
        base = {"summary": self.summary}
        if self.runbook_url:
            base["runbook_url"] = self.runbook_url
        return {**base, **observation.annotations}


@dataclass
class _State:
    rule: Rule
    labels: dict[str, str]
    pending_since: float | None = None
    pending_timer: float = 0.0  # the evaluator's timer when it went pending
    firing_since: float | None = None
    good: int = 0
    annotations: dict[str, str] = field(default_factory=dict)


class Sink(Protocol):
    """Where the evaluator's alerts go."""

    def fire(
        self, rule: Rule, labels: dict[str, str], annotations: dict[str, str], at: float
    ) -> None:
        """Open the alert (idempotent: called again while firing)."""

    def resolve(self, rule: Rule, labels: dict[str, str], at: float) -> None:
        """Close the alert."""

    def firing(self) -> set[str] | None:
        """Return fingerprints the sink knows to be firing (None when it cannot tell)."""


def _dt(at: float) -> datetime:
    return datetime.fromtimestamp(at, tz=UTC)


class DatabaseSink:
    """Write alerts to the alert center; when the database is down, deliver and spool."""

    def fire(
        self, rule: Rule, labels: dict[str, str], annotations: dict[str, str], at: float
    ) -> None:
        try:
            services.fire(
                name=rule.name,
                labels=labels,
                annotations=annotations,
                severity=rule.severity,
                starts_at=_dt(at),
                now=_dt(time.time()),
            )
        except DatabaseError:
            logger.error("database unavailable: delivering %s directly and spooling", rule.name)
            spool.deliver_directly("firing", rule.name, rule.severity, labels, annotations, _dt(at))

    def resolve(self, rule: Rule, labels: dict[str, str], at: float) -> None:
        fingerprint = services.fingerprint_of(labels)
        try:
            services.resolve(fingerprint, ends_at=_dt(at), now=_dt(time.time()))
        except DatabaseError:
            spool.deliver_directly("resolved", rule.name, rule.severity, labels, {}, _dt(at))

    def firing(self) -> set[str] | None:
        try:
            return set(
                Alert.objects.filter(status="firing", source="builtin").values_list(
                    "fingerprint", flat=True
                )
            )
        except DatabaseError:
            return None


class AlertmanagerSink:
    """Post alerts to Alertmanager (``ALERTMANAGER_URL``/api/v2/alerts).

    Alertmanager expects firing alerts to be re-sent before their ``endsAt``; each evaluation
    re-posts every firing alert with ``endsAt`` four intervals ahead, and a resolved one with
    ``endsAt`` now.
    """

    def __init__(self, url: str, interval: float) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.interval = interval
        self._firing: dict[str, tuple[dict[str, str], dict[str, str], float]] = {}

    def _post(self, alerts: list[dict[str, Any]]) -> None:
        try:
            response = http.post(self.url, json=alerts, timeout=5, trusted=True)
        except http.HttpError as error:
            logger.error("Alertmanager unreachable: %s", error.message)
            return
        if response.status >= 300:
            logger.error("Alertmanager refused alerts: status %d", response.status)

    def fire(
        self, rule: Rule, labels: dict[str, str], annotations: dict[str, str], at: float
    ) -> None:
        self._firing[services.fingerprint_of(labels)] = (labels, annotations, at)

    def resolve(self, rule: Rule, labels: dict[str, str], at: float) -> None:
        fingerprint = services.fingerprint_of(labels)
        _, annotations, starts = self._firing.pop(fingerprint, (labels, {}, at))
        self._post([_am_alert(labels, annotations, starts, at)])

    def flush(self, now: float) -> None:
        """Re-send every firing alert (called after each evaluation)."""
        if self._firing:
            until = now + 4 * self.interval
            self._post([_am_alert(lb, an, st, until) for lb, an, st in self._firing.values()])

    def firing(self) -> set[str] | None:
        return set(self._firing)


def _am_alert(
    labels: dict[str, str], annotations: dict[str, str], starts: float, ends: float
) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": _dt(starts).isoformat(),
        "endsAt": _dt(ends).isoformat(),
        "generatorURL": "",
    }


class Evaluator:
    """Evaluate rules and drive their instances through pending/firing/resolved."""

    def __init__(
        self,
        rules: list[Rule],
        sink: Sink,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] | None = None,
    ) -> None:
        """``clock`` is the wall clock the sources read and alerts are stamped with; ``timer``
        measures how long an instance has been pending against its rule's ``for``. It is
        ``time.monotonic`` by default, which a step of the wall clock does not move (else an
        evaluation that read the clock just before it was set back 2 h would find every
        pending rule pending for 2 h); with a ``clock`` of its own and no ``timer``, that clock.
        """
        # The holding rules first: they decide whether the others run in a turn.
        self.rules = sorted(rules, key=lambda r: not r.holds_others)
        self.sink = sink
        self.clock = clock
        if timer is None:
            timer = time.monotonic if clock is time.time else clock
        self.timer = timer
        self._states: dict[str, _State] = {}

    def states(self) -> dict[str, str]:
        """Return each known instance's state by fingerprint (pending/firing/inactive)."""
        return {
            fp: "firing" if s.firing_since else "pending" if s.pending_since else "inactive"
            for fp, s in self._states.items()
        }

    def _adopt(self) -> None:
        # Alerts another worker (or this one before a restart) opened: resolve them here too.
        firing = self.sink.firing()
        if firing is None:
            return
        # A name may have one rule per severity (TargetDown for the app and for exporters).
        # and one rule per signal (BruteForceAttack's login_fail, lockout and client_ip).
        by_key = {
            (rule.name, rule.severity, rule.static_labels.get("signal", "")): rule
            for rule in self.rules
        }
        for alert in Alert.objects.filter(fingerprint__in=firing - set(self._states)):
            rule = by_key.get((alert.name, alert.severity, alert.labels.get("signal", "")))
            if rule is not None:
                self._states[alert.fingerprint] = _State(
                    rule, dict(alert.labels), firing_since=alert.starts_at.timestamp()
                )

    def evaluate(self) -> dict[str, int]:
        """Run every rule once; returns counts of transitions."""
        now, tick = self.clock(), self.timer()
        counts = {"fired": 0, "resolved": 0, "errors": 0}
        if isinstance(self.sink, DatabaseSink):
            try:
                self._adopt()
            except DatabaseError:
                logger.debug("cannot adopt firing alerts while the database is down")
        seen: set[str] = set()
        held = holders_done = False
        for rule in self.rules:
            if held and not rule.holds_others:
                # Keep the rule's instances as they are, as below for a source that failed.
                counts["held"] = counts.get("held", 0) + 1
                seen.update(fp for fp, s in self._states.items() if s.rule is rule)
                continue
            if not rule.holds_others and not holders_done:
                # The holders found the clock right: read it again for the others, as it may
                # have been set right only after ``now`` was read.
                now, holders_done = self.clock(), True
            try:
                observations = rule.source.observe(now)
            except Exception as error:
                counts["errors"] += 1
                if isinstance(error, DatabaseError):
                    outages.report("database", error, source=f"alert rule {rule.name}")
                else:
                    logger.exception("alert rule %s could not read its source", rule.name)
                # Keep the rule's instances as they are: no data is not "all good".
                seen.update(fp for fp, s in self._states.items() if s.rule is rule)
                continue
            held = held or (rule.holds_others and any(o.bad for o in observations))
            for observation in observations:
                labels = rule.labels(observation)
                fingerprint = services.fingerprint_of(labels)
                seen.add(fingerprint)
                state = self._states.setdefault(fingerprint, _State(rule, labels))
                state.annotations = rule.annotations(observation)
                outcome = self._step(state, observation.bad, now, tick)
                counts[outcome] = counts.get(outcome, 0) + 1
        for fingerprint, state in self._states.items():
            if fingerprint not in seen and (state.firing_since or state.pending_since):
                outcome = self._step(state, False, now, tick)
                counts[outcome] = counts.get(outcome, 0) + 1
        idle = [fp for fp, s in self._states.items() if not (s.firing_since or s.pending_since)]
        for fingerprint in idle:
            del self._states[fingerprint]
        if isinstance(self.sink, AlertmanagerSink):
            self.sink.flush(now)
        counts.pop("none", None)
        return counts

    def _step(self, state: _State, bad: bool, now: float, tick: float) -> str:
        rule = state.rule
        if bad:
            state.good = 0
            if state.firing_since is not None:
                if isinstance(self.sink, AlertmanagerSink):
                    self.sink.fire(rule, state.labels, state.annotations, state.firing_since)
                return "none"
            if state.pending_since is None:
                state.pending_since, state.pending_timer = now, tick
            if tick - state.pending_timer >= rule.for_seconds:
                state.firing_since = state.pending_since
                self.sink.fire(rule, state.labels, state.annotations, state.pending_since)
                return "fired"
            return "none"
        state.pending_since = None if state.firing_since is None else state.pending_since
        if state.firing_since is None:
            return "none"
        state.good += 1
        needed = rule.resolve_after or settings.ALERT_RESOLVE_AFTER_GOOD
        if state.good >= needed:
            self.sink.resolve(rule, state.labels, now)
            state.firing_since = state.pending_since = None
            state.good = 0
            return "resolved"
        return "none"
