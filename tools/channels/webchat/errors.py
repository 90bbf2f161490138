"""Web chat errors: ``WidgetMessageRejected`` 422, ``OriginNotAllowed`` 403."""

from __future__ import annotations

from core.errors import ClientError, Forbidden


class WidgetMessageRejected(ClientError):
    status = 422
    code = "chat_message_rejected"


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"


__all__ = ["OriginNotAllowed", "WidgetMessageRejected"]
