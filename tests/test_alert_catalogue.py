"""The one alert catalogue: the committed rule files and docs are what it generates, both paths
share names, thresholds and runbooks, overrides reach both, and old names are migrated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from helpdesk.monitoring.alerting import catalogue, rulefiles
from helpdesk.monitoring.alerting.rules import default_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "rules"


def test_it_generates_exactly_the_committed_rule_files() -> None:
    rendered = rulefiles.render()
    assert sorted(rendered) == sorted(path.name for path in RULES.glob("*.yml"))
    for name, text in rendered.items():
        assert (RULES / name).read_text() == text, f"{name} is stale: run `helpdesk alert-rules`"


def test_it_generates_exactly_the_committed_docs() -> None:
    for path, text in rulefiles.render_docs(ROOT).items():
        assert path.read_text() == text, f"{path.name} is stale: run `helpdesk alert-rules`"


def test_it_checks_and_writes_rule_files_from_the_command(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="out of date"):
        call_command("alert_rules", output=tmp_path, check=True)
    call_command("alert_rules", output=tmp_path)
    call_command("alert_rules", output=tmp_path, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(rulefiles.render())


def test_it_gives_both_paths_the_same_names_severities_and_runbooks() -> None:
    by_name = {alert.name: alert for alert in catalogue.all_alerts()}
    embedded = default_rules()
    assert embedded
    for rule in embedded:
        alert = by_name[rule.name]
        assert rule.runbook_url == f"docs/runbooks/{rule.name}.md"
        assert rule.static_labels["service"] == alert.service
        signals = {s.severity for s in alert.signals if s.source} | {alert.severity}
        assert rule.severity in signals
    prometheus = [
        rule
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    for rule in prometheus:
        assert rule["alert"] in by_name, rule["alert"]
        assert rule["annotations"]["runbook_url"] == by_name[rule["alert"]].runbook


def test_it_says_why_an_alert_or_signal_lives_in_one_path_only() -> None:
    for alert in catalogue.all_alerts():
        assert (ROOT / alert.runbook).is_file(), alert.runbook
        if alert.paths != {"prometheus", "embedded"}:
            assert alert.only, f"{alert.name} is in one path and does not say why"
            continue
        for signal in alert.signals:
            if bool(signal.expr) != bool(signal.source):
                assert signal.only, f"{alert.name}/{signal.name} is in one path only"


def test_it_lists_every_alert_once_in_the_docs() -> None:
    page = (ROOT / "docs" / "alerting.md").read_text()
    for alert in catalogue.all_alerts():
        assert page.count(f"| [{alert.name}](runbooks/{alert.name}.md) |") == 1, alert.name


def test_it_fills_thresholds_and_leaves_prometheus_templates_alone() -> None:
    text = "{{ $labels.job }}: {ratio:pct} over {seconds:ms}, {n} and {unknown}"
    assert catalogue.render(text, {"ratio": 0.05, "seconds": 0.5, "n": 100.0}) == (
        "{{ $labels.job }}: 5 % over 500 ms, 100 and {unknown}"
    )
    assert catalogue.duration(90) == "1m30s" and catalogue.duration(0) == "0m"


def test_it_applies_an_override_to_both_paths(settings: Any) -> None:
    settings.ALERT_THRESHOLDS = "HighErrorRate.ratio=0.02, HighErrorRate.for=120"
    groups = catalogue.prometheus_groups()
    [rule] = [r for g in groups["http"] for r in g["rules"] if r["alert"] == "HighErrorRate"]
    assert "ratio_rate5m > 0.02" in rule["expr"]
    assert rule["for"] == "2m"
    assert "threshold 2 %" in rule["annotations"]["description"]
    [embedded] = [r for r in default_rules() if r.name == "HighErrorRate"]
    assert embedded.source.ratio == 0.02  # type: ignore[attr-defined]
    assert embedded.for_seconds == 120


def test_it_keeps_linked_thresholds_together(settings: Any) -> None:
    settings.ALERT_THRESHOLDS = "TLSCertificateExpiryCritical.days=10"
    soon = next(a for a in catalogue.ALERTS if a.name == "TLSCertificateExpiringSoon")
    assert catalogue.thresholds(soon) == {"days": 21.0, "critical_days": 10.0}


@pytest.mark.parametrize(
    "value",
    ["HighErrorRate.nope=1", "NoSuchAlert.ratio=1", "HighErrorRate.ratio=lots", "ratio=0.1"],
)
def test_it_refuses_an_unknown_or_malformed_override(settings: Any, value: str) -> None:
    settings.ALERT_THRESHOLDS = value
    with pytest.raises(ImproperlyConfigured, match="ALERT_THRESHOLDS"):
        default_rules()


@pytest.mark.django_db(transaction=True)
def test_it_migrates_old_alert_names_in_the_history() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    executor = MigrationExecutor(connection)
    executor.migrate([("alerting", "0001_initial")])
    old = executor.loader.project_state([("alerting", "0001_initial")]).apps
    Alert, Silence = old.get_model("alerting", "Alert"), old.get_model("alerting", "Silence")
    now = timezone.now()
    cases = {
        "HighErrorRatio": ({}, "warning", "HighErrorRate"),
        "ReadinessCheckFailing": ({"check": "database"}, "critical", "DatabaseDown"),
        "TLSCertificateExpiring": ({"host": "a"}, "critical", "TLSCertificateExpiryCritical"),
        "SystemResourceHigh": ({"resource": "disk:/"}, "warning", "DiskSpaceLow"),
        "SecurityEventBurst": (
            {"event_action": "excess_rate_limit_exceeded"},
            "warning",
            "RequestRateSpike",
        ),
        "HighErrorRate": ({}, "critical", "HighErrorRate"),
    }
    pks = {}
    for i, (name, (labels, severity, _)) in enumerate(cases.items()):
        pks[name] = Alert.objects.create(
            fingerprint=f"f{i}",
            name=name,
            labels={"alertname": name, **labels},
            severity=severity,
            source="builtin",
            status="resolved",
            starts_at=now,
        ).pk
    Silence.objects.create(
        matchers=[{"name": "alertname", "value": "HighLatency", "isRegex": False}], ends_at=now
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from helpdesk.monitoring.alerting.models import Alert as Current
    from helpdesk.monitoring.alerting.models import Silence as CurrentSilence
    from helpdesk.monitoring.alerting.services import fingerprint_of

    for name, (_, _, new) in cases.items():
        alert = Current.objects.get(pk=pks[name])
        assert (alert.name, alert.labels["alertname"]) == (new, new)
        if name != new:  # a renamed built-in alert gets its new label set's fingerprint
            assert alert.fingerprint == fingerprint_of(alert.labels)
    assert Current.objects.get(pk=pks["HighErrorRate"]).fingerprint == "f5"
    assert CurrentSilence.objects.get().matchers[0]["value"] == "HighResponseTime"
