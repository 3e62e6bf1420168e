"""The ELK shipping configs in deploy/: syntax, safety, and that they use the fields we emit.

No Docker engine runs here, so the stack itself cannot start; these tests parse every file and
compare the fields the pipeline, the index template and the Kibana views name against the
fields of real log lines captured from real requests.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from tests.conftest import client_for
from tests.test_logging import Captured, captured  # noqa: F401 - the fixture

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
# Fields Filebeat adds or the pipeline sets itself (not the app's).
SHIPPER_FIELDS = {"agent.ephemeral_id", "log.offset", "input", "labels.status_class"}


def flatten(event: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return {dotted.name: value} for every leaf of an ECS event."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


@pytest.fixture
def emitted(captured: Captured, alice: Any, settings: Any) -> dict[str, list[Any]]:  # noqa: F811
    """Fields (with sample values) of real access, application, security and error lines."""
    settings.ROOT_URLCONF = "tests.logging_urls"
    client_for(alice).get("/api/v1/tickets/", HTTP_USER_AGENT="shipping-test")
    client_for(alice).get("/test/chatty/?page=1")
    Client(raise_request_exception=False).get("/test/boom/")
    fields: dict[str, list[Any]] = {}
    for event in captured.events("app.log"):
        for name, value in flatten(event).items():
            fields.setdefault(name, []).append(value)
    return fields


# One left-to-right pass: a "#" inside a string is not a comment, a quote inside a comment is
# not a string. (Logstash strings have no escapes unless config.support_escapes is set.)
_LOGSTASH_TOKENS = re.compile(r"\"[^\"]*\"|'[^']*'|#[^\n]*")


def logstash_sections(text: str) -> dict[str, str]:
    """Parse a Logstash config into its top-level sections; raises on unbalanced braces."""
    code = _LOGSTASH_TOKENS.sub(lambda m: "" if m.group()[0] == "#" else '""', text)
    sections: dict[str, str] = {}
    depth, start, name = 0, 0, ""
    for match in re.finditer(r"[{}]|\b(input|filter|output)\b", code):
        token = match.group()
        if token == "{":
            if depth == 0:
                start = match.end()
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced '}'")
            if depth == 0:
                sections[name] = code[start : match.start()]
        elif depth == 0:
            name = token
    if depth != 0:
        raise ValueError("unbalanced '{'")
    return sections


def test_it_parses_the_filebeat_config() -> None:
    config = yaml.safe_load((DEPLOY / "filebeat/filebeat.yml").read_text())
    [stream] = config["filebeat.inputs"]
    assert stream["type"] == "filestream"
    assert stream["id"]
    assert "/var/log/helpdesk/app.log" in stream["paths"]
    assert not any("error.log" in path for path in stream["paths"])  # not shipped twice
    [parser] = stream["parsers"]
    ndjson = parser["ndjson"]
    assert ndjson["expand_keys"] is True  # "log.level" → log.level object
    assert ndjson["overwrite_keys"] is True  # the app's ECS fields win
    assert ndjson["add_error_key"] is True
    assert any("add_host_metadata" in p for p in config["processors"])
    assert config["output.logstash"]["hosts"]
    assert re.search(stream["prospector.scanner.exclude_files"][0], "app.log.lock")


def test_it_parses_the_compose_file_with_security_on() -> None:
    text = (DEPLOY / "docker-compose.logging.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"elasticsearch", "logstash", "kibana", "filebeat"} <= set(services)
    es_env = services["elasticsearch"]["environment"]
    assert es_env["xpack.security.enabled"] == "true"
    assert "xpack.security.enabled=false" not in text
    # Every password comes from the environment and compose refuses to run without it.
    for name in ("ELASTIC_PASSWORD", "KIBANA_SYSTEM_PASSWORD", "LOGSTASH_WRITER_PASSWORD"):
        assert f"${{{name}:?" in text
    assert not re.search(r"(?i)password:\s*['\"]?(changeme|admin|elastic)\b", text)
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source
        assert "healthcheck" not in service or "curl" not in str(service["healthcheck"])


def test_it_parses_the_logstash_pipeline() -> None:
    text = (DEPLOY / "logstash/pipeline/helpdesk.conf").read_text()
    sections = logstash_sections(text)
    assert set(sections) == {"input", "filter", "output"}
    assert re.search(r"beats\s*\{[^}]*port\s*=>\s*5044", sections["input"])
    assert "grok" not in sections["filter"]
    assert 'index => "helpdesk-logs-%{+YYYY.MM.dd}"' in text
    assert re.search(r"password\s*=>\s*\"\$\{LOGSTASH_WRITER_PASSWORD\}\"", text)
    assert "manage_template => false" in text


def test_it_keeps_the_setup_script_valid() -> None:
    script = DEPLOY / "elasticsearch/setup.sh"
    subprocess.run(["sh", "-n", str(script)], check=True)
    text = script.read_text()
    for name in ("ilm-policy.json", "index-template.json", "logstash-writer-role.json"):
        assert name in text
        json.loads((DEPLOY / "elasticsearch" / name).read_text())
    template = json.loads((DEPLOY / "elasticsearch/index-template.json").read_text())
    assert template["index_patterns"] == ["helpdesk-logs-*"]
    policy_name = template["template"]["settings"]["index.lifecycle.name"]
    assert f"/_ilm/policy/{policy_name} " in text
    policy = json.loads((DEPLOY / "elasticsearch/ilm-policy.json").read_text())
    assert "delete" in policy["policy"]["phases"]


def _mapped(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in properties.items():
        if "properties" in value:
            out.update(_mapped(value["properties"], f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value["type"]
    return out


def test_it_maps_the_fields_we_emit_with_matching_types(emitted: dict[str, list[Any]]) -> None:
    template = json.loads((DEPLOY / "elasticsearch/index-template.json").read_text())
    mapped = _mapped(template["template"]["mappings"]["properties"])
    for name in (
        "http.request.id",
        "http.response.status_code",
        "event.duration",
        "client.ip",
        "user.id",
        "url.path",
        "error.stack_trace",
        "log.level",
    ):
        assert name in emitted, f"the app never emitted {name}"
    for name, values in emitted.items():
        kind = mapped.get(name)
        if kind is None:
            # Unmapped: strings go to keyword by the dynamic template, labels to keyword.
            assert all(isinstance(v, str | int | bool | list) for v in values), name
            continue
        for value in values:
            if kind == "long":
                assert isinstance(value, int), (name, value)
            elif kind == "ip":
                ipaddress.ip_address(value)
            elif kind == "date":
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", value), (name, value)
            else:
                assert isinstance(value, str | list), (name, value)


def test_it_names_only_emitted_fields_in_the_pipeline_and_kibana(
    emitted: dict[str, list[Any]],
) -> None:
    known = set(emitted) | SHIPPER_FIELDS
    pipeline = (DEPLOY / "logstash/pipeline/helpdesk.conf").read_text()
    code = _LOGSTASH_TOKENS.sub(lambda m: "" if m.group()[0] == "#" else m.group(), pipeline)
    references = {
        ".".join(re.findall(r"\[([^\]]+)\]", ref))
        for ref in re.findall(r"(?:\[[A-Za-z_@][^\]]*\])+", code)
    }
    assert references
    for ref in references:
        assert ref in known or ref == "error.type", ref
    for line in (DEPLOY / "kibana/helpdesk.ndjson").read_text().splitlines():
        saved = json.loads(line)
        if saved["type"] != "search":
            assert saved["attributes"]["timeFieldName"] in known
            continue
        for column in saved["attributes"]["columns"]:
            assert column in known, (saved["id"], column)
        query = json.loads(saved["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        for field_name in re.findall(r"([A-Za-z_.@]+)\s*:", query["query"]["query"]):
            assert field_name in known, (saved["id"], field_name)
