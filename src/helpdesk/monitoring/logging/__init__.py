"""Structured logging: ECS JSON lines with request context, redaction and an access log.

Code logs with the stdlib, ECS fields in ``extra`` with dotted names. A record passes
``context.ContextFilter`` (request context → record attributes), then ``formatters`` (record
attributes → redacted ECS fields), then a handler; ``config.build_logging_config`` wires them.
docs/logging.md describes every field.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)
