"""Instagram messaging: webhook parsing and normalization, the window rules, the send API
connector (``InstagramConnector``). ``sandbox`` is a local server speaking the send API and
sending signed webhooks."""

from .client import (
    DEFAULT_BASE_URL,
    PROVIDER,
    InstagramAccount,
    InstagramClient,
    InstagramConnector,
    OutboundMedia,
    SentMessage,
)
from .errors import InstagramMessageRejected, InstagramOutsideWindow, MalformedInstagramWebhook
from .parse import (
    Attachment,
    InstagramEvent,
    InstagramMessage,
    InstagramReaction,
    InstagramRead,
    ParsedWebhook,
    parse_webhook,
)
from .webhook import authenticate, parse
from .window import HUMAN_AGENT_WINDOW, STANDARD_WINDOW, SendMode, send_mode

__all__ = [
    "DEFAULT_BASE_URL",
    "HUMAN_AGENT_WINDOW",
    "PROVIDER",
    "STANDARD_WINDOW",
    "Attachment",
    "InstagramAccount",
    "InstagramClient",
    "InstagramConnector",
    "InstagramEvent",
    "InstagramMessage",
    "InstagramMessageRejected",
    "InstagramOutsideWindow",
    "InstagramReaction",
    "InstagramRead",
    "MalformedInstagramWebhook",
    "OutboundMedia",
    "ParsedWebhook",
    "SendMode",
    "SentMessage",
    "authenticate",
    "parse",
    "parse_webhook",
    "send_mode",
]
