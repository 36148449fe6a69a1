from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DevMailboxItem(BaseModel):
    id: str
    to: str
    subject: str
    text: str
    html: str
    sent_at: datetime


class NotificationOut(BaseModel):
    id: str
    kind: str = Field(description="What happened, e.g. `contract.sent`")
    title: str
    body: str
    link: str | None = Field(description="Where to look: a path on this site or an absolute URL")
    created_at: datetime
    read: bool
    read_at: datetime | None
