"""API shapes of the companies module (separate from the tables).

Inputs refuse unknown fields and wrong types (422); the rules on the values
themselves (registration number, country code, email) live in the service so
the HTML forms apply the same ones.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mindlinks.companies.invites import invite_status
from mindlinks.companies.models import Company, Invite

VerificationStatus = Literal["verified", "pending", "rejected"]
InviteStatus = Literal["pending", "accepted", "revoked", "expired"]
Relation = Literal["owner", "member", "contractor"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CompanyIn(StrictModel):
    legal_name: str = Field(max_length=1000, examples=["Acme Widgets Ltd"])
    jurisdiction_code: str = Field(
        max_length=50, description="OpenCorporates jurisdiction, e.g. gb or us_de"
    )
    registration_number: str = Field(
        max_length=100, description="4-20 letters and digits; spaces and hyphens are dropped"
    )
    country: str = Field(max_length=10, description="ISO 3166-1 alpha-2, e.g. GB")


class RegistryOut(BaseModel):
    name: str | None
    status: str | None
    incorporation_date: date | None
    source: str = Field(description="The registry that answered: sandbox or opencorporates")
    found: bool
    registered_address: str | None
    url: str | None
    checked_at: datetime | None


class CompanyOut(BaseModel):
    id: str
    legal_name: str
    verification_status: VerificationStatus
    registry: RegistryOut | None = Field(description="Null until the registry has answered")
    jurisdiction_code: str
    registration_number: str
    country: str
    relation: Relation | None = Field(description="The caller's relation to the company")
    created_at: datetime

    @classmethod
    def of(cls, company: Company, relation: str | None) -> CompanyOut:
        registry = None
        if company.registry_source is not None:
            registry = RegistryOut(
                name=company.registry_name,
                status=company.registry_status,
                incorporation_date=company.registry_incorporation_date,
                source=company.registry_source,
                found=bool(company.registry_found),
                registered_address=company.registry_address,
                url=company.registry_url,
                checked_at=company.registry_checked_at,
            )
        return cls(
            id=company.id,
            legal_name=company.legal_name,
            verification_status=company.verification_status,
            registry=registry,
            jurisdiction_code=company.jurisdiction_code,
            registration_number=company.registration_number,
            country=company.country,
            relation=relation,
            created_at=company.created_at,
        )


class InviteIn(StrictModel):
    email: str = Field(max_length=320)
    full_name: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=2000)


class InviteOut(BaseModel):
    """An invite as its company sees it; the token is never part of it."""

    id: str
    company_id: str
    email: str
    full_name: str | None
    message: str | None
    status: InviteStatus
    expires_at: datetime
    created_at: datetime
    last_sent_at: datetime | None
    accepted_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, invite: Invite) -> InviteOut:
        return cls(
            id=invite.id,
            company_id=invite.company_id,
            email=invite.email,
            full_name=invite.full_name,
            message=invite.message,
            status=invite_status(invite),
            expires_at=invite.expires_at,
            created_at=invite.created_at,
            last_sent_at=invite.last_sent_at,
            accepted_at=invite.accepted_at,
            revoked_at=invite.revoked_at,
        )


class InviteCompanyOut(BaseModel):
    legal_name: str


class InvitePreviewOut(BaseModel):
    company: InviteCompanyOut
    email: str
    full_name: str | None
    status: Literal["pending"]
    expires_at: datetime


class AcceptedCompanyOut(BaseModel):
    id: str
    legal_name: str


class InviteAcceptedOut(BaseModel):
    status: Literal["accepted"] = "accepted"
    company: AcceptedCompanyOut
