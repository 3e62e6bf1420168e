"""Django settings for Helpdesk Platform, read from environment variables only.

The embedded default (no variables set) runs on SQLite and the in-process cache with data
under ./var/. ``HELPDESK_ENV=production`` enables the HTTPS/cookie hardening and the
production checks (an explicit SECRET_KEY and ALLOWED_HOSTS, DEBUG off, long tokens).

This module only reads settings: a value that cannot be parsed stops it with the variable's
name, and whether the values make sense together is checked by ``helpdesk check``
(helpdesk/checks.py, Django system checks). docs/configuration.md documents every variable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from helpdesk import __version__
from helpdesk.lib.embedded import EmbeddedData
from helpdesk.lib.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent
HELPDESK_VERSION = __version__

HELPDESK_ENV = env_str("HELPDESK_ENV", "development").lower()
if HELPDESK_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("HELPDESK_ENV must be development, production or test")
PRODUCTION = HELPDESK_ENV == "production"

DATA_DIR = Path(env_str("HELPDESK_DATA_DIR", str(Path.cwd() / "var"))).resolve()
LOG_DIR = Path(env_str("LOG_DIR", str(DATA_DIR / "log"))).resolve()
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
# The embedded default keeps everything it writes in one folder next to the checkout, secrets
# nobody set included (generated once, mode 0600). Production writes nothing here.
_embedded = None if PRODUCTION else EmbeddedData.prepare(DATA_DIR, [STATIC_ROOT])

# Production requires a real key (helpdesk.checks: at least 50 characters, no placeholder).
SECRET_KEY = env_str("SECRET_KEY") or (_embedded.secret("secret_key", 64) if _embedded else "")
DEBUG = env_bool("DEBUG", False)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PORT = env_int("PORT", 8000, minimum=1)

# Proxies whose X-Forwarded-For / Forwarded headers are believed (CIDRs). Empty: REMOTE_ADDR is
# the client. See helpdesk.lib.client_ip.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

INSTALLED_APPS = [
    "helpdesk",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "helpdesk.accounts",
    "helpdesk.tickets",
    "helpdesk.monitoring.database",
    "helpdesk.monitoring.system",
    "helpdesk.monitoring.alerting",
    "helpdesk.monitoring.security",
    "helpdesk.monitoring.metrics",
    "helpdesk.monitoring.errors",
    "helpdesk.monitoring.probes",
    "helpdesk.monitoring.slo",
    "helpdesk.monitoring.browser",
    "helpdesk.monitoring.history",
    "helpdesk.monitoring.status",
    "helpdesk.monitoring.console",
]

MIDDLEWARE = [
    "helpdesk.lib.request_context.RequestContextMiddleware",
    "helpdesk.monitoring.metrics.middleware.MetricsMiddleware",
    "helpdesk.monitoring.logging.context.AccessLogMiddleware",
    "helpdesk.monitoring.health.middleware.HealthProbeMiddleware",
    "helpdesk.monitoring.security.middleware.SecurityMonitorMiddleware",
    "helpdesk.lib.middleware.RequestBodyLimitMiddleware",
    "helpdesk.lib.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Distributed tracing (helpdesk.monitoring.tracing, docs/tracing.md): on when an OTLP endpoint is
# set. The SDK reads the other standard variables itself (OTEL_SERVICE_NAME,
# OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS…); OTEL_TRACES_SAMPLER, when set, too.
# Off, no SDK is set up and the middleware below is not installed.
TRACING_ENABLED = bool(
    env_str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env_str("OTEL_EXPORTER_OTLP_ENDPOINT")
)
# Without OTEL_TRACES_SAMPLER: parent-based ratio sampling at OTEL_TRACES_SAMPLER_ARG (0..1).
TRACING_SAMPLER = env_str("OTEL_TRACES_SAMPLER")
TRACING_SAMPLE_RATIO = min(1.0, max(0.0, env_float("OTEL_TRACES_SAMPLER_ARG", 1.0)))
# The export queue drops (and counts) spans beyond this; an export waits at most the timeout
# (seconds, in the exporter's thread, never a request's).
TRACING_QUEUE_SIZE = env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048, minimum=1)
TRACING_SCHEDULE_DELAY_MS = env_int("OTEL_BSP_SCHEDULE_DELAY", 1000, minimum=1)
TRACING_EXPORT_TIMEOUT = env_float(
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", env_float("OTEL_EXPORTER_OTLP_TIMEOUT", 2.0)
)
if TRACING_ENABLED:
    # Right after the request context: binds the trace ids there before metrics and logging run.
    MIDDLEWARE.insert(1, "helpdesk.monitoring.tracing.middleware.TraceContextMiddleware")

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL, else a SQLite file under DATA_DIR.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'helpdesk.sqlite3'}")
_db: dict[str, Any] = dict(
    dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
)
_db["CONN_HEALTH_CHECKS"] = True
# Every wait on PostgreSQL is bounded (docs/reliability.md): connecting, each statement (on the
# server, and on the client by helpdesk.lib.postgresql should the server stop answering), and
# an open connection to a peer that vanished (TCP keepalives, tcp_user_timeout). After a
# timeout the server counts as unavailable for DB_UNAVAILABLE_SECONDS (503 + Retry-After).
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 3, minimum=1)
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 10_000, minimum=0)
DB_UNAVAILABLE_SECONDS = env_int("DB_UNAVAILABLE_SECONDS", 5, minimum=1)
if _db["ENGINE"] == "django.db.backends.postgresql":
    _db["ENGINE"] = "helpdesk.lib.postgresql"
    # Options given in DATABASE_URL's query string win.
    _options = _db.setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    _options.setdefault("application_name", "helpdesk")
    if DB_STATEMENT_TIMEOUT_MS:
        _options.setdefault("options", f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}")
    _options.setdefault("keepalives", 1)
    _options.setdefault("keepalives_idle", env_int("DB_KEEPALIVES_IDLE", 10, minimum=1))
    _options.setdefault("keepalives_interval", env_int("DB_KEEPALIVES_INTERVAL", 5, minimum=1))
    _options.setdefault("keepalives_count", env_int("DB_KEEPALIVES_COUNT", 3, minimum=1))
    _options.setdefault("tcp_user_timeout", env_int("DB_TCP_USER_TIMEOUT_MS", 10_000, minimum=0))
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    _db["CONN_MAX_AGE"] = 0 if "pytest" in sys.modules else _db["CONN_MAX_AGE"]
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: REDIS_URL selects Django's built-in Redis cache, else per-process local memory.
REDIS_URL = env_str("REDIS_URL")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "helpdesk.monitoring.metrics.cache.RedisCache",
            "ALIAS": "default",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "helpdesk"),
            "OPTIONS": {
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "helpdesk.monitoring.metrics.cache.LocMemCache",
            "ALIAS": "default",
            "LOCATION": "helpdesk",
        }
    }

# Login-failure counters and lockouts (helpdesk.monitoring.security.lockout) must be shared by
# every web process: Redis when configured, else a file cache on this host.
if REDIS_URL:
    CACHES["security"] = {**CACHES["default"]}
else:
    CACHES["security"] = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "security-cache"),
        # Increments of the file cache reset the expiry to this; counters are time-bucketed.
        "TIMEOUT": 3600,
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Path prefixes of health probes, /metrics scrapes and static files: left out of the request
# metrics, the access log (unless ACCESS_LOG_PROBES) and the rate limits. They come every few
# seconds and say nothing about the users' traffic. The one list every middleware reads.
MONITORING_UNTRACKED_PATHS = env_list(
    "MONITORING_UNTRACKED_PATHS", ["/health/", "/metrics", "/" + STATIC_URL]
)
# Bundles built from frontend/ by esbuild (`make frontend`; never committed) land in
# helpdesk/static/helpdesk/ (the helpdesk app's static folder), served as /static/helpdesk/…
# with their source maps. STATIC_ROOT is set with DATA_DIR above.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request bodies above this size are refused with 413 before any view reads them.
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes unauthenticated calls answer 401.
        "helpdesk.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "helpdesk.lib.api.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "helpdesk.lib.api.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "helpdesk.lib.api.exception_handler",
    # JSON only, parsed by orjson and refusing what JSON cannot carry (helpdesk.lib.api):
    # form encodings would read a missing boolean as false and cannot carry nested lists.
    "DEFAULT_PARSER_CLASSES": ["helpdesk.lib.api.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk Platform API",
    "DESCRIPTION": "Organizations, tickets and comments, with tenant isolation.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Error answers (400/401/403/404/413/429/503) with their body schemas on every operation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "helpdesk.lib.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "helpdesk.tickets.states.Status",
        "AlertStatusEnum": "helpdesk.monitoring.alerting.models.Alert.Status",
        "NotificationStatusEnum": "helpdesk.monitoring.alerting.models.Notification.Status",
        "ErrorIssueStatusEnum": "helpdesk.monitoring.errors.models.Status",
        "ErrorLevelEnum": "helpdesk.monitoring.errors.models.Level",
    },
}

# A bearer token that grants read access to every monitoring API (in addition to staff users).
# Empty: only staff users. See helpdesk.monitoring.access.
MONITORING_API_TOKEN = env_str("MONITORING_API_TOKEN")

# Collectors read at scrape time by /metrics (prometheus_client custom collectors, dotted paths).
HELPDESK_METRICS_COLLECTORS: list[str] = [
    "helpdesk.monitoring.database.collector.DatabaseCollector",
    "helpdesk.monitoring.system.collector.SystemCollector",
    "helpdesk.monitoring.alerting.collector.AlertingCollector",
    "helpdesk.monitoring.health.collector.HealthCollector",
    "helpdesk.monitoring.security.collector.SecurityCollector",
    "helpdesk.monitoring.metrics.business.BusinessCollector",
    "helpdesk.monitoring.metrics.business.BuildInfoCollector",
    "helpdesk.monitoring.probes.collector.ProbeCollector",
    "helpdesk.monitoring.history.collector.HistoryCollector",
]

# Embedded metrics history (helpdesk.monitoring.history, docs/metrics-history.md): the worker
# samples /metrics' families every HISTORY_SAMPLE_SECONDS into 1-minute rollups kept
# HISTORY_MINUTE_RETENTION_HOURS and 1-hour rollups kept HISTORY_HOUR_RETENTION_DAYS, for at
# most HISTORY_MAX_SERIES series. With PROMETHEUS_URL set, queries go to Prometheus instead.
HISTORY_SAMPLE_SECONDS = env_float("HISTORY_SAMPLE_SECONDS", 15.0)
HISTORY_MINUTE_RETENTION_HOURS = env_int("HISTORY_MINUTE_RETENTION_HOURS", 48, minimum=1)
HISTORY_HOUR_RETENTION_DAYS = env_int("HISTORY_HOUR_RETENTION_DAYS", 30, minimum=1)
HISTORY_MAX_SERIES = env_int("HISTORY_MAX_SERIES", 5000, minimum=1)

# The monitoring console at /monitoring/ (helpdesk.monitoring.console, docs/console.md): staff
# act; members of this Django group may look (read-only).
CONSOLE_GROUP = env_str("CONSOLE_GROUP", "monitoring")
# The alerts' runbooks (docs/runbooks/<alert>.md) the console shows; a checkout has them here.
CONSOLE_RUNBOOK_DIR = env_str(
    "CONSOLE_RUNBOOK_DIR", str(BASE_DIR.parent.parent / "docs" / "runbooks")
)

# Database inspector (helpdesk.monitoring.database): every monitoring query runs under this
# statement timeout, reports are cached per process for DB_MONITOR_CACHE_SECONDS.
DB_MONITOR_STATEMENT_TIMEOUT_MS = env_int("DB_MONITOR_STATEMENT_TIMEOUT_MS", 2000, minimum=10)
DB_MONITOR_CACHE_SECONDS = env_float("DB_MONITOR_CACHE_SECONDS", 15.0)
DB_MONITOR_LONG_RUNNING_SECONDS = env_float("DB_MONITOR_LONG_RUNNING_SECONDS", 30.0)
DB_MONITOR_TOP_N = env_int("DB_MONITOR_TOP_N", 10, minimum=1)

# System monitor (helpdesk.monitoring.system): thresholds in percent of the container's limit
# when cgroup v2 limits apply (else the host's), crossed only when exceeded for
# SYSTEM_SUSTAINED_SECONDS.
SYSTEM_CPU_THRESHOLD_PERCENT = env_float("SYSTEM_CPU_THRESHOLD_PERCENT", 80.0)
SYSTEM_MEMORY_THRESHOLD_PERCENT = env_float("SYSTEM_MEMORY_THRESHOLD_PERCENT", 85.0)
SYSTEM_DISK_THRESHOLD_PERCENT = env_float("SYSTEM_DISK_THRESHOLD_PERCENT", 90.0)
SYSTEM_SUSTAINED_SECONDS = env_float("SYSTEM_SUSTAINED_SECONDS", 300.0)
SYSTEM_DISK_PATHS = env_list("SYSTEM_DISK_PATHS", [str(DATA_DIR), str(LOG_DIR), "/"])

# Alerting (helpdesk.monitoring.alerting): channels, delivery, alert fatigue, the worker.
# Outgoing HTTP (helpdesk.lib.http) refuses private/loopback destinations unless this is on.
OUTBOUND_ALLOW_PRIVATE_IPS = env_bool("OUTBOUND_ALLOW_PRIVATE_IPS", False)
ALERTMANAGER_WEBHOOK_TOKEN = env_str("ALERTMANAGER_WEBHOOK_TOKEN")
ALERTMANAGER_WEBHOOK_MAX_BYTES = env_int("ALERTMANAGER_WEBHOOK_MAX_BYTES", 512 * 1024, minimum=1024)
ALERTMANAGER_URL = env_str("ALERTMANAGER_URL").rstrip("/")
# Channels configured from the environment (more, and routing, in the admin).
ALERT_SLACK_WEBHOOK_URL = env_str("ALERT_SLACK_WEBHOOK_URL")
ALERT_SLACK_SEVERITIES = env_list("ALERT_SLACK_SEVERITIES")
ALERT_EMAIL_TO = env_list("ALERT_EMAIL_TO")
ALERT_EMAIL_SEVERITIES = env_list("ALERT_EMAIL_SEVERITIES", ["error", "critical"])
ALERT_WEBHOOK_URL = env_str("ALERT_WEBHOOK_URL")
ALERT_WEBHOOK_SECRET = env_str("ALERT_WEBHOOK_SECRET")
ALERT_WEBHOOK_SEVERITIES = env_list("ALERT_WEBHOOK_SEVERITIES")
ALERT_ESCALATION_EMAIL_TO = env_list("ALERT_ESCALATION_EMAIL_TO")
# Warnings reach the environment's channels once a day in one digest instead of one by one.
ALERT_WARNING_DIGEST = env_bool("ALERT_WARNING_DIGEST", False)
ALERT_CHANNEL_TRANSPORTS: dict[str, str] = {
    "slack": "helpdesk.monitoring.alerting.integrations.slack.transport.Slack",
    "email": "helpdesk.monitoring.alerting.integrations.email.transport.Email",
    "webhook": "helpdesk.monitoring.alerting.integrations.webhook.transport.Webhook",
}
# Delivery: bounded attempts with exponential backoff and jitter, then the dead letter.
ALERT_DELIVERY_MAX_ATTEMPTS = env_int("ALERT_DELIVERY_MAX_ATTEMPTS", 8, minimum=1)
ALERT_DELIVERY_BACKOFF_SECONDS = env_float("ALERT_DELIVERY_BACKOFF_SECONDS", 5.0)
ALERT_DELIVERY_BACKOFF_MAX_SECONDS = env_float("ALERT_DELIVERY_BACKOFF_MAX_SECONDS", 900.0)
ALERT_DELIVERY_LEASE_SECONDS = env_float("ALERT_DELIVERY_LEASE_SECONDS", 120.0)
ALERT_DELIVERY_TIMEOUT_SECONDS = env_float("ALERT_DELIVERY_TIMEOUT_SECONDS", 10.0)
# Alert fatigue: repeat while firing (at most ALERT_REPEAT_MAX times), escalate critical
# alerts nobody acknowledged.
ALERT_REPEAT_INTERVAL_SECONDS = env_float("ALERT_REPEAT_INTERVAL_SECONDS", 4 * 3600.0)
ALERT_REPEAT_MAX = env_int("ALERT_REPEAT_MAX", 3, minimum=0)
ALERT_ESCALATE_AFTER_SECONDS = env_float("ALERT_ESCALATE_AFTER_SECONDS", 15 * 60.0)
ALERT_ACK_SILENCE_SECONDS = env_float("ALERT_ACK_SILENCE_SECONDS", 4 * 3600.0)
# The embedded evaluator (run by `helpdesk worker`).
ALERT_EVALUATION_INTERVAL_SECONDS = env_float("ALERT_EVALUATION_INTERVAL_SECONDS", 15.0)
ALERT_RESOLVE_AFTER_GOOD = env_int("ALERT_RESOLVE_AFTER_GOOD", 2, minimum=1)
# Overrides of the alert catalogue's thresholds, for both the embedded evaluator and the
# generated Prometheus rules: "HighErrorRate.ratio=0.02,TLSCertificateExpiringSoon.days=30"
# (docs/alerting.md lists every threshold).
ALERT_THRESHOLDS = env_str("ALERT_THRESHOLDS")
WORKER_DELIVERY_INTERVAL_SECONDS = env_float("WORKER_DELIVERY_INTERVAL_SECONDS", 1.0)
WORKER_HEARTBEAT_STALE_SECONDS = env_float("WORKER_HEARTBEAT_STALE_SECONDS", 60.0)

# Synthetic probes (helpdesk.monitoring.probes, run by the worker; docs/slo.md): the public
# URL they call, how often, each request's deadline, which probes, the journey's account.
PROBE_BASE_URL = env_str("PROBE_BASE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
PROBE_INTERVAL_SECONDS = env_float("PROBE_INTERVAL_SECONDS", 30.0)
PROBE_TIMEOUT_SECONDS = env_float("PROBE_TIMEOUT_SECONDS", 5.0)
PROBE_CHECKS = env_list("PROBE_CHECKS", ["ready", "login", "journey"])
PROBE_USERNAME = env_str("PROBE_USERNAME", "synthetic-probe")
PROBE_PASSWORD = env_str("PROBE_PASSWORD")
if unknown_probes := set(PROBE_CHECKS) - {"ready", "login", "journey"}:
    raise ImproperlyConfigured(f"PROBE_CHECKS: unknown probes {sorted(unknown_probes)}")

# The public status page /status/ (helpdesk.monitoring.status; docs/console.md): how long
# browsers and shared caches may keep it.
STATUS_PAGE_CACHE_SECONDS = env_int("STATUS_PAGE_CACHE_SECONDS", 30, minimum=0)

# Service level objectives (helpdesk.monitoring.slo; docs/slo.md): another SLO file than the
# shipped one, and where `helpdesk slo report` and the API read SLIs (Prometheus's HTTP API)
# when set; without it the embedded HTTP SLIs read the metrics history (HISTORY_* below).
SLO_FILE = env_str("SLO_FILE")
PROMETHEUS_URL = env_str("PROMETHEUS_URL").rstrip("/")

# Health checks (helpdesk.monitoring.health, docs/health.md): /health/live, /health/ready,
# /health/. Checks are configured here in code; thresholds, deadlines and the token come from
# the environment. Each entry: dotted path, "critical" (fails readiness; else only warns),
# optional "deadline" seconds and "options" passed to the check.
HEALTH_DEADLINE_SECONDS = env_float("HEALTH_DEADLINE_SECONDS", 2.0)
HEALTH_CACHE_SECONDS = env_float("HEALTH_CACHE_SECONDS", 2.0)
HEALTH_LOG_INTERVAL_SECONDS = env_float("HEALTH_LOG_INTERVAL_SECONDS", 60.0)
HEALTH_DISK_WARN_PERCENT = env_float("HEALTH_DISK_WARN_PERCENT", 90.0)
HEALTH_DISK_FAIL_PERCENT = env_float("HEALTH_DISK_FAIL_PERCENT", 95.0)
HEALTH_NON_CRITICAL = env_list("HEALTH_NON_CRITICAL")
HEALTH_SERVICE_ID = env_str("HEALTH_SERVICE_ID", "helpdesk")
HEALTH_TOKEN = env_str("HEALTH_TOKEN")
HEALTH_CHECKS: list[dict[str, Any]] = [
    {"check": "helpdesk.monitoring.health.checks.DatabaseCheck", "critical": True},
    {"check": "helpdesk.monitoring.health.checks.MigrationsCheck", "critical": True},
    {"check": "helpdesk.monitoring.health.checks.CacheCheck", "critical": True},
    {"check": "helpdesk.monitoring.health.checks.DiskCheck", "critical": True},
    # Without a worker, notifications wait but requests are served: warn only.
    {"check": "helpdesk.monitoring.alerting.checks.WorkerHeartbeatCheck", "critical": False},
]

# Tokens issued by POST /api/v1/auth/token/ expire after this many days (0: never).
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 30, minimum=0)

# Used when an organization has no SLA policy for a priority: minutes to first response and
# to resolution.
HELPDESK_DEFAULT_SLA_MINUTES = {
    "urgent": (30, 4 * 60),
    "high": (60, 8 * 60),
    "normal": (4 * 60, 24 * 60),
    "low": (8 * 60, 72 * 60),
}

# Logging: ECS JSON lines (docs/logging.md). stdout always; app.log/error.log under LOG_DIR
# when LOG_FILES is on (the default outside production, where containers log to stdout).
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOG_FORMAT = env_str("LOG_FORMAT", "console" if HELPDESK_ENV == "development" else "json").lower()
LOG_FILES = env_bool("LOG_FILES", not PRODUCTION)
LOG_FILE_MAX_BYTES = env_int("LOG_FILE_MAX_BYTES", 15 * 1024 * 1024, minimum=1024)
LOG_FILE_BACKUPS = env_int("LOG_FILE_BACKUPS", 10, minimum=0)
LOG_FIELD_MAX_CHARS = env_int("LOG_FIELD_MAX_CHARS", 8192, minimum=256)
# One access line per request; MONITORING_UNTRACKED_PATHS only with ACCESS_LOG_PROBES.
ACCESS_LOG = env_bool("ACCESS_LOG", True)
ACCESS_LOG_PROBES = env_bool("ACCESS_LOG_PROBES", False)
try:
    from helpdesk.monitoring.logging.config import build_logging_config

    LOGGING: dict[str, Any] = build_logging_config(
        level=LOG_LEVEL,
        fmt=LOG_FORMAT,
        service={
            "service.name": "helpdesk",
            "service.version": __version__,
            "service.environment": HELPDESK_ENV,
        },
        files=LOG_FILES,
        log_dir=LOG_DIR,
        max_bytes=LOG_FILE_MAX_BYTES,
        backup_count=LOG_FILE_BACKUPS,
        max_field_chars=LOG_FIELD_MAX_CHARS,
    )
except ValueError as _error:
    raise ImproperlyConfigured(str(_error)) from None
# The error tracker's capture of ERROR records is part of the logging config, not added to the
# root logger at start: whoever applies LOGGING again (django.setup(), gunicorn) would drop it.
LOGGING["handlers"]["error_events"] = {"()": "helpdesk.monitoring.errors.server.ErrorEventHandler"}
LOGGING["root"]["handlers"].append("error_events")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "helpdesk@localhost")

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The health endpoints must answer plain HTTP probes from inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^health/"]
    # Alertmanager posts to its webhook receiver over the internal network, with a Bearer token.
    SECURE_REDIRECT_EXEMPT += [r"^api/v1/monitoring/alerts/alertmanager/$"]
    # Prometheus scrapes /metrics over the internal network with a Bearer token.
    SECURE_REDIRECT_EXEMPT += [r"^metrics$"]

# Security monitoring (helpdesk.monitoring.security, docs/security-monitoring.md).
# The lockout gate runs before the password check of every login (session, admin, token).
AUTHENTICATION_BACKENDS = [
    "helpdesk.monitoring.security.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SECURITY_LOGIN_FAILURE_LIMIT = env_int("SECURITY_LOGIN_FAILURE_LIMIT", 5, minimum=1)
SECURITY_LOGIN_FAILURE_WINDOW = env_int("SECURITY_LOGIN_FAILURE_WINDOW", 300, minimum=1)
SECURITY_LOCKOUT_SECONDS = env_int("SECURITY_LOCKOUT_SECONDS", 900, minimum=1)
SECURITY_LOCKOUT_PROGRESSIVE = env_bool("SECURITY_LOCKOUT_PROGRESSIVE", False)
SECURITY_LOCKOUT_MAX_SECONDS = env_int("SECURITY_LOCKOUT_MAX_SECONDS", 24 * 3600, minimum=1)
# A correct password from an IP without recent failures still opens a locked account.
SECURITY_LOCKOUT_ALLOW_CLEAN_IP = env_bool("SECURITY_LOCKOUT_ALLOW_CLEAN_IP", True)
# While the shared cache fails, lockout counts per process and tries it again this often.
SECURITY_CACHE_RETRY_SECONDS = env_float("SECURITY_CACHE_RETRY_SECONDS", 30.0)
SECURITY_RATE_LIMIT_PER_MINUTE = env_int("SECURITY_RATE_LIMIT_PER_MINUTE", 100, minimum=1)
# Route groups answered 429 over the limit (auth, admin, api, other); the others are counted.
SECURITY_THROTTLE_GROUPS = env_list("SECURITY_THROTTLE_GROUPS", ["auth"])
SECURITY_404_LIMIT_PER_MINUTE = env_int("SECURITY_404_LIMIT_PER_MINUTE", 30, minimum=1)
SECURITY_EVENT_RETENTION_DAYS = env_int("SECURITY_EVENT_RETENTION_DAYS", 180, minimum=1)
# TLS certificate probe (run by the worker): HOST[:PORT] list, interval, timeout, CA file.
# Its "expiring" limits are the TLS alerts' (ALERT_THRESHOLDS, docs/alerting.md).
SECURITY_TLS_HOSTS = env_list("SECURITY_TLS_HOSTS")
SECURITY_TLS_INTERVAL_SECONDS = env_float("SECURITY_TLS_INTERVAL_SECONDS", 6 * 3600.0)
SECURITY_TLS_TIMEOUT_SECONDS = env_float("SECURITY_TLS_TIMEOUT_SECONDS", 10.0)
SECURITY_TLS_CA_FILE = env_str("SECURITY_TLS_CA_FILE")
# Content-Security-Policy of our HTML pages (admin, API browser, API docs); empty: none.
SECURITY_CSP = env_str(
    "SECURITY_CSP",
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'",
)


# Prometheus metrics (helpdesk.monitoring.metrics, docs/metrics.md). /metrics takes
# `Authorization: Bearer $METRICS_TOKEN` (or MONITORING_API_TOKEN, or a staff session) or a
# client address in METRICS_ALLOWED_NETWORKS. The embedded default generates the token into
# DATA_DIR (printed by `helpdesk start`); production never generates one.
METRICS_TOKEN = env_str("METRICS_TOKEN") or (
    _embedded.secret("metrics_token", 32) if _embedded else ""
)
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS")
SLOW_REQUEST_SECONDS = env_float("SLOW_REQUEST_SECONDS", 1.0)
METRICS_TOP_ORGANIZATIONS = env_int("METRICS_TOP_ORGANIZATIONS", 20, minimum=1)
METRICS_BUSINESS_CACHE_SECONDS = env_float("METRICS_BUSINESS_CACHE_SECONDS", 30.0)

# Browser monitoring (helpdesk.monitoring.browser, docs/browser-monitoring.md): the analytics
# endpoints the browser SDK and the spec's performanceMonitoring.ts post to.
# Label allowlists: page routes (declared data-route values or Django route templates) and
# interaction names; anything else is recorded as "other". Pages that declare no route are
# resolved to their Django route template, the first BROWSER_RESOLVED_ROUTES of them kept
# (shared slots in the cache). Their product bounds the series (helpdesk.checks refuses
# settings that could pass 5 000 browser series).
BROWSER_ROUTES = env_list("BROWSER_ROUTES")
BROWSER_RESOLVED_ROUTES = env_int("BROWSER_RESOLVED_ROUTES", 10, minimum=0)
BROWSER_ACTIONS = env_list("BROWSER_ACTIONS")
BROWSER_ROUTE_SET = frozenset(BROWSER_ROUTES)
BROWSER_ACTION_SET = frozenset(BROWSER_ACTIONS)
# Origins (scheme://host[:port]) of other sites whose pages may report; the site's own always may.
BROWSER_ALLOWED_ORIGINS = env_list("BROWSER_ALLOWED_ORIGINS")
BROWSER_RATE_LIMIT_PER_MINUTE = env_int("BROWSER_RATE_LIMIT_PER_MINUTE", 300, minimum=1)
BROWSER_MAX_BODY_BYTES = env_int("BROWSER_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
BROWSER_MAX_BATCH_AGE_SECONDS = env_float("BROWSER_MAX_BATCH_AGE_SECONDS", 300.0)

# Error tracking (helpdesk.monitoring.errors, docs/error-tracking.md): Sentry-compatible
# ingestion at /api/<project_id>/envelope/ and /store/, issues, sampled events.
ERRORS_MAX_EVENT_BYTES = env_int("ERRORS_MAX_EVENT_BYTES", 1024 * 1024, minimum=1024)
ERRORS_MAX_DECOMPRESSED_BYTES = env_int(
    "ERRORS_MAX_DECOMPRESSED_BYTES", 4 * 1024 * 1024, minimum=ERRORS_MAX_EVENT_BYTES
)
# Events kept per issue per hour (counts stay exact); 0 keeps none.
ERRORS_SAMPLES_PER_HOUR = env_int("ERRORS_SAMPLES_PER_HOUR", 5, minimum=0)
ERRORS_RETENTION_DAYS = env_int("ERRORS_RETENTION_DAYS", 30, minimum=1)
# Requests per minute accepted per project (a project can set its own); 0: no limit.
ERRORS_RATE_LIMIT_PER_MINUTE = env_int("ERRORS_RATE_LIMIT_PER_MINUTE", 6000, minimum=0)
# Unhandled view exceptions and ERROR records with exc_info become platform-project events.
ERRORS_CAPTURE_SERVER = env_bool("ERRORS_CAPTURE_SERVER", True)
# The envelope endpoint answers once an event is accepted; a background thread per process
# writes the events in batches at least this often (0: write in the request).
ERRORS_WRITE_BEHIND_SECONDS = env_float("ERRORS_WRITE_BEHIND_SECONDS", 0.2)
ERRORS_WRITE_BEHIND_BATCH = env_int("ERRORS_WRITE_BEHIND_BATCH", 500, minimum=1)
# Projects (keys, origins, limits) are cached per process this long; a key rotated in one
# process is refused by the others within it.
ERRORS_PROJECT_CACHE_SECONDS = env_float("ERRORS_PROJECT_CACHE_SECONDS", 5.0)
