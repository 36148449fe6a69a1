from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from mindlinks.notifications.errors import UnknownEmailTemplate
from mindlinks.notifications.service import render_email

VERIFY_CONTEXT = {
    "full_name": "Ada Lovelace",
    "verify_url": "https://mindlinks.example/verify-email?token=abc_DEF-123",
    "ttl_hours": 48,
    "base_url": "https://mindlinks.example",
}


def test_verify_email_renders_subject_text_and_html_with_the_layout():
    email = render_email("verify_email", VERIFY_CONTEXT)

    assert email.subject == "Confirm your email address for Mind-Links"
    assert "\n" not in email.subject
    assert "Hello Ada Lovelace," in email.text
    assert "https://mindlinks.example/verify-email?token=abc_DEF-123" in email.text
    assert "48 hours" in email.text
    # The HTML comes from the shared layout, with the link as a clickable href.
    assert email.html.lstrip().startswith("<!doctype html>")
    assert f"<title>{email.subject}</title>" in email.html
    assert 'href="https://mindlinks.example/verify-email?token=abc_DEF-123"' in email.html
    assert 'href="https://mindlinks.example/"' in email.html  # layout footer


def test_html_is_autoescaped_and_text_is_not():
    email = render_email(
        "verify_email", {**VERIFY_CONTEXT, "full_name": '<script>alert("x")</script> & Co'}
    )

    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in email.html
    assert '<script>alert("x")</script> & Co' in email.text


def test_a_missing_variable_fails_instead_of_mailing_a_broken_link():
    context = {k: v for k, v in VERIFY_CONTEXT.items() if k != "verify_url"}
    with pytest.raises(UndefinedError):
        render_email("verify_email", context)


@pytest.mark.parametrize("name", ["no_such_template", "../email/layout", "Verify_Email", ""])
def test_unknown_or_malformed_template_names_are_refused(name):
    with pytest.raises(UnknownEmailTemplate):
        render_email(name, VERIFY_CONTEXT)
