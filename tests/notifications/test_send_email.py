from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mindlinks.config import Settings
from mindlinks.notifications.errors import InvalidRecipient
from mindlinks.notifications.models import DevMailboxMessage, EmailDelivery
from mindlinks.notifications.providers import DevMailbox, OutgoingEmail, SmtpMailer, make_mailer
from mindlinks.notifications.service import message_id_for, send_email, settings_for

CONTEXT = {
    "full_name": "Grace Hopper",
    "verify_url": "http://testserver/verify-email?token=tok",
    "ttl_hours": 48,
}


def _mailbox(session, to):
    stmt = select(DevMailboxMessage).where(DevMailboxMessage.recipient == to)
    return list(session.scalars(stmt))


def _deliveries(session, key):
    stmt = (
        select(func.count()).select_from(EmailDelivery).where(EmailDelivery.idempotency_key == key)
    )
    return session.scalar(stmt)


class RecordingMailer:
    name = "recording"

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[OutgoingEmail] = []
        self.fail = fail

    def send(self, message: OutgoingEmail) -> None:
        if self.fail:
            raise ConnectionRefusedError("smtp server down")
        self.sent.append(message)


def test_send_email_delivers_once_per_key(session, settings):
    for _ in range(3):  # a job that runs again (at-least-once) sends nothing more
        send_email(
            session,
            to="grace@example.com",
            template="verify_email",
            context=CONTEXT,
            key="test:once",
            settings=settings,
        )

    messages = _mailbox(session, "grace@example.com")
    assert len(messages) == 1
    assert messages[0].subject == "Confirm your email address for Mind-Links"
    assert messages[0].sender == settings.mail_from
    assert messages[0].message_id == message_id_for("test:once", settings.mail_from)
    assert "http://testserver/verify-email?token=tok" in messages[0].text_body
    assert _deliveries(session, "test:once") == 1
    delivery = session.scalar(
        select(EmailDelivery).where(EmailDelivery.idempotency_key == "test:once")
    )
    assert delivery.mailer == "dev"
    assert delivery.template == "verify_email"


def test_other_keys_are_other_emails(session, settings):
    for key in ("test:a", "test:b"):
        send_email(
            session,
            to="two@example.com",
            template="verify_email",
            context=CONTEXT,
            key=key,
            settings=settings,
        )
    assert len(_mailbox(session, "two@example.com")) == 2


def test_the_mailer_is_called_once_per_key(session, settings):
    mailer = RecordingMailer()
    for _ in range(2):
        send_email(
            session,
            to="rec@example.com",
            template="verify_email",
            context=CONTEXT,
            key="test:recorded",
            settings=settings,
            mailer=mailer,
        )
    assert len(mailer.sent) == 1
    sent = mailer.sent[0]
    assert sent.to == "rec@example.com"
    assert sent.from_ == settings.mail_from
    assert sent.message_id == message_id_for("test:recorded", settings.mail_from)
    assert sent.message_id.endswith("@mindlinks.local>")


def test_a_failed_send_records_nothing_so_the_retry_sends(session, settings):
    job_transaction = session.begin_nested()  # stands in for the job's transaction
    with pytest.raises(ConnectionRefusedError):
        send_email(
            session,
            to="retry@example.com",
            template="verify_email",
            context=CONTEXT,
            key="test:retry",
            settings=settings,
            mailer=RecordingMailer(fail=True),
        )
    job_transaction.rollback()  # the worker rolls the failed run back
    assert _deliveries(session, "test:retry") == 0

    mailer = RecordingMailer()
    send_email(
        session,
        to="retry@example.com",
        template="verify_email",
        context=CONTEXT,
        key="test:retry",
        settings=settings,
        mailer=mailer,
    )
    assert len(mailer.sent) == 1
    assert _deliveries(session, "test:retry") == 1


@pytest.mark.parametrize("to", ["", "not-an-address", "a@example.com\r\nBcc: b@example.com"])
def test_bad_recipients_are_refused(session, settings, to):
    with pytest.raises(InvalidRecipient):
        send_email(
            session,
            to=to,
            template="verify_email",
            context=CONTEXT,
            key=f"test:bad:{to!r}",
            settings=settings,
        )


def test_the_mailer_is_chosen_by_settings(session, settings, data_dir):
    assert isinstance(make_mailer(settings, session), DevMailbox)
    smtp_settings = Settings(
        data_dir=data_dir,
        mailer="smtp",
        smtp_host="mail.example",
        smtp_port=2525,
        smtp_username="u",
        smtp_password="p",
        smtp_starttls=True,
        smtp_timeout_seconds=3,
    )
    mailer = make_mailer(smtp_settings, session)
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.username, mailer.password) == (
        "mail.example",
        2525,
        "u",
        "p",
    )
    assert mailer.starttls and not mailer.use_ssl and mailer.timeout == 3


def test_session_info_settings_win_over_the_process_settings(session, settings):
    session.info["settings"] = settings
    try:
        assert settings_for(session) is settings
    finally:
        del session.info["settings"]
    assert isinstance(settings_for(session), Settings)  # the process environment's
