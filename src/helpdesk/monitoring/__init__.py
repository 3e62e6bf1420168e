"""Monitoring packages: one small package per concern (health, metrics, logging, ...)."""
