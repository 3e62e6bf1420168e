"""The Grafana dashboards as code: regenerating changes nothing, the JSON is what
grafana-foundation-sdk's dashboard model reads and writes back, uids are fixed, every query
goes through the ``${datasource}`` variable, and provisioning matches."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "deploy" / "grafana"
FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
EXPECTED_UIDS = {
    "helpdesk-service-overview",
    "helpdesk-slo",
    "helpdesk-database",
    "helpdesk-system",
    "helpdesk-business",
    "helpdesk-security",
    "helpdesk-browser",
    "helpdesk-alerts",
}


def generator() -> ModuleType:
    """Import deploy/grafana/generate.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("grafana_generate", module)
    spec.loader.exec_module(module)
    return module


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_it_regenerates_the_committed_dashboards_unchanged() -> None:
    rendered = generator().render()
    assert sorted(rendered) == [path.name for path in FILES]
    for path in FILES:
        assert path.read_text() == rendered[path.name], (
            f"{path.name} differs from the generator: run deploy/grafana/generate.py"
        )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_it_validates_against_the_sdk_dashboard_model(path: Path) -> None:
    data = load(path)
    # The SDK's typed model reads every field and writes the same document back.
    parsed = Dashboard.from_json(data)
    assert json.loads(json.dumps(parsed, cls=JSONEncoder)) == data
    assert data["title"] and data["panels"]
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in data["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].strip()


def test_it_has_fixed_unique_uids() -> None:
    uids = [load(path)["uid"] for path in FILES]
    assert sorted(uids) == sorted(EXPECTED_UIDS)


def test_it_provisions_the_datasource_the_dashboards_default_to() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (prometheus,) = datasources["datasources"]
    for path in FILES:
        current = load(path)["templating"]["list"][0]["current"]
        assert current["value"] == prometheus["uid"]
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/helpdesk.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/helpdesk"
    assert provider["allowUiUpdates"] is False


def test_it_shows_the_error_ratio_not_an_absolute_rate() -> None:
    overview = load(GRAFANA / "dashboards" / "service-overview.json")
    titles = {panel["title"]: panel for panel in overview["panels"]}
    ratio = titles["Error ratio by route (5xx / all)"]
    assert ratio["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert " / sum by (http_route) (rate(" in ratio["targets"][0]["expr"]
    quantiles = [t["expr"] for t in titles["Latency p95 / p99"]["targets"]]
    assert [e.split(",")[0] for e in quantiles] == [
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
    ]
