"""Instagram connector errors, on the channel error tree (``tools.channels.errors``).

::

    MalformedWebhook            400 malformed_webhook          (shared) signed, but not a webhook we can read
    OutsideReplyWindow          409 outside_reply_window
    └── InstagramOutsideWindow  409 outside_reply_window       24 h for Luddy, 7 d (HUMAN_AGENT) for a person
    ClientError
    └── InstagramMessageRejected 422 instagram_message_rejected too long, empty, unsupported attachment
    MediaTooLarge               413 media_too_large            (shared) over Meta's media limits
    ChannelSendError            502/503 channel_send_failed    (shared) Meta answered an error
"""

from __future__ import annotations

from core.errors import ClientError

from ..errors import MalformedWebhook, OutsideReplyWindow

MalformedInstagramWebhook = MalformedWebhook


class InstagramOutsideWindow(OutsideReplyWindow):
    pass


class InstagramMessageRejected(ClientError):
    status = 422
    code = "instagram_message_rejected"


__all__ = ["InstagramMessageRejected", "InstagramOutsideWindow", "MalformedInstagramWebhook"]
