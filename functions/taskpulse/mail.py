"""Reminder e-mail over SMTP (smtplib; STARTTLS and login when configured)."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime


class MailError(RuntimeError):
    def __init__(self, message: str, *, definitely_not_sent: bool) -> None:
        super().__init__(message)
        self.definitely_not_sent = definitely_not_sent
        """True when the server refused before accepting the message: safe to retry."""


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str
    message_id: str
    """Deterministic per reminder, so mail clients can fold an unlikely duplicate."""


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0

    def send(self, mail: Mail) -> None:
        from datetime import UTC, datetime

        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = mail.message_id
        message["Date"] = format_datetime(datetime.now(UTC))
        message.set_content(mail.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (
            smtplib.SMTPConnectError,
            smtplib.SMTPHeloError,
            ConnectionRefusedError,
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPSenderRefused,
            smtplib.SMTPAuthenticationError,
        ) as error:
            raise MailError(f"SMTP refused: {error}", definitely_not_sent=True) from error
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(f"SMTP failed: {error}", definitely_not_sent=False) from error
