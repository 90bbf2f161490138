"""Instagram's messaging window, checked before we call Meta.

Verified (developers.facebook.com "Send Messages" for the Instagram API with Instagram Login,
and Messenger Platform "Send a Message" for Instagram): a business may message a customer
only after the customer wrote; it has 24 hours from the customer's last message to answer
(``messaging_type: RESPONSE``). Outside that, only a person may answer, up to 7 days after
the customer's last message, with ``messaging_type: MESSAGE_TAG`` and ``tag: HUMAN_AGENT``
(the feature needs App Review and forbids automated use). Text must be under 1000 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InstagramOutsideWindow

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SendMode:
    messaging_type: str  # RESPONSE | MESSAGE_TAG
    tag: str | None = None


def send_mode(last_customer_message_at: datetime | None, now: datetime, *, by_human: bool) -> SendMode:
    """How a message may go out now, or InstagramOutsideWindow saying why it may not."""
    if last_customer_message_at is None:
        raise InstagramOutsideWindow(
            "the customer has never written to this account: Instagram only allows replies",
            details={"window": "none"},
        )
    age = now - last_customer_message_at
    if age <= STANDARD_WINDOW:
        return SendMode("RESPONSE")
    if by_human and age <= HUMAN_AGENT_WINDOW:
        return SendMode("MESSAGE_TAG", "HUMAN_AGENT")
    if by_human:
        raise InstagramOutsideWindow(
            "more than 7 days since the customer's last message: Instagram allows no reply until they write again",
            details={"window": "human_agent_7d", "last_customer_message_at": last_customer_message_at.isoformat()},
        )
    raise InstagramOutsideWindow(
        "more than 24 hours since the customer's last message: only a person may answer now "
        "(HUMAN_AGENT tag, up to 7 days); hand the conversation to a human",
        details={"window": "standard_24h", "last_customer_message_at": last_customer_message_at.isoformat()},
    )


__all__ = ["HUMAN_AGENT_WINDOW", "STANDARD_WINDOW", "SendMode", "send_mode"]
