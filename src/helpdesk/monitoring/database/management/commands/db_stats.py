"""``helpdesk db-stats``: print the database inspector report as tables, or JSON."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from helpdesk.monitoring import database

logger = logging.getLogger(__name__)


def _bytes(value: Any) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)  # pragma: no cover


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[("-" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return ["  " + line for line in lines]


def render(report: dict[str, Any]) -> str:
    """Return the report as human-readable text, one block per section."""
    if "collected_at" not in report:
        return f"{report['vendor']} database {report['database']}: {report['status']}"
    out = [
        f"{report['vendor']} database {report['database']} "
        f"(collected {report['collected_at']} in {report['duration_seconds'] * 1000:.1f} ms)"
    ]
    for name, section in report.items():
        if not isinstance(section, dict):
            continue
        out.append("")
        out.append(f"{name}: {section['status']}")
        if section["status"] != "ok":
            if "how_to_enable" in section:
                out.append(f"  to enable: {section['how_to_enable']}")
            continue
        out += _render_section(name, section)
    return "\n".join(out)


def _render_section(name: str, section: dict[str, Any]) -> list[str]:
    if name == "connections":
        states = ", ".join(f"{k} {v}" for k, v in section["by_state"].items())
        return [
            f"  this database {section['database_total']} ({states})",
            f"  server {section['server_total']} of max_connections "
            f"{section['max_connections']} ({section['utilisation_ratio']:.1%})",
        ]
    if name == "long_running":
        rows = [
            [r["pid"], r["state"], r["query_seconds"], r["transaction_seconds"], r["query"]]
            for r in section["transactions"]
            + [q for q in section["queries"] if q not in section["transactions"]]
        ]
        head = f"  older than {section['threshold_seconds']} s: {len(rows)}"
        return [head] + (
            _table(["pid", "state", "query s", "xact s", "query"], rows) if rows else []
        )
    if name == "locks":
        rows = [
            [r["pid"], ",".join(map(str, r["blocked_by"])), r["waiting_seconds"], r["query"]]
            for r in section["waiting"]
        ]
        head = f"  sessions waiting on a lock: {section['waiting_count']}"
        return [head] + (_table(["pid", "blocked by", "waiting s", "query"], rows) if rows else [])
    if name == "statements":
        rows = [
            [
                f"{r['mean_seconds'] * 1000:.1f}",
                f"{r['total_seconds']:.2f}",
                r["calls"],
                r["rows"],
                r["query"],
            ]
            for r in section["top_by_mean"]
        ]
        return [
            "  top by mean time",
            *_table(["mean ms", "total s", "calls", "rows", "query"], rows),
        ]
    if name == "size":
        return [f"  {_bytes(section['bytes'])}"]
    if name == "tables":
        head = f"  {section['count']} tables"
        if section.get("method", "dbstat") == "row_count":
            rows = [[r["name"], r["rows"]] for r in section["top"]]
            return [
                head + ", by row count (dbstat not available)",
                *_table(["table", "rows"], rows),
            ]
        rows = [
            [
                r["name"],
                _bytes(r["table_bytes"]),
                _bytes(r["index_bytes"]),
                _bytes(r["total_bytes"]),
            ]
            for r in section["top"]
        ]
        return [head, *_table(["table", "data", "indexes", "total"], rows)]
    if name == "vacuum":
        rows = [
            [r["name"], r["live_tuples"], r["dead_tuples"], r["last_autovacuum"]]
            for r in section["top"]
        ]
        return [
            f"  dead tuples {section['dead_tuples_total']}",
            *_table(["table", "live", "dead", "last autovacuum"], rows),
        ]
    if name == "cache":
        ratio = section["hit_ratio"]
        return [f"  hit ratio {'-' if ratio is None else f'{ratio:.2%}'}"]
    if name == "replication":
        if section["role"] == "replica":
            return [f"  replica, lag {section['lag_seconds']} s"]
        return [f"  primary, {len(section['replicas'])} replica(s)"]
    if name == "file":
        return [
            f"  {section['path'] or 'in memory'}: {_bytes(section['file_bytes'])} "
            f"(WAL {_bytes(section['wal_bytes'])}), journal_mode {section['journal_mode']}",
            f"  {section['page_count']} pages of {section['page_size_bytes']} B, "
            f"{section['freelist_pages']} free",
        ]
    return []


class Command(BaseCommand):
    """Print the database inspector report of the default database."""

    help = "Print database health figures (connections, locks, slow queries, sizes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--database", default="default", help="Django database alias")

    def handle(self, *args: Any, **options: Any) -> None:
        data = database.report(options["database"], max_age=0)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            self.stdout.write(render(data))
