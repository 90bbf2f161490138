"""Database: migrations, pools, the tenant transaction helper, and queries per context."""

from .pool import create_pool, principal_tx, tenant_tx

__all__ = ["create_pool", "principal_tx", "tenant_tx"]
