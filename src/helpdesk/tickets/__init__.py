"""Tickets, their comments, events and SLA policies."""
