"""Query text shown by the inspector never carries literal values."""

from __future__ import annotations

from helpdesk.monitoring.database.sql import normalise


def test_it_replaces_string_and_number_literals() -> None:
    text = "SELECT * FROM auth_user WHERE email = 'alice@example.com' AND id = 42 AND x > 1.5e3"
    assert normalise(text) == "SELECT * FROM auth_user WHERE email = ? AND id = ? AND x > ?"


def test_it_handles_escaped_dollar_and_e_strings() -> None:
    text = "SELECT 'it''s', E'a\\'b', $$raw 'x'$$, $tag$secret$tag$ FROM t"
    assert normalise(text) == "SELECT ?, ?, ?, ? FROM t"


def test_it_keeps_identifiers_placeholders_and_drops_comments() -> None:
    text = 'SELECT "table1".col2 FROM t1 /* user=bob */ WHERE a = $1 -- token 99\n LIMIT 10'
    assert normalise(text) == 'SELECT "table1".col2 FROM t1 WHERE a = $1 LIMIT ?'


def test_it_masks_a_string_cut_off_by_the_server() -> None:
    assert normalise("INSERT INTO t VALUES ('password-hunter2") == "INSERT INTO t VALUES (?"


def test_it_bounds_the_length() -> None:
    text = "SELECT " + ", ".join(f"column_{i}" for i in range(100)) + " FROM t"  # noqa: S608
    shown = normalise(text, limit=50)
    assert len(shown) == 50
    assert shown.endswith("…")
    assert normalise(None) == ""
