"""The certificate of completion: what it states, and that any script renders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mindlinks.esign.completion import (
    CompletionData,
    CompletionSigner,
    render_completion_html,
    render_completion_pdf,
    rfc3339,
)
from tests.contracts.pdf_helpers import glyphs_by_char, has_image
from tests.esign.factories import png_bytes

AT = datetime(2027, 1, 4, 9, 30, 15, tzinfo=UTC)
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


def _signer(role: str, name: str, **fields: object) -> CompletionSigner:
    values: dict[str, object] = {
        "role": role,
        "name": name,
        "email": f"{role}@example.com",
        "identity": "Platform account, verified email",
        "signature_id": f"01jsig{role}",
        "signature_type": "typed",
        "typed_name": name,
        "signed_at": AT,
        "disclosure_version": 1,
        "disclosure_sha256": "d1" * 32,
        "consent_accepted_at": AT - timedelta(seconds=40),
        "certificate_serial": f"5eria1{role}",
        "certificate_sha256": f"{len(role):02x}" * 32,
        "ip": "203.0.113.7",
        "user_agent": AGENT,
        "ledger_seq": {"client": 41, "contractor": 42, "eor": 43}[role],
        "document_sha256": "ab" * 32,
    }
    values.update(fields)
    return CompletionSigner(**values)  # type: ignore[arg-type]


def _data(**fields: object) -> CompletionData:
    values: dict[str, object] = {
        "contract_id": "01jcontract0000000000000000",
        "title": "Backend development",
        "document_name": "contract-01jcontract0000000000000000.pdf",
        "document_sha256": "ab" * 32,
        "page_count": 3,
        "status": "Completed: signed by all 3 parties; contract active",
        "generated_at": AT + timedelta(minutes=1),
        "signers": [
            _signer("client", "Clara Client", organization="Acme Sp. z o.o."),
            _signer(
                "contractor",
                "张伟",
                identity="Identity verified by KYC",
                kyc_session_id="01jkycsession",
                kyc_provider="veriff",
                kyc_decided_at=AT - timedelta(days=2),
                kyc_ledger_seq=7,
                signature_type="drawn",
                typed_name=None,
                drawn_png=png_bytes(),
            ),
            _signer("eor", "Zoë Łukasiewicz", organization="Mind-Links EOR Ltd."),
        ],
        "template_name": "Direct services",
        "template_version": 2,
        "company_name": "Acme Sp. z o.o.",
        "signing_order": "sequential",
        "created_at": AT - timedelta(days=3),
        "sent_at": AT - timedelta(days=1),
        "fully_signed_at": AT,
        "activated_at": AT,
        "activated_ledger_seq": 44,
        "platform_ca_sha256": "ca" * 32,
        "platform_seal_sha256": "5e" * 32,
        "ledger_origin": "mindlinks.local/ledger",
    }
    values.update(fields)
    return CompletionData(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_completion_pdf(_data())


def test_the_certificate_states_the_document_and_its_timeline():
    html = render_completion_html(_data())
    for expected in (
        "Certificate of Completion",
        "01jcontract0000000000000000",
        "Backend development",
        "contract-01jcontract0000000000000000.pdf, 3 pages",
        "ab" * 32,
        "Completed: signed by all 3 parties; contract active",
        "Direct services, version 2",
        "2027-01-01T09:30:15Z",  # created
        "2027-01-03T09:30:15Z",  # sent
        "ledger seq 44 (contract.activated)",
        "ca" * 32,
        "5e" * 32,
    ):
        assert expected in html, expected


def test_the_certificate_states_every_signer_like_docusign_does():
    html = render_completion_html(_data())
    for expected in (
        "张伟",
        "Zoë Łukasiewicz",
        "contractor@example.com",
        "Identity verified by KYC",
        'KYC session <span class="mono">01jkycsession</span> by veriff',
        "approved 2027-01-02T09:30:15Z",
        "ledger seq 7",
        "disclosure version 1 accepted 2027-01-04T09:29:35Z",
        "d1" * 32,
        "2027-01-04T09:30:15Z · ledger seq 42 (contract.signed)",
        "203.0.113.7",
        AGENT,
        "serial 5eria1contractor",
        "0a" * 32,
        "Signature (drawn)",
        "data:image/png;base64,",
        "Signature (typed)",
        "for Acme Sp. z o.o.",
    ):
        assert expected in html, expected


def test_user_text_is_escaped():
    html = render_completion_html(
        _data(
            title="<script>alert(1)</script>",
            signers=[_signer("client", "<b>Eve</b>", user_agent='"><img src=x>')],
        )
    )
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert '"><img src=x>' not in html


def test_a_drawing_that_is_not_a_png_is_not_inlined():
    html = render_completion_html(
        _data(
            signers=[
                _signer("client", "Clara", signature_type="drawn", drawn_png=b"<svg/>"),
            ]
        )
    )
    assert "data:image" not in html
    assert '<div class="typed">Clara</div>' in html


def test_times_are_utc_rfc3339():
    paris = datetime(2027, 1, 4, 10, 30, 15, tzinfo=timezone(timedelta(hours=1)))
    assert rfc3339(paris) == "2027-01-04T09:30:15Z"
    assert rfc3339(None) == "—"


def test_the_pdf_draws_latin_and_cjk_names_with_real_glyphs(pdf):
    assert pdf.startswith(b"%PDF-")
    glyphs = glyphs_by_char(pdf)
    for char in "张伟ŁëZ":
        assert char in glyphs, char
        assert any(drawn for _, drawn in glyphs[char]), char
    assert any("CJK" in font for font, _ in glyphs["张"])


def test_the_pdf_carries_the_drawn_signature(pdf):
    assert has_image(pdf)


def test_the_pdf_loads_nothing_from_outside(monkeypatch, tmp_path):
    # A drawing is only ever a data: URI; the fetcher refuses every other scheme,
    # so even a template bug that printed a file address would load nothing.
    from mindlinks.esign import completion

    picture = tmp_path / "outside.png"
    picture.write_bytes(png_bytes())
    monkeypatch.setattr(completion, "_png_data_uri", lambda png: picture.as_uri())
    completion._environment.cache_clear()
    try:
        data = _data(signers=[_signer("client", "Clara", signature_type="drawn", drawn_png=b"x")])
        assert picture.as_uri() in completion.render_completion_html(data)
        rendered = completion.render_completion_pdf(data)
    finally:
        monkeypatch.undo()
        completion._environment.cache_clear()
    assert not has_image(rendered)
