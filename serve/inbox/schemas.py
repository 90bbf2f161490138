"""Request/response models of the inbox routes (serve/routers/inbox*.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.channels import Button, MediaRef, OutboundPart, TemplateRef

from ..schemas import Channel

ThreadStatus = Literal["bot", "pending_human", "human", "closed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookAck(BaseModel):
    received: bool
    stored: int
    duplicates: int
    ignored: int = Field(description="items for an account id this tenant does not have: acknowledged, not processed")
    ignored_accounts: list[str] = Field(default_factory=list)


class AccountIn(Strict):
    channel: Channel
    provider: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", examples=["whatsapp_cloud"])
    external_id: str = Field(min_length=1, max_length=255, description="WhatsApp phone_number_id, IG account id, …")
    name: str = Field("", max_length=200)
    base_url: str | None = Field(None, pattern=r"^https?://", max_length=500)
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="access_token, app_secret, verify_token, …: stored encrypted, never returned",
    )

    @model_validator(mode="after")
    def _bounded(self) -> AccountIn:
        if len(self.secrets) > 10 or any(len(k) > 40 or len(v) > 4096 for k, v in self.secrets.items()):
            raise ValueError("at most 10 secrets, names up to 40 and values up to 4096 characters")
        return self


class AccountOut(BaseModel):
    id: UUID
    channel: Channel
    provider: str
    external_id: str
    name: str
    base_url: str | None
    config: dict[str, Any]
    secret_hints: dict[str, str] = Field(description="last characters of each secret; secrets are never returned")
    active: bool
    created_at: datetime
    updated_at: datetime
    created: bool | None = None
    webhook_url: str | None = None


class AccountList(BaseModel):
    items: list[AccountOut]


class Conversation(BaseModel):
    id: UUID
    channel: Channel
    channel_account_id: UUID | None
    contact: str
    contact_name: str | None
    lead_id: UUID | None
    status: ThreadStatus
    assignee: str | None
    status_reason: str | None
    handoff_summary: str | None
    unread_count: int
    last_message_at: datetime | None
    last_message_preview: str | None
    created_at: datetime


class ConversationPage(BaseModel):
    items: list[Conversation]
    next_cursor: str | None


class StatusChange(BaseModel):
    id: UUID
    status: ThreadStatus
    previous: ThreadStatus
    assignee: str | None = None


class ReasonIn(Strict):
    reason: str | None = Field(None, max_length=500)


class ReplyIn(Strict):
    """A staff reply: free text (inside the reply window), an approved template, buttons or media."""

    kind: Literal["text", "template", "interactive", "media"] = "text"
    text: str = Field("", max_length=4096)
    template: TemplateRef | None = None
    buttons: list[Button] = Field(default_factory=list, max_length=3)
    media: MediaRef | None = None
    media_kind: Literal["image", "audio", "video", "document", "sticker"] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ReplyIn:
        if self.kind in ("text", "interactive") and not self.text.strip():
            raise ValueError("text is required")
        if self.kind == "template" and self.template is None:
            raise ValueError("template is required")
        if self.kind == "interactive" and not self.buttons:
            raise ValueError("buttons are required")
        if self.kind == "media" and (self.media is None or self.media_kind is None):
            raise ValueError("media and media_kind are required")
        return self

    def part(self) -> OutboundPart:
        return OutboundPart(
            kind=self.kind,
            text=self.text,
            template=self.template,
            buttons=tuple(self.buttons),
            media=self.media,
            media_kind=self.media_kind,
        )


class ReplyOut(BaseModel):
    message_id: UUID
    outbound_id: UUID
    replayed: bool


class NoteIn(Strict):
    body: str = Field(min_length=1, max_length=4000)


class Note(BaseModel):
    id: UUID
    thread_id: UUID
    author: str
    body: str
    created_at: datetime


class NoteList(BaseModel):
    items: list[Note]


__all__ = [
    "AccountIn",
    "AccountList",
    "AccountOut",
    "Conversation",
    "ConversationPage",
    "Note",
    "NoteIn",
    "NoteList",
    "ReasonIn",
    "ReplyIn",
    "ReplyOut",
    "StatusChange",
    "ThreadStatus",
    "WebhookAck",
]
