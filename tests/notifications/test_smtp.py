"""SmtpMailer against a real SMTP server (aiosmtpd) listening on 127.0.0.1."""

from __future__ import annotations

import smtplib
import ssl

import pytest
from sqlalchemy import select

from mindlinks.config import Settings
from mindlinks.notifications.models import DevMailboxMessage
from mindlinks.notifications.providers import OutgoingEmail, SmtpMailer
from mindlinks.notifications.service import message_id_for, send_email
from tests.notifications.conftest import SMTP_PASSWORD, SMTP_USER

MESSAGE = OutgoingEmail(
    to="Contractor@Example.com",
    subject="Welcome to Mind-Links — ready?",
    text="Plain text body\nwith a link: https://mindlinks.example/x\n",
    html='<p>HTML body with <a href="https://mindlinks.example/x">a link</a></p>\n',
    from_="Mind-Links <no-reply@mindlinks.local>",
    message_id="<abc123@mindlinks.local>",
)


def _assert_is_the_message(received, message=MESSAGE):
    assert received.mail_from == "no-reply@mindlinks.local"
    assert received.rcpt_tos == [message.to]
    mime = received.message
    assert mime["From"] == message.from_
    assert mime["To"] == message.to
    assert mime["Subject"] == message.subject  # non-ASCII survives RFC 2047 encoding
    assert mime["Message-ID"] == message.message_id
    assert mime["Date"]
    assert mime["Auto-Submitted"] == "auto-generated"
    assert mime.get_content_type() == "multipart/alternative"
    parts = list(mime.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    # SMTP carries CRLF line ends; the content is otherwise unchanged.
    assert parts[0].get_content().replace("\r\n", "\n") == message.text
    assert parts[1].get_content().replace("\r\n", "\n") == message.html
    assert parts[0].get_content_charset() == "utf-8"


def test_plain_smtp(smtp_server):
    inbox, port = smtp_server()
    SmtpMailer("127.0.0.1", port, timeout=5).send(MESSAGE)
    assert len(inbox.received) == 1
    _assert_is_the_message(inbox.received[0])


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_auth(smtp_server):
    inbox, port = smtp_server(auth=True, auth_require_tls=False)
    SmtpMailer("127.0.0.1", port, username=SMTP_USER, password=SMTP_PASSWORD, timeout=5).send(
        MESSAGE
    )
    _assert_is_the_message(inbox.received[0])

    with pytest.raises(smtplib.SMTPAuthenticationError):
        SmtpMailer("127.0.0.1", port, username=SMTP_USER, password="wrong", timeout=5).send(MESSAGE)
    assert len(inbox.received) == 1


def test_smtp_starttls_with_verified_certificate(smtp_server, certificate):
    inbox, port = smtp_server(
        tls_context=certificate.server_context(), require_starttls=True, auth=True
    )
    mailer = SmtpMailer(
        "127.0.0.1",
        port,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        starttls=True,
        timeout=5,
        ssl_context=certificate.client_context(),
    )
    mailer.send(MESSAGE)
    _assert_is_the_message(inbox.received[0])


def test_starttls_refuses_an_untrusted_certificate(smtp_server, certificate):
    inbox, port = smtp_server(tls_context=certificate.server_context(), require_starttls=True)
    # The default context trusts the system CAs only, not this self-signed certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        SmtpMailer("127.0.0.1", port, starttls=True, timeout=5).send(MESSAGE)
    assert inbox.received == []


def test_starttls_is_never_silently_skipped(smtp_server):
    inbox, port = smtp_server()  # a server that does not offer STARTTLS
    with pytest.raises(smtplib.SMTPNotSupportedError):
        SmtpMailer("127.0.0.1", port, starttls=True, timeout=5).send(MESSAGE)
    assert inbox.received == []


def test_implicit_tls(smtp_server, certificate):
    inbox, port = smtp_server(ssl_context=certificate.server_context())
    SmtpMailer(
        "127.0.0.1", port, use_ssl=True, timeout=5, ssl_context=certificate.client_context()
    ).send(MESSAGE)
    _assert_is_the_message(inbox.received[0])


def test_a_refused_recipient_raises_so_the_job_is_retried(smtp_server):
    inbox, port = smtp_server()
    inbox.refuse.add(MESSAGE.to)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        SmtpMailer("127.0.0.1", port, timeout=5).send(MESSAGE)
    assert inbox.received == []


def test_tls_modes_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        SmtpMailer(starttls=True, use_ssl=True)


def test_send_email_through_smtp_settings(session, smtp_server, data_dir):
    inbox, port = smtp_server()
    smtp_settings = Settings(
        data_dir=data_dir,
        mailer="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=5,
        public_url="https://mindlinks.example",
        mail_from="Mind-Links <hello@mindlinks.example>",
    )
    context = {
        "full_name": "Linus",
        "verify_url": "https://mindlinks.example/verify-email?token=t0k",
        "ttl_hours": 48,
    }
    for _ in range(2):
        send_email(
            session,
            to="linus@example.com",
            template="verify_email",
            context=context,
            key="test:smtp-once",
            settings=smtp_settings,
        )

    assert len(inbox.received) == 1  # once per key
    received = inbox.received[0]
    assert received.mail_from == "hello@mindlinks.example"
    assert received.rcpt_tos == ["linus@example.com"]
    mime = received.message
    assert mime["Subject"] == "Confirm your email address for Mind-Links"
    assert mime["Message-ID"] == message_id_for("test:smtp-once", smtp_settings.mail_from)
    text, html = (p.get_content() for p in mime.iter_parts())
    assert "https://mindlinks.example/verify-email?token=t0k" in text
    assert 'href="https://mindlinks.example/verify-email?token=t0k"' in html
    assert session.scalars(select(DevMailboxMessage.id)).all() == []  # not kept locally
