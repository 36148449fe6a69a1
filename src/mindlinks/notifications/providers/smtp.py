"""Email over SMTP with the standard library (`smtplib`).

Implicit TLS (`smtp_ssl`, usually port 465) or STARTTLS (`smtp_starttls`, usually
587), both with certificate verification; STARTTLS that the server does not
offer is an error, never a silent fall-back to plain text. A refused message
raises, so the job that sends it is retried.
"""

from __future__ import annotations

import smtplib
import ssl

from mindlinks.config import Settings
from mindlinks.notifications.providers.base import OutgoingEmail, to_mime


class SmtpMailer:
    name = "smtp"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 25,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if starttls and use_ssl:
            raise ValueError("choose implicit TLS (smtp_ssl) or STARTTLS (smtp_starttls), not both")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = timeout
        self.ssl_context = ssl_context

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            use_ssl=settings.smtp_ssl,
            timeout=settings.smtp_timeout_seconds,
        )

    def _tls_context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def send(self, message: OutgoingEmail) -> None:
        mime = to_mime(message)
        with self._connect() as smtp:
            if self.starttls:
                smtp.starttls(context=self._tls_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            # One recipient: it is either accepted or SMTPRecipientsRefused is raised.
            smtp.send_message(mime)
