"""Instagram messaging: webhook parsing, the window rules and the send API connector.

``sandbox`` is a local server speaking the send API and sending signed webhooks.
"""

from .client import DEFAULT_BASE_URL, InstagramAccount, InstagramClient, OutboundMedia, SentMessage
from .errors import InstagramMessageRejected, InstagramOutsideWindow, InstagramSendFailed, MalformedInstagramWebhook
from .parse import (
    Attachment,
    InstagramEvent,
    InstagramMessage,
    InstagramReaction,
    InstagramRead,
    ParsedWebhook,
    account_ids,
    load_body,
    parse_webhook,
)
from .window import HUMAN_AGENT_WINDOW, STANDARD_WINDOW, SendMode, send_mode

__all__ = [
    "DEFAULT_BASE_URL",
    "HUMAN_AGENT_WINDOW",
    "STANDARD_WINDOW",
    "Attachment",
    "InstagramAccount",
    "InstagramClient",
    "InstagramEvent",
    "InstagramMessage",
    "InstagramMessageRejected",
    "InstagramOutsideWindow",
    "InstagramRead",
    "InstagramReaction",
    "InstagramSendFailed",
    "MalformedInstagramWebhook",
    "OutboundMedia",
    "ParsedWebhook",
    "SendMode",
    "SentMessage",
    "account_ids",
    "load_body",
    "parse_webhook",
    "send_mode",
]
