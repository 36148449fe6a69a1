"""What the Veriff and Onfido adapters share: one HTTP call with the error mapping,
HMAC helpers, and the split of a full name into the two fields both providers ask for.

Error mapping of `send_json`:

- timeouts, connection errors, 429, 5xx, redirects and unreadable bodies:
  `KycProviderUnavailable` (worth retrying later);
- any other 4xx: `KycProviderRejected` (our credentials, configuration or input
  are wrong, so the same request would fail again).

Log lines carry the provider, the operation, the HTTP status and the provider's
error code only: never headers (they hold the credentials), bodies (names,
emails, document data) or the provider's error message (it may echo input).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from mindlinks.kyc.providers.base import KycProviderRejected, KycProviderUnavailable

log = structlog.get_logger(__name__)

USER_AGENT = "mindlinks/0.1"


class HttpProviderClient:
    """The HTTP client a real adapter talks through: one it was given (tests pass a
    mock transport) or one of its own with the provider timeout and no redirects,
    which `close` releases."""

    def __init__(self, timeout: float, client: httpx.Client | None) -> None:
        self.timeout = timeout
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def send_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    provider: str,
    operation: str,
    headers: Mapping[str, str],
    timeout: float,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send one request and answer the JSON object the provider returned."""
    bound = log.bind(provider=provider, operation=operation)
    try:
        response = client.request(
            method,
            url,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **headers},
            json=body,
            timeout=timeout,
        )
    except httpx.TimeoutException as exc:
        bound.warning("kyc_provider_timeout")
        raise KycProviderUnavailable(f"{provider} did not answer in time") from exc
    except httpx.HTTPError as exc:
        bound.warning("kyc_provider_unreachable", error=type(exc).__name__)
        raise KycProviderUnavailable(f"{provider} could not be reached") from exc

    status = response.status_code
    if status == 429 or not 200 <= status < 500:
        bound.warning("kyc_provider_error", http_status=status)
        raise KycProviderUnavailable(f"{provider} answered {status}")
    if status >= 400:
        error_code = _error_code(response)
        if status in (401, 403):
            bound.error("kyc_provider_credentials_refused", http_status=status)
        else:
            bound.warning("kyc_provider_rejected", http_status=status, error_code=error_code)
        suffix = f" ({error_code})" if error_code else ""
        raise KycProviderRejected(
            f"{provider} refused the {operation} request with {status}{suffix}",
            status_code=status,
        )
    try:
        answer = response.json()
    except ValueError as exc:
        bound.warning("kyc_provider_bad_body", http_status=status)
        raise KycProviderUnavailable(f"{provider} answered an unreadable body") from exc
    if not isinstance(answer, dict):
        bound.warning("kyc_provider_bad_body", http_status=status)
        raise KycProviderUnavailable(f"{provider} answered an unreadable body")
    return answer


def _error_code(response: httpx.Response) -> str | None:
    """The provider's machine-readable error code: Onfido `error.type`, Veriff `code`."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    code = error.get("type") if isinstance(error, dict) else body.get("code")
    if isinstance(code, str | int) and not isinstance(code, bool):
        return str(code)[:64]
    return None


def hmac_sha256_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def same_secret(expected: str, given: str) -> bool:
    """Constant-time equality on bytes: `compare_digest` refuses non-ASCII `str`."""
    return hmac.compare_digest(expected.encode(), given.encode())


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; callers may hand over a plain dict."""
    return {key.lower(): value for key, value in headers.items()}


# Lowercase words that belong to the surname that follows them ("van Beethoven",
# "de la Cruz"), so they stay with it when a full name is split.
_SURNAME_PARTICLES = frozenset(
    [
        "al",
        "bin",
        "da",
        "das",
        "de",
        "del",
        "della",
        "der",
        "di",
        "do",
        "dos",
        "du",
        "el",
        "ibn",
        "la",
        "le",
        "los",
        "ten",
        "ter",
        "van",
        "von",
        "y",
        "zu",
    ]
)


def split_full_name(full_name: str) -> tuple[str, str]:
    """Split a full name into (given names, surname).

    "Surname, Given Names" is honoured. Otherwise the last word is the surname,
    together with the lowercase particles before it. A single word is returned
    as the given name with an empty surname; callers decide what their provider
    accepts.
    """
    name = " ".join(full_name.split())
    if "," in name:
        before, _, after = name.partition(",")
        surname, given = before.strip(), after.strip()
        if surname and given:
            return given, surname
        name = surname or given
    words = name.split(" ") if name else []
    if len(words) < 2:
        return (words[0] if words else ""), ""
    start = len(words) - 1
    while start > 1 and words[start - 1] in _SURNAME_PARTICLES:
        start -= 1
    return " ".join(words[:start]), " ".join(words[start:])
