from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "helpdesk.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from helpdesk.accounts import schema  # noqa: F401  (registers the OpenAPI extension)
