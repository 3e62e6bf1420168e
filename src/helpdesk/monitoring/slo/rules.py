"""Prometheus rules of the SLOs: recording rules per window, the burn-rate alerts' expressions
and their promtool tests.

Per SLO and window ``slo:sli_error:ratio_rate<window>{slo="<name>"}`` is the window's share of
bad events (1 - good/total). The alert catalogue's ErrorBudgetBurn has one signal per SLO and
``burn.BURN_ALERTS`` entry, comparing a long and a short window with the same factor.
"""

from __future__ import annotations

import logging
from typing import Any

from helpdesk.monitoring.slo import burn
from helpdesk.monitoring.slo.spec import SLO

logger = logging.getLogger(__name__)


def series(window: str) -> str:
    """Return the recording rule's name for a window."""
    return f"slo:sli_error:ratio_rate{window}"


def recording_groups(slos: list[SLO]) -> list[dict[str, Any]]:
    """Return one recording group per SLO: its error ratio over every window it needs."""
    groups = []
    for slo in slos:
        windows = [*burn.WINDOWS, *([slo.window] if slo.window not in burn.WINDOWS else [])]
        groups.append(
            {
                "name": f"slo-{slo.name}",
                "rules": [
                    {
                        "record": series(window),
                        "expr": f"1 - (\n  {slo.query('good', window)}\n/\n"
                        f"  {slo.query('total', window)}\n)",
                        "labels": {"slo": slo.name},
                    }
                    for window in windows
                ],
            }
        )
    return groups


def budget(slo: SLO) -> str:
    """Return the SLO's error budget as PromQL writes it (0.001, not 0.0010000000000000009)."""
    return f"{slo.budget:.6g}"


def burn_expr(slo: SLO, alert: burn.BurnAlert, factor: str) -> str:
    """Return the expression of one burn-rate alert; its value is the long window's burn rate.

    ``factor`` is the catalogue's placeholder for the alert's factor (an overridable threshold).
    """
    selector = f'{{slo="{slo.name}"}}'
    return (
        f"{series(alert.long)}{selector} / {budget(slo)} > {factor}\n  and\n"
        f"{series(alert.short)}{selector} / {budget(slo)} > {factor}"
    )


def summary(slo: SLO, alert: burn.BurnAlert) -> str:
    return f"The {slo.name} SLO burns its error budget over {alert.long}"


def description(slo: SLO, alert: burn.BurnAlert, value: str, factor: str) -> str:
    """Return the description; ``value`` is the burn rate (``{{ $value | humanize }}``)."""
    return (
        f"Over the last {alert.long} the {slo.name} SLO ({slo.objective:.4g} over {slo.window}) "
        f"spent its error budget {value} times faster than it can last, and it still does over "
        f"{alert.short} (threshold {factor}x)."
    )


def labels(slo: SLO, alert: burn.BurnAlert) -> dict[str, str]:
    return {"slo": slo.name, "windows": f"{alert.long}/{alert.short}"}


def promtool_tests(slos: list[SLO], factors: dict[str, float], rule_file: str) -> dict[str, Any]:
    """Return promtool unit tests of every burn-rate alert: firing just over its factor on
    both windows (at the end of its ``for``), silent just under on either window.

    The inputs are the recording rules' series, so the tests check the alerts' thresholds;
    ``slo_recording_test.yml`` checks the recording rules from raw counters.
    """
    cases = []
    for slo in slos:
        for alert in burn.BURN_ALERTS:
            factor = factors[alert.long]
            over, under = factor * slo.budget * 1.05, factor * slo.budget * 0.95

            def inputs(
                long: float, short: float, slo: SLO = slo, alert: burn.BurnAlert = alert
            ) -> list[dict[str, str]]:
                values = {alert.long: long, alert.short: short}
                return [
                    {
                        "series": f'{series(window)}{{slo="{slo.name}"}}',
                        "values": f"{values.get(window, 0.0):.8g}x10",
                    }
                    for window in burn.WINDOWS
                ]

            expected = {
                "exp_labels": {
                    "severity": alert.severity,
                    "service": "slo",
                    "signal": f"{slo.name}_{alert.long}",
                    **labels(slo, alert),
                },
                "exp_annotations": {
                    "summary": summary(slo, alert),
                    "description": description(slo, alert, f"{factor * 1.05:.4g}", f"{factor:g}"),
                    "runbook_url": "docs/runbooks/ErrorBudgetBurn.md",
                },
            }
            name = f"ErrorBudgetBurn {slo.name} {alert.long}/{alert.short}"
            cases.append(
                {
                    "name": f"{name} fires over {factor:g}x on both windows",
                    "interval": "1m",
                    "input_series": inputs(over, over),
                    "alert_rule_test": [
                        {"eval_time": "1m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
                        {
                            "eval_time": "2m",
                            "alertname": "ErrorBudgetBurn",
                            "exp_alerts": [expected],
                        },
                    ],
                }
            )
            for long, short, which in ((under, over, "long"), (over, under, "short")):
                cases.append(
                    {
                        "name": f"{name} stays silent under {factor:g}x on the {which} window",
                        "interval": "1m",
                        "input_series": inputs(long, short),
                        "alert_rule_test": [
                            {"eval_time": "5m", "alertname": "ErrorBudgetBurn", "exp_alerts": []}
                        ],
                    }
                )
    return {
        "rule_files": [rule_file],
        "evaluation_interval": "1m",
        "tests": cases,
    }
