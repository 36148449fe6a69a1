"""Email addresses: one normal form, compared case-insensitively everywhere.

Only ASCII addresses are accepted: internationalized addresses allow look-alike
characters (a Cyrillic letter that looks like a Latin "a", zero-width joiners) that would let two
accounts appear to share one address.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    pass


def normalize_email(raw: str) -> tuple[str, str]:
    """Answer (address as typed, lower-cased form for comparison)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise InvalidEmail("email addresses must not contain control characters")
    candidate = raw.strip(" ")
    if not candidate.isascii():
        raise InvalidEmail("email addresses must use ASCII characters only")
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    return result.normalized, result.normalized.lower()
