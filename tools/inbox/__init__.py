"""Luddy's multichannel inbox: the domain service (docs/inbox.md).

- ``inbound``: the entry point webhook routes call (``ingest`` / ``accept``).
- ``accounts`` + ``crypto``: channel accounts with secrets encrypted at rest.
- ``worker``: the ``inbox`` consumer group and the burst-merge scheduler.
- ``outbound``: sending answer parts through a connector with retries and statuses.
- ``handoff``: bot | pending_human | human | closed, staff actions.
"""

from .accounts import account_view, active_accounts, list_accounts, provision, public_view
from .crypto import SecretBox, SecretsUnreadable
from .inbound import INBOX_RECEIVED, Accepted, Authenticate, Parse, accept, ingest

__all__ = [
    "INBOX_RECEIVED",
    "Accepted",
    "Authenticate",
    "Parse",
    "SecretBox",
    "SecretsUnreadable",
    "accept",
    "account_view",
    "active_accounts",
    "ingest",
    "list_accounts",
    "provision",
    "public_view",
]
