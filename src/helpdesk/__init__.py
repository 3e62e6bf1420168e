"""Helpdesk Platform: a Django helpdesk with production-grade monitoring built in."""

from __future__ import annotations

__version__ = "0.1.0"
