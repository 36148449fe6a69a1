"""Money: integer minor units of an ISO 4217 currency, never floats.

`CURRENCY_EXPONENTS` is ISO 4217 List One as in force in November 2026: every
active code that denotes money, with its minor unit exponent. Left out on
purpose: codes whose minor unit ISO gives as "N.A." (precious metals XAU XAG
XPT XPD, the bond-market units XBA-XBD, XDR, XSU, XUA) and the testing and
"no currency" codes XTS and XXX, because none of them can be paid out; and
withdrawn codes (HRK 2023, SLL 2024, ZWL 2024 -> ZWG, ANG 2025 -> XCG, BGN 2026
-> EUR, CUC withdrawn from circulation with Cuba's 2021 monetary unification).
Fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) are ISO codes in force
and are kept: CLF and UYW are the ones with four decimals.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

# Exponent per code: amount_minor / 10**exponent is the amount in major units.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
    "BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2,
    "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2,
    "COP": 2, "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2,
    "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2,
    "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2,
    "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3,
    "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2,
    "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2,
    "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2,
    "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2,
    "MXV": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2,
    "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2,
    "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2,
    "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2,
    "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2,
    "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0,
    "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VED": 2, "VES": 2,
    "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0,
    "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip

ACTIVE_CURRENCIES: frozenset[str] = frozenset(CURRENCY_EXPONENTS)

# Larger than any real contract amount, yet far inside a signed 64-bit column even
# when a hundred milestones are summed.
MAX_AMOUNT_MINOR = 10**13


class UnknownCurrency(ValueError):
    """Not an active ISO 4217 code of the table above."""


def is_active_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS


def minor_unit_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise UnknownCurrency(f"{currency!r} is not an active ISO 4217 currency") from None


def format_money(amount_minor: int, currency: str) -> str:
    """`5_000_00, "EUR"` -> `"EUR 5,000.00"`; `5000, "JPY"` -> `"JPY 5,000"`.

    Code first and a plain `,`/`.` grouping, so documents read the same in every
    language a contract may be written in.
    """
    exponent = minor_unit_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    text = f"{major:,}"
    if exponent:
        text += f".{minor:0{exponent}d}"
    return f"{currency} {sign}{text}"


CurrencyCode = Annotated[str, Field(min_length=3, max_length=3, examples=["EUR"])]


class Money(BaseModel):
    """The API's money shape: `{"amount_minor": int, "currency": "EUR"}`."""

    amount_minor: StrictInt = Field(description="Integer minor units of the currency")
    currency: CurrencyCode = Field(description="ISO 4217 code")
