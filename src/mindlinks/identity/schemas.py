from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterIn(StrictModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    full_name: str = Field(min_length=1, max_length=200)
    role: str
    invite_token: str | None = Field(default=None, max_length=200)


class UserOut(BaseModel):
    id: str
    email: str
    role: str
    email_verified: bool


class VerifyEmailIn(StrictModel):
    token: str = Field(min_length=1, max_length=200)


class VerifyEmailOut(BaseModel):
    email_verified: Literal[True] = True


class ResendOut(BaseModel):
    status: Literal["queued"] = "queued"


class LoginIn(StrictModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


class RefreshIn(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutIn(StrictModel):
    refresh_token: str | None = Field(default=None, max_length=200)


class MeCompany(BaseModel):
    id: str
    legal_name: str
    relation: Literal["owner", "member", "contractor"]


class MeOut(BaseModel):
    id: str
    email: str
    full_name: str
    role: str
    email_verified: bool
    companies: list[MeCompany]
    kyc_status: str | None
