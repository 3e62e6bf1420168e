"""Embedded metrics history and the one time-series query layer.

``sampler.Sampler`` is the worker's job that stores per-series rollups of /metrics' families;
``query`` answers rate/increase, ratios, histogram quantiles, sums by labels and top-k, as
values or as points for charts, from this history or from Prometheus (PROMETHEUS_URL).
See docs/metrics-history.md.
"""
