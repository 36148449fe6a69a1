"""Accounts, email verification, sign-in and token rotation.

Functions take the request's session, flush, and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.config import Settings
from mindlinks.identity.errors import (
    EmailAlreadyVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    VerificationTokenGone,
    VerificationTokenNotFound,
)
from mindlinks.identity.models import EmailVerificationToken, RefreshToken, TokenFamily, User
from mindlinks.identity.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from mindlinks.identity.tokens import issue_access_token
from mindlinks.jobs.service import enqueue
from mindlinks.platform.clock import now
from mindlinks.platform.emails import InvalidEmail, normalize_email
from mindlinks.platform.errors import InvalidFields, InvalidInput
from mindlinks.platform.hashing import token_hash
from mindlinks.platform.ids import new_token
from mindlinks.platform.keys import SigningKey
from mindlinks.platform.ratelimit import RateLimiter

SELF_SERVICE_ROLES = ("client", "contractor")

log = structlog.get_logger(__name__)


class RefreshTokenReused(InvalidToken):
    """A rotated refresh token came back: someone holds a copy. The family is
    revoked, and that revocation must commit even though the call fails."""

    slug = "refresh-token-reused"
    commit_before_raise = True


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def find_user_by_email(session: Session, email: str) -> User | None:
    try:
        _, normalized = normalize_email(email)
    except InvalidEmail:
        return None
    return session.scalar(select(User).where(User.email_normalized == normalized))


def validate_new_account(
    email: str, password: str, full_name: str, role: str, *, allowed_roles: tuple[str, ...]
) -> tuple[str, str]:
    errors: list[dict[str, str]] = []
    display = normalized = ""
    try:
        display, normalized = normalize_email(email)
    except InvalidEmail as exc:
        errors.append({"field": "email", "message": str(exc)})
    if role not in allowed_roles:
        errors.append({"field": "role", "message": f"must be one of {', '.join(allowed_roles)}"})
    if not full_name.strip():
        errors.append({"field": "full_name", "message": "must not be blank"})
    problem = password_problem(password, email=normalized or email, full_name=full_name)
    if problem:
        errors.append({"field": "password", "message": problem})
    if errors:
        raise InvalidFields(
            "; ".join(f"{e['field']} {e['message']}" for e in errors), errors=errors
        )
    return display, normalized


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    full_name: str,
    role: str,
    verified: bool,
    allowed_roles: tuple[str, ...] = SELF_SERVICE_ROLES,
) -> User:
    display, normalized = validate_new_account(
        email, password, full_name, role, allowed_roles=allowed_roles
    )
    if session.scalar(select(User.id).where(User.email_normalized == normalized)):
        raise EmailTaken("An account with this email already exists.")
    user = User(
        email=display,
        email_normalized=normalized,
        password_hash=hash_password(password),
        full_name=full_name.strip(),
        role=role,
        email_verified_at=now() if verified else None,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailTaken("An account with this email already exists.") from exc
    return user


def queue_verification_email(session: Session, user: User) -> None:
    enqueue(session, "identity.send_verification_email", {"user_id": user.id})


def resend_verification_email(
    session: Session, limiter: RateLimiter, settings: Settings, user: User
) -> None:
    """Queue a fresh verification link (earlier links stay valid until they expire)."""
    if user.email_verified:
        raise EmailAlreadyVerified("Your email address is already verified.")
    limiter.hit(
        settings.rate_limit_verification_resend,
        "verification-resend",
        user.id,
        detail="Too many verification emails were requested; try again later.",
    )
    queue_verification_email(session, user)


def issue_verification_token(session: Session, settings: Settings, user: User) -> str:
    """Create a single-use verification token; only its hash is stored."""
    token = new_token()
    session.add(
        EmailVerificationToken(
            user_id=user.id,
            token_hash=token_hash(token),
            expires_at=now() + timedelta(seconds=settings.email_verification_ttl_seconds),
        )
    )
    session.flush()
    return token


def verify_email(session: Session, token: str) -> User:
    record = session.scalar(
        select(EmailVerificationToken).where(EmailVerificationToken.token_hash == token_hash(token))
    )
    if record is None:
        raise VerificationTokenNotFound("This verification link is not known.")
    if record.used_at is not None or record.expires_at <= now():
        raise VerificationTokenGone("This verification link has expired or was already used.")
    used = session.execute(
        update(EmailVerificationToken)
        .where(EmailVerificationToken.id == record.id, EmailVerificationToken.used_at.is_(None))
        .values(used_at=now())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise VerificationTokenGone("This verification link was already used.")
    user = session.get_one(User, record.user_id)
    if user.email_verified_at is None:
        user.email_verified_at = now()
    session.flush()
    return user


def _stored_hash_outside_transaction(session: Session, email: str) -> tuple[bool, str | None]:
    """(read, hash): the account's password hash read on a connection of its own,
    before `session` begins, when that is possible.

    Argon2 takes ~0.3 s by design; on SQLite every unit of work is `BEGIN IMMEDIATE`,
    so checking it inside the request's transaction would hold the database's only
    write lock (and stall the worker and every other writer) for that long. A
    session already in a transaction, or bound to a connection rather than an
    engine, is read through as before."""
    bind = session.get_bind()
    if session.in_transaction() or not isinstance(bind, Engine):
        return False, None
    try:
        _, normalized = normalize_email(email)
    except InvalidEmail:
        return True, None
    with bind.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        stored = conn.scalar(select(User.password_hash).where(User.email_normalized == normalized))
    return True, stored


def authenticate(session: Session, email: str, password: str) -> User:
    """The user for these credentials; the same error whatever was wrong."""
    read_early, stored = _stored_hash_outside_transaction(session, email)
    if read_early:
        ok = verify_password(stored, password)
        user = find_user_by_email(session, email)
        # The hash checked must still be the account's (a password changed in
        # between fails this login, never passes it).
        ok = ok and user is not None and user.password_hash == stored
    else:
        user = find_user_by_email(session, email)
        ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        raise InvalidCredentials("Email or password is incorrect.")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _new_refresh_token(session: Session, settings: Settings, family_id: str) -> str:
    token = new_token()
    session.add(
        RefreshToken(
            family_id=family_id,
            token_hash=token_hash(token),
            expires_at=now() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    return token


def _pair(
    settings: Settings, key: SigningKey, user: User, family_id: str, refresh: str
) -> TokenPair:
    ttl = settings.access_token_ttl_seconds
    access = issue_access_token(
        key, user_id=user.id, role=user.role, family_id=family_id, ttl_seconds=ttl
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)


def start_session(session: Session, settings: Settings, key: SigningKey, user: User) -> TokenPair:
    family = TokenFamily(user_id=user.id)
    session.add(family)
    session.flush()
    refresh = _new_refresh_token(session, settings, family.id)
    session.flush()
    return _pair(settings, key, user, family.id, refresh)


def revoke_family(session: Session, family_id: str, reason: str) -> None:
    session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now(), revoked_reason=reason)
    )


def rotate_refresh_token(
    session: Session, settings: Settings, key: SigningKey, presented: str
) -> TokenPair:
    record = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash(presented))
    )
    if record is None:
        raise InvalidToken("Unknown refresh token.")
    family = session.get_one(TokenFamily, record.family_id)
    if record.used_at is not None:
        revoke_family(session, family.id, "reuse")
        raise RefreshTokenReused("This refresh token was already used; the session is revoked.")
    if family.revoked_at is not None or record.expires_at <= now():
        raise InvalidToken("The session has ended; sign in again.")
    # Conditional: of two concurrent refreshes with the same token, one wins and
    # the other is treated as reuse.
    spent = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == record.id, RefreshToken.used_at.is_(None))
        .values(used_at=now())
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        revoke_family(session, family.id, "reuse")
        raise RefreshTokenReused("This refresh token was already used; the session is revoked.")
    user = session.get_one(User, family.user_id)
    refresh = _new_refresh_token(session, settings, family.id)
    session.flush()
    return _pair(settings, key, user, family.id, refresh)


def logout(
    session: Session, user_id: str, family_id: str | None, refresh_token: str | None
) -> None:
    """End a sign-in: by the refresh token given, else the access token's family."""
    if refresh_token:
        record = session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token))
        )
        if record is not None:
            family = session.get(TokenFamily, record.family_id)
            if family is not None and family.user_id == user_id:
                family_id = family.id
    if family_id:
        revoke_family(session, family_id, "logout")
    session.flush()


def user_of_active_family(session: Session, family_id: str, user_id: str) -> User | None:
    """The token's user while its sign-in (family) is not revoked; one query per request."""
    return session.scalar(
        select(User)
        .join(TokenFamily, TokenFamily.user_id == User.id)
        .where(
            User.id == user_id,
            TokenFamily.id == family_id,
            TokenFamily.revoked_at.is_(None),
        )
    )


def register_account(
    session: Session,
    *,
    email: str,
    password: str,
    full_name: str,
    role: str,
    invite_token: str | None = None,
) -> User:
    """Self-service registration (API and web pages alike).

    A valid invite for this email proves the address: the account starts
    verified and no verification email is sent (the invite itself is accepted
    by its own call). Otherwise a verification email is queued.
    """
    # companies imports identity, so this import stays local.
    from mindlinks.companies.service import check_invite_for_registration

    validate_new_account(email, password, full_name, role, allowed_roles=SELF_SERVICE_ROLES)
    invited = False
    if invite_token is not None:
        if role != "contractor":
            raise InvalidInput("invite_token", "an invite is for a contractor account")
        _, normalized = normalize_email(email)
        check_invite_for_registration(session, invite_token, normalized)
        invited = True
    user = create_user(
        session, email=email, password=password, full_name=full_name, role=role, verified=invited
    )
    if not invited:
        queue_verification_email(session, user)
    return user


def _login_account_key(email: str) -> str:
    try:
        _, normalized = normalize_email(email)
    except InvalidEmail:
        normalized = email.strip().lower()
    return normalized


def authenticate_rate_limited(
    session: Session,
    limiter: RateLimiter,
    settings: Settings,
    *,
    email: str,
    password: str,
    address: str,
) -> User:
    """`authenticate` under the login rate limits (API and web share the budgets).

    While the failure budget of an account and address is spent, even the right
    password is refused, so guessing cannot continue by watching the answers.
    """
    account = _login_account_key(email)
    limiter.hit(settings.rate_limit_login_attempts, "login-address", address)
    limiter.check(settings.rate_limit_login_failures, "login-failures", account, address)
    try:
        user = authenticate(session, email, password)
    except InvalidCredentials:
        # The email is masked by the logging processor; it is here so that
        # operators can correlate repeated failures without reading it whole.
        log.info("login_failed", email=email, client_address=address)
        limiter.hit(settings.rate_limit_login_failures, "login-failures", account, address)
        raise
    log.info("login_succeeded", user_id=user.id, email=user.email, client_address=address)
    return user


def get_user(session: Session, user_id: str) -> User | None:
    """A user by id, for other modules (they never query the users table themselves)."""
    return session.get(User, user_id)


def users_with_role(session: Session, role: str) -> list[User]:
    """Every account of one role, oldest first (e.g. the admins to notify)."""
    return list(session.scalars(select(User).where(User.role == role).order_by(User.id)))
