"""Password hashing (argon2id) and the NIST SP 800-63B acceptance rules.

At least 12 characters, at most 256, no composition rules; refused when it is a
known common password, a run of one character or a simple sequence, or built
from the account's own email or name.
"""

from __future__ import annotations

import itertools
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# A verification against this hash costs the same as a real one, so an unknown
# email and a wrong password take the same time.
_DUMMY_HASH = _hasher.hash("mindlinks-timing-equalizer-password")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def hash_password(password: str) -> str:
    return _hasher.hash(_normalize(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, _normalize(password)) and (
            password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def _normalize(password: str) -> str:
    # SP 800-63B §5.1.1.2: apply NFKC so the same password typed on another
    # keyboard or platform still matches.
    return unicodedata.normalize("NFKC", password)


def _is_sequence(text: str) -> bool:
    """Keyboard-free runs such as "abcdefghijkl" or "123456789012" (digits wrap)."""
    if len(text) < 3:
        return False
    steps = set()
    for a, b in itertools.pairwise(text):
        step = ord(b) - ord(a)
        if a.isdigit() and b.isdigit():
            step = (step + 10) % 10
            step = step - 10 if step > 5 else step
        steps.add(step)
    return len(steps) == 1 and steps.pop() in (-1, 0, 1)


def _is_repeated_unit(text: str) -> bool:
    """ "passwordpassword", "abcabcabcabc": one short unit said again and again."""
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size)
        for size in range(1, len(text) // 2 + 1)
    )


def password_problem(password: str, *, email: str = "", full_name: str = "") -> str | None:
    """Why this password is refused, or None when it is acceptable."""
    normalized = _normalize(password)
    if len(normalized) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(normalized) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    lowered = normalized.lower()
    if lowered in _common_passwords():
        return "is a commonly used password; choose another"
    if len(set(lowered)) <= 2 or _is_sequence(lowered) or _is_repeated_unit(lowered):
        return "is too repetitive or sequential"
    stripped = lowered.rstrip("0123456789!?.")
    if stripped in _common_passwords() and len(stripped) >= 4:
        return "is a common password with a suffix; choose another"
    context = {email.lower(), email.lower().split("@")[0], full_name.lower().replace(" ", "")}
    if any(c and len(c) >= 4 and (lowered == c or c in lowered) for c in context):
        return "must not contain your email or name"
    if "mindlinks" in lowered.replace("-", ""):
        return "must not contain the name of this service"
    return None
