"""Channel connectors of the inbox (WhatsApp, Instagram, e-mail, web chat).

The shared vocabulary (``models``), the connector protocol (``base``) and errors live
here; each provider has its own package (``whatsapp/``, and Meta's shared bits in
``meta/``) with a sandbox server. The inbox service is ``tools.inbox``.
"""

from .base import AccountView, ChannelConnector, ConnectorRegistry, SendResult, WindowState
from .errors import ChannelNotConfigured, ChannelSendError, MalformedWebhook, MediaTooLarge, OutsideReplyWindow
from .models import (
    CHANNELS,
    STATUS_RANK,
    AdReferral,
    Button,
    Channel,
    ContactIdentity,
    ContentType,
    DeliveryStatus,
    InboundBatch,
    InboundMessage,
    MediaRef,
    OutboundPart,
    StatusUpdate,
    TemplateRef,
    e164,
)

__all__ = [
    "CHANNELS",
    "STATUS_RANK",
    "AccountView",
    "AdReferral",
    "Button",
    "Channel",
    "ChannelConnector",
    "ChannelNotConfigured",
    "ChannelSendError",
    "ConnectorRegistry",
    "ContactIdentity",
    "ContentType",
    "DeliveryStatus",
    "InboundBatch",
    "InboundMessage",
    "MalformedWebhook",
    "MediaRef",
    "MediaTooLarge",
    "OutboundPart",
    "OutsideReplyWindow",
    "SendResult",
    "StatusUpdate",
    "TemplateRef",
    "WindowState",
    "e164",
]
