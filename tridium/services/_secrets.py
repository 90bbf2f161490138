"""Passwords of the embedded Postgres roles, generated once per data dir.

They live in ``<data_dir>/secrets.json`` (mode 0600), under a ``"postgres"`` section so
other generated local secrets can join the file later::

    {"postgres": {"postgres": "...", "tridium_owner": "...", "tridium_app": "...",
                  "tridium_relay": "..."}}

The file is the source of truth: ``EmbeddedPostgres.start()`` sets these passwords on the
roles every time, so deleting the file rotates them on the next start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ._common import ServiceError

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
OWNER_ROLE = "tridium_owner"
APP_ROLE = "tridium_app"
RELAY_ROLE = "tridium_relay"
ROLES = (SUPERUSER, OWNER_ROLE, APP_ROLE, RELAY_ROLE)
_SECTION = "postgres"


@dataclass(frozen=True, slots=True)
class PostgresSecrets:
    """Login passwords of the embedded Postgres roles. ``SecretStr`` so they never print."""

    postgres: SecretStr
    tridium_owner: SecretStr
    tridium_app: SecretStr
    tridium_relay: SecretStr

    def password(self, role: str) -> str:
        """The clear-text password of ``role`` (one of ``ROLES``)."""
        if role not in ROLES:
            raise KeyError(f"no generated password for role {role!r}")
        secret: SecretStr = getattr(self, role)
        return secret.get_secret_value()


def load_or_create(path: Path) -> PostgresSecrets:
    """Read the passwords, generating (and persisting) any that are missing."""
    while True:
        document = _read(path)
        section = document.setdefault(_SECTION, {})
        missing = [role for role in ROLES if not section.get(role)]
        if not missing:
            return PostgresSecrets(**{role: SecretStr(section[role]) for role in ROLES})
        section.update({role: secrets.token_urlsafe(32) for role in missing})
        if _write(path, document, replace=path.exists()):
            log.info("generated passwords for %s in %s", ", ".join(missing), path)
        # else: another process created the file first; read its passwords instead.


def _read(path: Path) -> dict[str, Any]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & 0o077:
        log.warning("%s was readable by others; restricting it to mode 0600", path)
        path.chmod(0o600)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {path}: {exc}. Fix or delete it to rotate passwords.") from exc
    if not isinstance(document, dict) or not isinstance(document.get(_SECTION, {}), dict):
        raise ServiceError(f"{path} is not a secrets file. Fix or delete it to rotate passwords.")
    return document


def _write(path: Path, document: dict[str, Any], *, replace: bool) -> bool:
    """Write atomically with mode 0600 from the first byte. When creating, a hard link
    makes "create if absent" atomic, so two first starts cannot hand out two passwords."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
