"""Structured logging: ECS JSON lines with request context, redaction and an access log.

Code logs with the stdlib and puts ECS fields in ``extra`` with dotted names::

    logger.warning("login failed", extra={"event.action": "authn_login_fail",
                                          "event.outcome": "failure"})

Pieces: ``config.build_logging_config`` (the LOGGING dict settings.py and gunicorn use),
``formatters.ECSFormatter``/``ConsoleFormatter``, ``context.ContextFilter`` (request id, bound
fields, client, user), ``middleware.AccessLogMiddleware`` (one line per request),
``redaction.Redactor`` (secrets and size caps), ``handlers.SharedRotatingFileHandler`` (one
rotating file shared by several worker processes). docs/logging.md describes every field.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)
