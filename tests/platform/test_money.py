"""ISO 4217 table and money formatting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mindlinks.platform.money import (
    CURRENCY_EXPONENTS,
    UnknownCurrency,
    format_money,
    is_active_currency,
    minor_unit_exponent,
)


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("EUR", 2), ("USD", 2), ("GBP", 2), ("CHF", 2), ("JPY", 0), ("KRW", 0), ("ISK", 0),
     ("KWD", 3), ("BHD", 3), ("TND", 3), ("CLF", 4), ("UYW", 4), ("XCG", 2), ("ZWG", 2)],
)  # fmt: skip
def test_minor_unit_exponents(code: str, exponent: int) -> None:
    assert minor_unit_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "XDR", "HRK", "ZWL", "ANG", "eur", ""])
def test_withdrawn_test_and_non_money_codes_are_not_active(code: str) -> None:
    assert not is_active_currency(code)
    with pytest.raises(UnknownCurrency):
        minor_unit_exponent(code)


def test_every_code_is_three_upper_case_letters_with_a_known_exponent() -> None:
    assert len(CURRENCY_EXPONENTS) > 150
    for code, exponent in CURRENCY_EXPONENTS.items():
        assert len(code) == 3 and code.isascii() and code.isupper()
        assert exponent in (0, 2, 3, 4)


ISO_CODES_JSON = Path("/usr/share/iso-codes/json/iso_4217.json")


@pytest.mark.skipif(not ISO_CODES_JSON.exists(), reason="Debian's iso-codes is not installed")
def test_every_active_code_is_an_iso_4217_code_known_to_debian_or_newer() -> None:
    known = {entry["alpha_3"] for entry in json.loads(ISO_CODES_JSON.read_text())["4217"]}
    # Codes introduced after Debian's iso-codes 4.15 (2023).
    newer = {"XCG", "ZWG"}
    assert set(CURRENCY_EXPONENTS) - known <= newer


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (500_000, "EUR", "EUR 5,000.00"),
        (5, "EUR", "EUR 0.05"),
        (0, "USD", "USD 0.00"),
        (-123_456, "GBP", "GBP -1,234.56"),
        (5_000, "JPY", "JPY 5,000"),
        (1_234_567, "KWD", "KWD 1,234.567"),
        (12_345, "CLF", "CLF 1.2345"),
        (10**13, "EUR", "EUR 100,000,000,000.00"),
    ],
)
def test_format_money(amount: int, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


def test_format_money_refuses_unknown_currencies() -> None:
    with pytest.raises(UnknownCurrency):
        format_money(1, "XXX")
