"""Build the ``LOGGING`` dict (Django's dictConfig) for settings.py and gunicorn.

stdout (ECS JSON or the console format) and, with ``files``, ``app.log`` and ``error.log``
(ERROR and above) under ``log_dir``. ``django.request`` is kept to ERROR (its 4xx warnings
repeat the access line) without 503s (``helpdesk.lib.outages`` logs their cause once per
interval); ``helpdesk.access`` stays at INFO whatever the level.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMATS = ("json", "console")
_PKG = "helpdesk.monitoring.logging"


def build_logging_config(
    *,
    level: str = "INFO",
    fmt: str = "json",
    service: dict[str, Any] | None = None,
    stdout: bool = True,
    stream: Any = "ext://sys.stdout",
    files: bool = False,
    log_dir: str | Path | None = None,
    max_bytes: int = 15 * 1024 * 1024,
    backup_count: int = 10,
    max_field_chars: int = 8192,
) -> dict[str, Any]:
    """Return a logging dictConfig; raises ValueError for an unknown format or missing dir."""
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if files and log_dir is None:
        raise ValueError("file logging needs a log directory")
    level = level.upper()
    handlers: dict[str, dict[str, Any]] = {}
    if stdout:
        handlers["stdout"] = {
            "class": "logging.StreamHandler",
            "stream": stream,
            "formatter": "console" if fmt == "console" else "ecs",
            "filters": ["context"],
        }
    if files and log_dir is not None:
        for name, handler_level in (("app", "NOTSET"), ("error", "ERROR")):
            handlers[f"{name}_file"] = {
                "class": f"{_PKG}.handlers.SharedRotatingFileHandler",
                "filename": str(Path(log_dir) / f"{name}.log"),
                "max_bytes": max_bytes,
                "backup_count": backup_count,
                "level": handler_level,
                "formatter": "ecs",
                "filters": ["context"],
            }
    args = {"service": dict(service or {}), "max_field_chars": max_field_chars}
    names = list(handlers)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "ecs": {"()": f"{_PKG}.formatters.ECSFormatter", **args},
            "console": {"()": f"{_PKG}.formatters.ConsoleFormatter", **args},
        },
        "filters": {
            "context": {"()": f"{_PKG}.context.ContextFilter"},
            "drop_503": {"()": "helpdesk.lib.outages.DropServiceUnavailable"},
        },
        "handlers": handlers,
        "root": {"handlers": names, "level": level},
        "loggers": {
            "django.request": {"level": "ERROR", "filters": ["drop_503"]},
            "django.server": {"level": "WARNING"},
            "django.db.backends": {"level": "INFO"},
            "helpdesk.access": {"level": "INFO"},
            "gunicorn.error": {"handlers": names, "level": level, "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
