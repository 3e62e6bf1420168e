"""The public status page at /status/: what customers see when they wonder "is it down?".

``views.status_page`` shows the state of the parts customers use (``probes.uptime``: the
synthetic probes, else the health checks), their 90-day uptime bars, open and recent
incidents (critical alerts of the alert center, under public titles) and the operators'
public messages (``models.StatusMessage``, written in the admin). No login, cacheable, and
nothing internal: no host, check, alert label, exception text or version reaches the page.
See docs/console.md.
"""
