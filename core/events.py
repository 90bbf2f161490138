"""The event envelope: one frozen model for every event on the bus."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """An event as written to ``event_log`` (the outbox) and published to the stream."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    tenant_id: UUID
    type: str
    payload: dict[str, Any]
    created_at: datetime
    request_id: str | None = None

    def to_stream_fields(self) -> dict[str, str]:
        # ``type`` beside the payload lets a consumer group skip events it does not handle
        # without decoding them (db.bus.StreamConsumer).
        return {"event": self.model_dump_json(), "type": self.type}

    @classmethod
    def from_stream_fields(cls, fields: dict[bytes | str, bytes | str]) -> Event:
        raw = fields.get(b"event", fields.get("event"))
        if raw is None:
            raise ValueError("stream entry has no 'event' field")
        return cls.model_validate_json(raw)


__all__ = ["Event"]
