"""E-mail threading (RFC 5322 §3.6.4), both ways.

Inbound: a reply names its parent in ``In-Reply-To`` and the whole chain in ``References``;
we look the thread up by those ids, nearest first. Outbound: our answer gets a fresh
``Message-ID``, ``In-Reply-To: <the customer's message>`` and ``References: <their
References> <their Message-ID>`` (trimmed to the first and the last ids when long, as the
RFC allows), and a subject with one ``Re:``; Gmail, Outlook and Apple Mail then show it in
the same conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import make_msgid

from .mime import InboundEmail

MAX_REFERENCES = 20
_RE = re.compile(r"^\s*((re|res|aw|sv|fw|fwd|enc)\s*:\s*)+", re.I)


def lookup_ids(email: InboundEmail) -> tuple[str, ...]:
    """The ids to find this e-mail's thread by, nearest ancestor first."""
    ids: list[str] = []
    if email.in_reply_to:
        ids.append(email.in_reply_to)
    ids.extend(reversed(email.references))
    return tuple(dict.fromkeys(ids))


@dataclass(frozen=True, slots=True)
class ReplyHeaders:
    message_id: str
    in_reply_to: str
    references: str
    subject: str


def reply_subject(subject: str) -> str:
    base = _RE.sub("", subject).strip()
    return f"Re: {base}" if base else "Re:"


def reply_headers(
    parent_message_id: str, parent_references: tuple[str, ...], subject: str, *, domain: str
) -> ReplyHeaders:
    """Headers that thread our answer under ``parent_message_id`` in the customer's client."""
    chain = list(dict.fromkeys([*parent_references, parent_message_id]))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return ReplyHeaders(
        message_id=make_msgid(domain=domain),
        in_reply_to=parent_message_id,
        references=" ".join(chain),
        subject=reply_subject(subject),
    )


__all__ = ["ReplyHeaders", "lookup_ids", "reply_headers", "reply_subject"]
