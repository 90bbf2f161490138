"""A tenant's dunning policy: what happens when one of its payments becomes OVERDUE.

Stored as JSON in ``integrations.dunning_policy`` (snake_case keys, as in the migration's
default) and set through ``POST /admin/integrations/asaas/webhook`` (``dunningPolicy``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DunningPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    follow_up: bool = Field(True, description="publish payment.overdue so Luddy follows up with the customer")
    asaas_dunning: bool = Field(
        False,
        description="also ask Asaas, once per payment, to register the debt with a credit bureau (negativação)",
    )

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> DunningPolicy:
        """The policy as stored; keys we do not know (or no longer use) are ignored."""
        return cls.model_validate(stored or {})


__all__ = ["DunningPolicy"]
