"""Reminder e-mail over SMTP (smtplib; STARTTLS and login when configured)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from taskpulse.ports import Mail, MailError

__all__ = ["Mail", "MailError", "SmtpMailer"]
# Mail and MailError are the port's (taskpulse.ports): the services see only those.


def _permanent(error: smtplib.SMTPException) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _text in error.recipients.values())
    code = getattr(error, "smtp_code", 0)
    return isinstance(code, int) and code >= 500


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
        """Send ``mail``; a ``MailError`` says whether the server can have accepted it.

        Only the DATA phase is ambiguous: a failure before it (no connection, STARTTLS,
        login, a refused sender or recipient, a message that cannot be built) means the
        message was not sent, and a retry is safe; a connection lost during or after it
        may have delivered the message, and a retry could deliver it twice.
        """
        try:
            message = self._message(mail)
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (ValueError, OSError, smtplib.SMTPException) as error:
            raise MailError(f"SMTP not reached: {error}", definitely_not_sent=True) from error
        try:
            try:
                if self.starttls:
                    # Verified against the system's CAs: without a context smtplib
                    # would encrypt to whoever answers, unverified.
                    smtp.starttls(context=ssl.create_default_context())
                if self.username and self.password:
                    smtp.login(self.username, self.password)
            except (OSError, smtplib.SMTPException) as error:
                raise MailError(f"SMTP refused: {error}", definitely_not_sent=True) from error
            try:
                smtp.send_message(message)
            except (
                smtplib.SMTPRecipientsRefused,
                smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError,
            ) as error:
                raise MailError(
                    f"SMTP refused: {error}", definitely_not_sent=True, permanent=_permanent(error)
                ) from error
            except (OSError, smtplib.SMTPException) as error:
                raise MailError(f"SMTP failed: {error}", definitely_not_sent=False) from error
        finally:
            # After DATA the message is the server's; a failing QUIT changes nothing.
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def _message(self, mail: Mail) -> EmailMessage:
        from datetime import UTC, datetime

        message = EmailMessage()
        message["From"] = self.sender
        # One recipient, as an Address: a "," or a display name in the text cannot
        # add another (ValueError: the message cannot be built, nothing is sent).
        message["To"] = _address(mail.to)
        # A header is one line: a title with line breaks would be refused (ValueError).
        message["Subject"] = " ".join(mail.subject.split())
        message["Message-ID"] = mail.message_id
        message["Date"] = format_datetime(datetime.now(UTC))
        message.set_content(mail.body)
        return message


def _address(text: str) -> Address:
    username, at, domain = text.rpartition("@")
    if not at or not username or not domain or any(c in text for c in ',;<>"\r\n '):
        raise ValueError(f"not a single mail address: {text[:80]!r}")
    return Address(username=username, domain=domain)
