"""Rendering: the HTML preview and the PDF (signature fields, fonts for every script)."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy.orm import Session

from mindlinks.contracts.models import Contract
from mindlinks.contracts.rendering import (
    ContractRenderingError,
    long_date,
    render_contract_html,
    render_contract_pdf,
    wrap_document,
)
from tests.contracts.factories import (
    EOR_KEY,
    client_company,
    linked_contractor,
    make_contract,
    make_shipped_contract,
)
from tests.contracts.pdf_helpers import (
    glyphs_by_char,
    has_image,
    page_size,
    reader,
    signature_fields,
)

MM: float = 72 / 25.4


def _contract(session: Session, key: str | None = None, **fields: Any) -> Contract:
    company, owner = client_company(session, full_name=fields.pop("client_name", "Ada Client"))
    contractor = linked_contractor(
        session, company, full_name=fields.pop("contractor_name", "Grace Contractor")
    )
    if key is None:
        return make_shipped_contract(
            session, company=company, client=owner, contractor=contractor, **fields
        )
    return make_shipped_contract(
        session, company=company, client=owner, contractor=contractor, key=key, **fields
    )


def test_the_html_is_the_same_every_time_for_the_same_draft(session: Session) -> None:
    contract = _contract(session)
    assert render_contract_html(session, contract) == render_contract_html(session, contract)


def test_the_html_holds_the_parties_terms_and_variables(session: Session) -> None:
    contract = _contract(
        session,
        variables={"governing_law": "the State of New York", "notice_days": 45},
        end_date=date(2027, 6, 30),
    )
    html = render_contract_html(session, contract)
    for expected in (
        "Backend development",
        "Acme Widgets Ltd",
        "Grace Contractor",
        "Ada Client",
        "EUR 5,000.00",
        "1 January 2027",
        "30 June 2027",
        "the State of New York",
        "45 days",
        "one calendar month",
        f"Contract {contract.id}",  # the footer of every page
        'class="signature-box" data-role="client"',
        'class="signature-box" data-role="contractor"',
    ):
        assert expected in html, expected
    assert 'data-role="eor"' not in html


def test_user_text_is_escaped_and_paragraphs_are_kept(session: Session) -> None:
    contract = _contract(
        session,
        title='Design <img src="x" onerror="alert(1)">',
        scope="First <b>part</b>.\n\nSecond part,\nsame paragraph.",
    )
    html = render_contract_html(session, contract)
    assert "<img" not in html
    assert "&lt;img src=&#34;x&#34;" in html
    assert "<p>First &lt;b&gt;part&lt;/b&gt;.</p>" in html
    assert "<p>Second part,<br>\nsame paragraph.</p>" in html


def test_hourly_and_milestone_terms_render_with_their_currency_exponent(
    session: Session,
) -> None:
    hourly = _contract(
        session,
        payment_terms={
            "type": "hourly",
            "rate_minor": 12_345,
            "currency": "JPY",
            "cycle": "weekly",
        },
    )
    html = render_contract_html(session, hourly)
    assert "JPY 12,345 per hour" in html
    assert "one week" in html

    milestones = _contract(
        session,
        payment_terms={
            "type": "milestones",
            "currency": "KWD",
            "milestones": [
                {"title": "Design", "amount_minor": 1_500_250, "due_date": "2027-03-31"},
                {"title": "Launch", "amount_minor": 2_000_000, "due_date": "2027-09-30"},
            ],
        },
    )
    html = render_contract_html(session, milestones)
    assert "KWD 1,500.250" in html
    assert "KWD 2,000.000" in html
    assert "KWD 3,500.250" in html  # the total row
    assert "31 March 2027" in html


def test_an_open_ended_contract_says_so(session: Session) -> None:
    html = render_contract_html(session, _contract(session, end_date=None))
    assert "continues until terminated" in html
    assert "End Date" not in html


def test_the_eor_template_names_the_three_parties(session: Session) -> None:
    contract = _contract(session, key=EOR_KEY)
    html = render_contract_html(session, contract)
    assert "Mind-Links Employer of Record Ltd." in html
    assert "Germany" in html
    assert boxes_in(html) == ["client", "contractor", "eor"]


def boxes_in(html: str) -> list[str]:
    from mindlinks.contracts.rendering import boxed_roles

    return boxed_roles(html)


def test_a_template_without_signature_boxes_gets_the_standard_block(session: Session) -> None:
    company, owner = client_company(session)
    contractor = linked_contractor(session, company)
    contract = make_contract(
        session, company=company, client=owner, contractor=contractor, kind="eor"
    )
    html = render_contract_html(session, contract)
    assert boxes_in(html) == ["client", "contractor", "eor"]


def _check_fields(pdf: bytes, roles: list[str]) -> None:
    fields = signature_fields(pdf)
    pdf_reader = reader(pdf)
    assert sorted(fields) == sorted(roles)
    pages = {field.page_index for field in fields.values()}
    last_page = max(pages)
    for field in fields.values():
        assert not field.signed
        width, height = page_size(pdf_reader, field.page_index)
        x1, y1, x2, y2 = field.rect
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        # Exactly the 80 x 26 mm signature box (to the point: pyHanko's boxes are whole).
        assert abs((x2 - x1) - 80 * MM) <= 1.5
        assert abs((y2 - y1) - 26 * MM) <= 1.5
        assert field.page_index >= last_page - 1
    # In signing order down the page(s): no two boxes overlap.
    ordered = [fields[role] for role in roles]
    for upper, lower in itertools.pairwise(ordered):
        if upper.page_index == lower.page_index:
            assert lower.rect[3] <= upper.rect[1]
        else:
            assert lower.page_index > upper.page_index


def test_the_pdf_has_one_empty_signature_field_per_role_over_its_box(session: Session) -> None:
    contract = _contract(session)
    pdf = render_contract_pdf(render_contract_html(session, contract), ["client", "contractor"])
    assert pdf.startswith(b"%PDF-")
    _check_fields(pdf, ["client", "contractor"])


def test_an_eor_pdf_has_three_fields(session: Session) -> None:
    contract = _contract(session, key=EOR_KEY)
    pdf = render_contract_pdf(
        render_contract_html(session, contract), ["client", "contractor", "eor"]
    )
    _check_fields(pdf, ["client", "contractor", "eor"])


def test_a_role_without_exactly_one_box_is_refused() -> None:
    one = '<div class="signature-box" data-role="client"></div>'
    html = wrap_document(one, contract_id="abc", title="T")
    with pytest.raises(ContractRenderingError, match="0 signature boxes for role 'contractor'"):
        render_contract_pdf(html, ["client", "contractor"])
    twice = wrap_document(one + one, contract_id="abc", title="T")
    with pytest.raises(ContractRenderingError, match="2 signature boxes for role 'client'"):
        render_contract_pdf(twice, ["client"])


def test_the_contract_id_must_be_ours_to_enter_the_css() -> None:
    with pytest.raises(ContractRenderingError):
        wrap_document("", contract_id='x"; } body { display: none', title="T")


def test_names_in_any_script_render_as_real_glyphs(session: Session) -> None:
    contract = _contract(session, client_name="Zoë Łukasiewicz", contractor_name="张伟")
    html = render_contract_html(session, contract)
    assert "Zoë Łukasiewicz" in html and "张伟" in html
    pdf = render_contract_pdf(html, ["client", "contractor"])
    glyphs = glyphs_by_char(pdf)
    for char in "张伟":
        fonts = glyphs[char]
        assert all(drawn for _, drawn in fonts), fonts
        assert any("CJK" in name for name, _ in fonts), fonts
    for char in "ëŁ":
        fonts = glyphs[char]
        assert all(drawn for _, drawn in fonts), fonts
        assert any("DejaVu" in name for name, _ in fonts), fonts


def test_no_external_resource_is_ever_loaded(tmp_path: Path) -> None:
    picture = tmp_path / "logo.png"
    Image.new("RGB", (20, 20), "red").save(picture)
    body = (
        f'<img src="file://{picture}"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<div class="signature-box" data-role="client"></div>'
    )
    pdf = render_contract_pdf(wrap_document(body, contract_id="abc", title="T"), ["client"])
    assert not has_image(pdf)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(date(2027, 1, 1), "1 January 2027"), ("2028-02-29", "29 February 2028"), (None, "")],
)
def test_long_dates(value: date | str | None, expected: str) -> None:
    assert long_date(value) == expected
