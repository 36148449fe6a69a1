"""The rules on company fields: registration numbers and ISO 3166-1 alpha-2 countries."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindlinks.companies.validation import (
    ISO_3166_ALPHA2,
    normalize_registration_number,
    validate_company_fields,
)
from mindlinks.platform.errors import InvalidFields

TZDATA_COUNTRIES = Path("/usr/share/zoneinfo/iso3166.tab")


def test_the_country_list_holds_the_249_assigned_codes():
    assert len(ISO_3166_ALPHA2) == 249
    assert all(len(c) == 2 and c.isascii() and c.isupper() for c in ISO_3166_ALPHA2)
    assert {"GB", "DE", "US", "FR", "JP", "SS", "CW", "SX", "BQ", "AX"} <= ISO_3166_ALPHA2
    assert not {"UK", "EU", "XK", "AN", "YU", "ZZ"} & ISO_3166_ALPHA2


@pytest.mark.skipif(not TZDATA_COUNTRIES.exists(), reason="no tzdata country table on this host")
def test_the_country_list_matches_the_tzdata_table():
    lines = TZDATA_COUNTRIES.read_text().splitlines()
    codes = {line.split("\t")[0] for line in lines if line and not line.startswith("#")}
    assert codes == ISO_3166_ALPHA2


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("sc-123 456", "SC123456"), ("  0123 4567 ", "01234567"), ("ab--cd", "ABCD")],
)
def test_registration_numbers_drop_spaces_and_hyphens_and_upper_case(raw, normal):
    assert normalize_registration_number(raw) == normal


def test_valid_fields_come_back_normalized():
    fields = validate_company_fields(
        legal_name="  Acme   Widgets Ltd ",
        jurisdiction_code="US_DE",
        registration_number="de-4567",
        country="us",
    )
    assert fields.legal_name == "Acme Widgets Ltd"
    assert fields.jurisdiction_code == "us_de"
    assert fields.registration_number == "DE4567"
    assert fields.country == "US"


def test_every_bad_field_is_named():
    with pytest.raises(InvalidFields) as caught:
        validate_company_fields(
            legal_name="", jurisdiction_code="1", registration_number="!", country="UK"
        )
    assert [e["field"] for e in caught.value.errors or []] == [
        "legal_name",
        "jurisdiction_code",
        "registration_number",
        "country",
    ]
