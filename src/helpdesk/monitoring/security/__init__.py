"""Security monitoring: security events, brute-force lockout, suspicious activity, scanning.

Events are published once on ``events.publish`` (OWASP Logging Vocabulary names) and consumed
by storage, metrics, logging and alerting. See docs/security-monitoring.md.
"""

from __future__ import annotations
