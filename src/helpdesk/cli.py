"""The ``helpdesk`` command: Django's management commands plus the embedded runner.

``helpdesk start`` prepares the embedded default (migrations, demo data, admin, static files),
prints the URLs and runs every process of the Procfile under honcho until Ctrl-C.
``helpdesk serve`` runs the production web server (gunicorn). Anything else is passed to
Django's manage.py machinery, e.g. ``helpdesk migrate`` or ``helpdesk createsuperuser``.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

PROCFILE = Path(__file__).with_name("Procfile")


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()


def _checked() -> bool:
    """Run the system checks (``--deploy`` ones too in production); print and return False on
    an error, so a misconfigured instance stops before it serves anything."""
    _setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:
        # The report goes to stderr: stdout carries the JSON log lines a shipper reads.
        call_command("check", deploy=settings.PRODUCTION, fail_level="ERROR", stdout=sys.stderr)
    except SystemCheckError as error:
        print(error, file=sys.stderr)
        return False
    return True


def start() -> int:
    """Prepare the embedded default and run web server and worker together."""
    if not _checked():
        return 1
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("seed_demo")
    call_command("bootstrap_admin")
    call_command("probe_account")
    from helpdesk.monitoring.errors.server import platform_project
    from helpdesk.monitoring.metrics import multiprocess

    # Web workers and the background worker share the metrics folder: empty it once, here.
    metrics_dir = multiprocess.prepare(multiprocess.folder(settings.DATA_DIR), wipe=True)
    os.environ[multiprocess.ENV] = metrics_dir
    os.environ["HELPDESK_METRICS_DIR_PREPARED"] = metrics_dir
    port = settings.PORT
    base = f"http://127.0.0.1:{port}"
    print(
        "\nHelpdesk Platform is starting (Ctrl-C stops everything):\n"
        f"  Console      {base}/monitoring/ (staff; charts fill after a minute of traffic)\n"
        f"  API          {base}/api/v1/tickets/\n"
        f"  API docs     {base}/api/v1/docs/\n"
        f"  Admin        {base}/admin/\n"
        f"  DB stats     {base}/api/v1/monitoring/database/ (staff) or `helpdesk db-stats`\n"
        f"  System       {base}/api/v1/monitoring/system/ (staff) or `helpdesk system-check`\n"
        f"  Alerts       {base}/api/v1/monitoring/alerts/ (staff)\n"
        f"  SLOs         {base}/api/v1/monitoring/slo/ (staff) or `helpdesk slo report`\n"
        f"  Health       {base}/health/live  {base}/health/ready  {base}/health/ (details: staff)\n"
        f"  Metrics      {base}/metrics  (Authorization: Bearer {settings.METRICS_TOKEN})\n"
        f"  Errors DSN   {platform_project().dsn(base)}\n"
        f"  Error issues {base}/api/v1/monitoring/errors/issues/ (staff)\n"
        f"  Database     {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}\n"
        f"  Cache        {'redis' if settings.REDIS_URL else 'local memory (per process)'}\n"
        "  Get a token  curl -s -X POST "
        f"{base}/api/v1/auth/token/ -H 'Content-Type: application/json' "
        '-d \'{"username": "admin", "password": "..."}\'\n',
        flush=True,
    )
    # honcho gives each process its own PORT (the worker's is the web's + 100): the probes
    # must call the web server's.
    os.environ.setdefault("PROBE_BASE_URL", base)
    # The Procfile names our console scripts: make the environment's bin folder win.
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    honcho = shutil.which("honcho", path=bindir) or "honcho"
    os.execv(honcho, [honcho, "--no-prefix", "start", "-f", str(PROCFILE)])  # noqa: S606
    return 0  # pragma: no cover - execv does not return


def serve() -> int:
    """Run gunicorn with the project's configuration (helpdesk/gunicorn_conf.py)."""
    if not _checked():
        return 1
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    args = [gunicorn, "--config", f"python:{__package__}.gunicorn_conf", "helpdesk.wsgi"]
    os.execv(gunicorn, args)  # noqa: S606
    return 0  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``helpdesk <command> [args]``."""
    argv = list(sys.argv if argv is None else argv)
    command = argv[1] if len(argv) > 1 else "help"
    from helpdesk.monitoring.metrics import multiprocess

    # prometheus_client writes to the folder from the first metric any command creates, and
    # fails on one that does not exist: make it (start and serve also empty it).
    if os.environ.get(multiprocess.ENV):
        multiprocess.prepare(os.environ[multiprocess.ENV], wipe=False)
    if command == "start":
        return start()
    if command == "serve":
        return serve()
    if command == "healthcheck":
        from helpdesk.monitoring.health.cli import main as healthcheck

        return healthcheck(argv[2:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    from django.core.management import execute_from_command_line

    if os.environ.get(multiprocess.ENV):
        # A command run beside the server (migrate, the worker, a shell) writes its files into
        # the folder the web workers share: at exit they go into the archive, as a dead web
        # worker's do, instead of lying there until the next server start.
        atexit.register(multiprocess.worker_exited, os.getpid())

    # Commands are spelled with dashes (`helpdesk db-stats`); their modules use underscores.
    name = command if command.startswith("-") else command.replace("-", "_")
    execute_from_command_line(["helpdesk", name, *argv[2:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
