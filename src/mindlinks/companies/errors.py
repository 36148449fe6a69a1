"""Errors of the companies module, each named after the rule it enforces."""

from __future__ import annotations

from mindlinks.platform.errors import Conflict, Forbidden, Gone, NotFound


class CompanyNotFound(NotFound):
    """Unknown, or not visible to the caller: the two answer alike."""

    slug = "company-not-found"
    title = "No such company"


class NotCompanyStaff(Forbidden):
    """The caller sees the company (e.g. a linked contractor) but is not its owner or member."""

    slug = "not-company-staff"
    title = "Only the company's owners and members may do this"


class CompanyNotVerified(Conflict):
    slug = "company-not-verified"
    title = "The company has not been verified by the business registry"


class CompanyNotPending(Conflict):
    """Asking the registry again about a company that is already verified or rejected."""

    slug = "company-not-pending"
    title = "The company's registry check is already decided"


class InviteAlreadyPending(Conflict):
    """An address has at most one pending invite per company; resend that one instead."""

    slug = "invite-already-pending"
    title = "This address already has a pending invite"


class ContractorAlreadyLinked(Conflict):
    slug = "contractor-already-linked"
    title = "This person is already linked to the company"


class InviteNotPending(Conflict):
    """Resending or revoking an invite that was already accepted (or revoked)."""

    slug = "invite-not-pending"
    title = "The invite is no longer pending"


class InviteNotFound(NotFound):
    slug = "invite-not-found"
    title = "No such invite"


class InviteGone(Gone):
    """The invite link was used, has expired, or was revoked."""

    slug = "invite-gone"
    title = "This invite has expired, was already used, or was revoked"


class InviteEmailMismatch(Forbidden):
    slug = "invite-email-mismatch"
    title = "This invite is for another email address"
