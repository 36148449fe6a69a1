"""Which blob keys are acceptable: the same rule for every store.

Keys are made by our code (e.g. `kyc/<session id>/document-front`), never taken from
a request, so a bad key is a programming error (`InvalidBlobKey`, a ValueError).
The rule still refuses anything that could leave the store's folder or be read two
ways: segments of letters, digits, `.`, `_`, `-` that start with a letter or digit
(so no `..`, no empty or hidden segments), joined by `/`, no leading `/`.
"""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 512
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")


class InvalidBlobKey(ValueError):
    """A blob key that is empty, too long, absolute, or escapes its folder."""


def check_blob_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(f"blob key must be 1..{MAX_KEY_LENGTH} characters")
    if not _KEY.fullmatch(key):
        raise InvalidBlobKey(f"blob key {key!r} has a forbidden character or segment")
    return key
