"""Service level objectives: the SLO file, error budgets, burn rates and the SLO report.

``spec`` reads and validates the SLO file; ``burn`` holds the budget and burn-rate maths;
``embedded`` counts good/total events from the app's own data (sampled request counters,
ticket first responses, probe runs) and ``prometheus`` from Prometheus's HTTP API, behind one
``Counts`` interface; ``report`` builds what ``helpdesk slo report`` and the API show;
``rules`` renders the Prometheus recording rules. The alert catalogue reads this package for
the ErrorBudgetBurn alerts; this package never imports alerting.
"""
