"""Web chat: the site widget's publishable key, visitor tokens, and the connector.

There is no external provider: a visitor's message enters the inbox like any channel's
(``InboundMessage``, channel ``chat``), and Luddy's answer is "sent" by storing it on the
thread, where the widget's SSE stream picks it up.
"""

from .connector import PROVIDER, WebchatConnector, inbound_message
from .tokens import (
    Visitor,
    issue_visitor_token,
    new_publishable_key,
    origin_allowed,
    read_visitor_token,
    tenant_of_key,
    verify_visitor_token,
)

__all__ = [
    "PROVIDER",
    "Visitor",
    "WebchatConnector",
    "inbound_message",
    "issue_visitor_token",
    "new_publishable_key",
    "origin_allowed",
    "read_visitor_token",
    "tenant_of_key",
    "verify_visitor_token",
]
