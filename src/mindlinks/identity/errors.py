from __future__ import annotations

from mindlinks.platform.errors import Conflict, Forbidden, Gone, NotAuthenticated, NotFound


class EmailNotVerified(Forbidden):
    slug = "email-not-verified"
    title = "Verify your email address first"


class EmailTaken(Conflict):
    slug = "email-taken"
    title = "An account with this email already exists"


class EmailAlreadyVerified(Conflict):
    slug = "email-already-verified"
    title = "This email address is already verified"


class InvalidCredentials(NotAuthenticated):
    slug = "invalid-credentials"
    title = "Email or password is incorrect"


class InvalidToken(NotAuthenticated):
    slug = "invalid-token"
    title = "The token is invalid, expired or revoked"


class VerificationTokenNotFound(NotFound):
    slug = "verification-token-not-found"
    title = "Unknown verification token"


class VerificationTokenGone(Gone):
    slug = "verification-token-gone"
    title = "The verification link has expired or was already used"
