"""Synthetic probes: the worker checks the app from outside over HTTP, as a user would.

``runner.run_configured()`` (a worker job every PROBE_INTERVAL_SECONDS) runs each probe of
PROBE_CHECKS against PROBE_BASE_URL and stores a ``ProbeRun``; ``collector.ProbeCollector``
serves the results on /metrics (``probe_success``, ``probe_duration_seconds{probe,phase}``,
``helpdesk_probe_consecutive_failures``), the alert catalogue's ProbeFailing reads them and the
probe_availability SLO counts them. Probe requests carry ``helpdesk.lib.synthetic``'s header,
so the app leaves them out of its user metrics.
"""
