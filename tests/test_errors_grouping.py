"""Grouping: the same error from Chrome, Firefox and Safari (and from the next build) is one
issue; different code is another; messages are normalised; source maps name the source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test.utils import override_settings

from helpdesk.monitoring.errors import grouping, ingest, sourcemaps
from helpdesk.monitoring.errors.models import ErrorIssue, Project
from helpdesk.monitoring.errors.stacks import file_basename, normalise_function, parse_stack

FIXTURES = Path(__file__).parent / "fixtures" / "errors"
BUNDLE = "https://helpdesk.example.org/static/helpdesk/app.3f2a1b9c.js?v=12"

# One bug (a ticket without requester) thrown in renderTicket, called from TicketList.render,
# from a click handler; each browser prints it its own way (and says something else).
CHROME = f"""TypeError: Cannot read properties of undefined (reading 'name')
    at renderTicket ({BUNDLE}:12:31)
    at {BUNDLE}:41:13
    at Array.forEach (<anonymous>)
    at TicketList.render ({BUNDLE}:40:9)
    at HTMLButtonElement.onClick ({BUNDLE}:88:5)"""
FIREFOX = f"""renderTicket@{BUNDLE}:12:25
render/<@{BUNDLE}:41:13
render@{BUNDLE}:40:9
onClick@{BUNDLE}:88:5
EventListener.handleEvent*@{BUNDLE}:95:1"""
SAFARI = f"""renderTicket@{BUNDLE}:12:31
@{BUNDLE}:41:13
forEach@[native code]
render@{BUNDLE}:40:16
onClick@{BUNDLE}:88:5"""
MESSAGES = {
    "chrome": (CHROME, "Cannot read properties of undefined (reading 'name')"),
    "firefox": (FIREFOX, "ticket.requester is undefined"),
    "safari": (SAFARI, "undefined is not an object (evaluating 'ticket.requester.name')"),
}


def browser_event(stack: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "javascript",
        "exception": {"values": [{"type": "TypeError", "value": message, "stack": stack}]},
        **extra,
    }


def test_it_parses_the_three_stack_formats_into_the_same_frames() -> None:
    keys = {}
    for browser, (stack, _) in MESSAGES.items():
        frames = [
            f for f in parse_stack(stack) if f["abs_path"] not in {"<anonymous>", "[native code]"}
        ]
        keys[browser] = [grouping.frame_key(f) for f in frames]
    expected = ["app.js:onClick", "app.js:render", "app.js:?", "app.js:renderTicket"]
    assert keys == {"chrome": expected, "firefox": expected, "safari": expected}


@pytest.mark.django_db
def test_the_same_error_from_chrome_firefox_and_safari_is_one_issue() -> None:
    project = Project.objects.create(name="Web", slug="web")
    outcomes = [
        ingest.ingest(browser_event(stack, message), project)
        for stack, message in MESSAGES.values()
    ]
    next_build = CHROME.replace("app.3f2a1b9c.js?v=12", "app.9d8e7f6a.js?v=13")
    next_build = next_build.replace(":12:31", ":14:7").replace(":40:9", ":44:3")
    outcomes.append(ingest.ingest(browser_event(next_build, "x"), project))
    assert len({o.issue_id for o in outcomes}) == 1
    assert ErrorIssue.objects.get().event_count == 4


@pytest.mark.django_db
def test_sentry_sdk_frames_of_the_three_browsers_are_one_issue() -> None:
    project = Project.objects.create(name="Web", slug="web")

    def sdk_event(functions: list[str], column: int) -> dict[str, Any]:
        frames = [
            {
                "filename": BUNDLE,
                "abs_path": BUNDLE,
                "function": name,
                "lineno": 10 + i,
                "colno": column,
                "in_app": True,
            }
            for i, name in enumerate(functions)
        ]
        return {
            "exception": {
                "values": [
                    {"type": "TypeError", "value": f"v{column}", "stacktrace": {"frames": frames}}
                ]
            }
        }

    chrome = sdk_event(["HTMLButtonElement.onClick", "TicketList.render", "renderTicket"], 5)
    firefox = sdk_event(["onClick", "render", "renderTicket"], 9)
    safari = sdk_event(["onClick", "render", "renderTicket"], 7)
    ids = {ingest.ingest(event, project).issue_id for event in (chrome, firefox, safari)}
    assert len(ids) == 1


@pytest.mark.django_db
def test_different_code_paths_are_different_issues() -> None:
    project = Project.objects.create(name="Web", slug="web")
    ingest.ingest(browser_event(CHROME, "a"), project)
    other = CHROME.replace("renderTicket", "renderComment")
    ingest.ingest(browser_event(other, "a"), project)
    ingest.ingest({"exception": {"values": [{"type": "RangeError", "value": "a"}]}}, project)
    assert ErrorIssue.objects.count() == 3


def test_an_explicit_fingerprint_wins() -> None:
    one = grouping.group({"message": "a", "fingerprint": ["payment-gateway"]})
    two = grouping.group({"message": "b", "fingerprint": ["payment-gateway"]})
    default = grouping.group({"message": "a", "fingerprint": ["{{ default }}", "x"]})
    assert one.fingerprint == two.fingerprint != default.fingerprint


def test_without_frames_type_and_normalised_message_group() -> None:
    def event(text: str) -> dict[str, Any]:
        return {"exception": {"values": [{"type": "LookupError", "value": text}]}}

    a = grouping.group(
        event("User 7f3a9c2e-0d4b-4c8e-9a1f-3b2c1d0e9f8a (bob@example.org) not in 10.0.0.7")
    )
    b = grouping.group(
        event("User 0c4e1a2b-5d6f-4a8b-9c0d-1e2f3a4b5c6d (amy@example.org) not in 10.0.0.9")
    )
    c = grouping.group({"exception": {"values": [{"type": "KeyError", "value": "User x"}]}})
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize(
    ("message", "normalised"),
    [
        ("Ticket 42 not found", "Ticket <num> not found"),
        ("GET https://api.example.org/v1/tickets?id=9 failed", "GET <url> failed"),
        ("mail to amy@example.org bounced", "mail to <email> bounced"),
        ("request 7f3a9c2e-0d4b-4c8e-9a1f-3b2c1d0e9f8a timed out", "request <uuid> timed out"),
        ("connect to 10.1.2.3:5432 refused", "connect to <ip> refused"),
        ("object at 0x7fd24ee21640", "object at <hex>"),
        ("commit deadbeef1234 missing", "commit <hex> missing"),
        ("took 1.5 s, retry 3", "took <num> s, retry <num>"),
        ("TypeError in renderTicket2", "TypeError in renderTicket2"),
    ],
)
def test_it_normalises_what_varies_in_messages(message: str, normalised: str) -> None:
    assert grouping.normalise_message(message) == normalised


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("https://x.org/static/app.3f2a1b9c.js?v=1#top", "app.js"),
        ("https://x.org/static/app-3F2A1B9C.js", "app.js"),
        ("https://x.org/static/chunk.abcdef12.min.js", "chunk.min.js"),
        ("/static/helpdesk/monitor.9f8e7d6c5b4a.js", "monitor.js"),
        ("https://x.org/static/bootstrap-datepicker.js", "bootstrap-datepicker.js"),
        ("webpack:///src/components/TicketList.tsx", "TicketList.tsx"),
    ],
)
def test_bundle_names_lose_hashes_and_queries(path: str, base: str) -> None:
    assert file_basename(path) == base


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("HTMLButtonElement.onClick", "onClick"),
        ("async TicketList.load", "load"),
        ("new Ticket", "Ticket"),
        ("render/<", "?"),
        ("Object.i [as handleClick]", "i"),
        ("<anonymous>", "?"),
        ("global code", "?"),
        ("", "?"),
    ],
)
def test_function_names_lose_receivers_and_decorations(name: str, normalised: str) -> None:
    assert normalise_function(name) == normalised


# A real minified esbuild bundle (tests/fixtures/errors/demo-src, `esbuild --bundle --minify
# --sourcemap`) and the stack Chrome's V8 printed when it threw.
DEMO = "https://helpdesk.example.org/static/helpdesk/demo.js"
DEMO_STACK = f"""TypeError: Cannot read properties of undefined (reading 'name')
    at r ({DEMO}:1:40)
    at t ({DEMO}:1:79)
    at Object.i [as handleClick] ({DEMO}:1:140)
    at HTMLButtonElement.<anonymous> (https://helpdesk.example.org/tickets/:20:9)"""


@pytest.fixture
def demo_static() -> Any:
    with override_settings(STATICFILES_DIRS=[str(FIXTURES / "static")]):
        yield


def test_source_maps_give_source_files_lines_and_functions(demo_static: None) -> None:
    frames = parse_stack(DEMO_STACK)
    assert sourcemaps.apply(frames) == 3
    mapped = [(f["filename"], f["lineno"], f["function"]) for f in frames]
    assert mapped == [
        ("https://helpdesk.example.org/tickets/", 20, "HTMLButtonElement.<anonymous>"),
        ("src/app.ts", 4, "handleClick"),
        ("src/tickets.ts", 11, "renderTicket"),
        ("src/tickets.ts", 7, "requesterName"),
    ]
    assert frames[-1]["data"]["minified"] == {
        "abs_path": DEMO,
        "lineno": 1,
        "colno": 40,
        "function": "r",
    }
    source = (FIXTURES / "demo-src" / "tickets.ts").read_text().splitlines()
    assert "ticket.requester!.name" in source[7 - 1]


@pytest.mark.django_db
def test_mapped_frames_name_the_culprit_and_group(demo_static: None) -> None:
    project = Project.objects.create(name="Web", slug="web")
    first = ingest.ingest(browser_event(DEMO_STACK, "x"), project)
    unmapped = DEMO_STACK.replace("demo.js", "gone.js")
    second = ingest.ingest(browser_event(unmapped, "x"), project)
    assert first.issue_id != second.issue_id  # without its map a build groups by minified names
    issue = ErrorIssue.objects.get(pk=first.issue_id)
    assert issue.culprit == "src/tickets.ts in requesterName"


def test_source_maps_refuse_paths_outside_the_static_files(demo_static: None) -> None:
    for path in (
        "https://evil.example/static/helpdesk/demo.js",  # another host's path is still ours
        "https://helpdesk.example.org/static/../settings.py",
        "https://helpdesk.example.org/media/demo.js",
    ):
        frames = [{"abs_path": path, "lineno": 1, "colno": 40, "function": "r"}]
        mapped = sourcemaps.apply(frames)
        assert mapped == (1 if "evil" in path else 0)


def test_a_broken_source_map_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "helpdesk").mkdir()
    (tmp_path / "helpdesk" / "bad.js.map").write_text(json.dumps({"version": 3, "mappings": "A$"}))
    with override_settings(STATICFILES_DIRS=[str(tmp_path)]):
        frames = [{"abs_path": "/static/helpdesk/bad.js", "lineno": 1, "colno": 1}]
        assert sourcemaps.apply(frames) == 0


def test_vlq_decoding() -> None:
    assert sourcemaps.decode_vlq("AAAA") == [0, 0, 0, 0]
    assert sourcemaps.decode_vlq("gCAAD") == [32, 0, 0, -1]
    with pytest.raises(sourcemaps.SourceMapError):
        sourcemaps.decode_vlq("g")
