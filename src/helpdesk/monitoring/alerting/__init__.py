"""The alert center: alerts, silences, channels, the notification outbox and the worker.

Ways in: ``services`` (every write: fire, resolve, acknowledge, silences, schedule),
``delivery.deliver_due`` (the outbox), ``evaluator`` + ``rules`` (built-in rules),
``views`` (the Alertmanager webhook and the staff/token API), ``checks.WorkerHeartbeatCheck``
(the worker's health check, listed in HEALTH_CHECKS), and ``helpdesk worker``.
"""
