"""Normal forms and rules for the fields of a company registration.

Kept apart from the Pydantic schemas so the JSON API and the HTML forms refuse
exactly the same input, with the same per-field messages.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mindlinks.platform.errors import InvalidFields

# Every officially assigned ISO 3166-1 alpha-2 code (249). User-assigned codes
# such as XK (Kosovo) and exceptional reservations such as UK or EU are not
# country codes and are refused.
_ASSIGNED_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
"""
ISO_3166_ALPHA2: frozenset[str] = frozenset(_ASSIGNED_CODES.split())

_JURISDICTION_RE = re.compile(r"[a-z_]{2,10}")
_NUMBER_RE = re.compile(r"[A-Z0-9]{4,20}")
LEGAL_NAME_MAX = 200


@dataclass(frozen=True)
class CompanyFields:
    legal_name: str
    jurisdiction_code: str
    registration_number: str
    country: str


def normalize_registration_number(raw: str) -> str:
    """Drop spaces and hyphens, upper-case: `"sc-123 456"` → `"SC123456"`."""
    return raw.replace(" ", "").replace("-", "").upper()


def _legal_name_problem(name: str) -> str | None:
    if not name:
        return "must not be blank"
    if len(name) > LEGAL_NAME_MAX:
        return f"must be at most {LEGAL_NAME_MAX} characters"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "must not contain control or invisible characters"
    return None


def validate_company_fields(
    *, legal_name: str, jurisdiction_code: str, registration_number: str, country: str
) -> CompanyFields:
    """The normalized fields, or `InvalidFields` (422) naming every bad one."""
    errors: list[dict[str, str]] = []
    name = " ".join(legal_name.split())
    if problem := _legal_name_problem(name):
        errors.append({"field": "legal_name", "message": problem})
    jurisdiction = jurisdiction_code.strip().lower()
    if not _JURISDICTION_RE.fullmatch(jurisdiction):
        errors.append(
            {
                "field": "jurisdiction_code",
                "message": "must be 2-10 lowercase letters or underscores, like gb or us_de",
            }
        )
    number = normalize_registration_number(registration_number)
    if not (number.isascii() and _NUMBER_RE.fullmatch(number)):
        errors.append(
            {
                "field": "registration_number",
                "message": "must be 4-20 letters and digits (spaces and hyphens are ignored)",
            }
        )
    code = country.strip().upper()
    if code not in ISO_3166_ALPHA2:
        errors.append(
            {
                "field": "country",
                "message": "must be an ISO 3166-1 alpha-2 country code, like GB or DE",
            }
        )
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise InvalidFields(detail, errors=errors)
    return CompanyFields(name, jurisdiction, number, code)
