"""The suite's real PostgreSQL and Redis, when configured (always in CI)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tests.services import require_env, unavailable

pytestmark = pytest.mark.services


@pytest.mark.django_db
def test_it_runs_on_postgresql_when_database_url_points_there() -> None:
    url = require_env("DATABASE_URL")
    if not url.startswith(("postgres://", "postgresql://")):
        unavailable("DATABASE_URL does not point at PostgreSQL")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    assert int(version.split(".")[0]) >= 13


def test_it_uses_redis_as_the_cache_when_redis_url_is_set() -> None:
    require_env("REDIS_URL")
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("helpdesk-test-key", {"a": 1}, 5)
    assert cache.get("helpdesk-test-key") == {"a": 1}
    cache.delete("helpdesk-test-key")
    assert cache.get("helpdesk-test-key") is None
