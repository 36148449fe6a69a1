"""API shapes of the signing ceremony (separate from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from mindlinks.contracts.models import Contract
from mindlinks.esign.models import EsignDisclosure

Role = Literal["client", "contractor", "eor"]


class SignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["typed", "drawn"] = Field(
        description="`typed`: the signer's name as they type it; `drawn`: a PNG from a canvas"
    )
    value: str = Field(
        description=(
            "typed: 1-200 characters; drawn: base64 (RFC 4648 §4) of a PNG of at most "
            "1 MB and 4000x2000 pixels, optionally as a `data:image/png;base64,` URL"
        )
    )


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent: StrictBool | None = Field(
        default=None,
        description=(
            "Must be exactly true: the signer accepts the electronic records and "
            "signature disclosure (GET /api/esign/disclosure)"
        ),
        json_schema_extra={"const": True},
    )
    signature: SignatureIn
    disclosure_version: int | None = Field(
        default=None,
        description=(
            "The disclosure version shown to the signer; if given and not the current "
            "one, 422 (show the current text again)"
        ),
    )
    role: Role | None = Field(
        default=None,
        description=(
            "Optional; the caller always signs for their own role. Naming another is 403 "
            "`not-your-role`"
        ),
    )


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Why the party declines")
    role: Role | None = Field(default=None, description="Optional; as for signing")


class DisclosureOut(BaseModel):
    version: int
    sha256: str = Field(description="SHA-256 (hex) of the UTF-8 text")
    text: str = Field(description="The disclosure, in Markdown")
    published_at: datetime

    @classmethod
    def of(cls, disclosure: EsignDisclosure) -> DisclosureOut:
        return cls(
            version=disclosure.version,
            sha256=disclosure.sha256,
            text=disclosure.body,
            published_at=disclosure.published_at,
        )


class AwaitingCountersignatureOut(BaseModel):
    id: str
    title: str
    status: str
    company_id: str
    contractor_id: str
    document_sha256: str | None
    sent_at: datetime | None
    awaiting_since: datetime | None = Field(
        description="When the employer of record's turn began (reminders count from it)"
    )

    @classmethod
    def of(cls, contract: Contract, awaiting_since: datetime | None) -> AwaitingCountersignatureOut:
        return cls(
            id=contract.id,
            title=contract.title,
            status=contract.status,
            company_id=contract.company_id,
            contractor_id=contract.contractor_id,
            document_sha256=contract.document_sha256,
            sent_at=contract.sent_at,
            awaiting_since=awaiting_since,
        )
