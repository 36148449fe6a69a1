"""API shapes of the KYC module (separate from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mindlinks.kyc.models import KycSession
from mindlinks.kyc.review import AdminDocumentView, AdminSessionView
from mindlinks.kyc.service import session_status

KycStatus = Literal["created", "submitted", "approved", "declined", "review", "expired"]
Provider = Literal["sandbox", "veriff", "onfido"]


class KycSessionCreatedOut(BaseModel):
    id: str
    provider: Provider
    status: KycStatus
    verification_url: str = Field(description="Where the contractor captures their documents")
    resumed: bool = Field(description="True when the open session was handed back")
    expires_at: datetime
    sdk_token: str | None = Field(
        default=None, description="Onfido's SDK token, for an embedded capture; else null"
    )


class KycSessionOut(BaseModel):
    id: str
    status: KycStatus
    reason: str | None
    provider: Provider
    verification_url: str | None = Field(description="While the session takes a capture")
    created_at: datetime
    expires_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None

    @classmethod
    def of(cls, kyc: KycSession) -> KycSessionOut:
        status = session_status(kyc)
        return cls(
            id=kyc.id,
            status=status,
            reason=kyc.reason,
            provider=kyc.provider,
            verification_url=kyc.verification_url if status == "created" else None,
            created_at=kyc.created_at,
            expires_at=kyc.expires_at,
            submitted_at=kyc.submitted_at,
            decided_at=kyc.decided_at,
        )


class KycReviewItemOut(BaseModel):
    id: str
    user_id: str
    provider: Provider
    status: KycStatus
    reason: str | None
    created_at: datetime
    submitted_at: datetime | None

    @classmethod
    def of(cls, kyc: KycSession) -> KycReviewItemOut:
        return cls(
            id=kyc.id,
            user_id=kyc.user_id,
            provider=kyc.provider,
            status=kyc.status,
            reason=kyc.reason,
            created_at=kyc.created_at,
            submitted_at=kyc.submitted_at,
        )


class KycDocumentOut(BaseModel):
    side: Literal["front", "back", "selfie"]
    content_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    url: str | None = Field(description="Signed, expires in one hour; null once purged")
    purged_at: datetime | None

    @classmethod
    def of(cls, view: AdminDocumentView) -> KycDocumentOut:
        return cls(
            side=view.side,
            content_type=view.content_type,
            size_bytes=view.size_bytes,
            width=view.width,
            height=view.height,
            sha256=view.sha256,
            url=view.url,
            purged_at=view.purged_at,
        )


class AdminKycSessionOut(BaseModel):
    id: str
    user_id: str
    provider: Provider
    provider_reference: str
    status: KycStatus
    reason: str | None
    reason_code: str | None
    provider_status: str | None
    document_number: str | None = Field(description="As the contractor typed it (sandbox)")
    extracted: dict[str, str]
    created_at: datetime
    expires_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    documents: list[KycDocumentOut]
    urls_expire_at: datetime

    @classmethod
    def of(cls, view: AdminSessionView) -> AdminKycSessionOut:
        kyc = view.session
        return cls(
            id=kyc.id,
            user_id=kyc.user_id,
            provider=kyc.provider,
            provider_reference=kyc.provider_reference,
            status=session_status(kyc),
            reason=kyc.reason,
            reason_code=kyc.reason_code,
            provider_status=kyc.provider_status,
            document_number=view.document_number,
            extracted={str(k): str(v) for k, v in (kyc.extracted or {}).items()},
            created_at=kyc.created_at,
            expires_at=kyc.expires_at,
            submitted_at=kyc.submitted_at,
            decided_at=kyc.decided_at,
            decided_by=kyc.decided_by,
            documents=[KycDocumentOut.of(d) for d in view.documents],
            urls_expire_at=view.urls_expire_at,
        )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "declined"]
    reason: str = Field(min_length=1, max_length=1000)


class WebhookAckOut(BaseModel):
    status: Literal["applied", "duplicate", "unknown", "unchanged", "ignored"]
