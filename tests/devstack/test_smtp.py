"""The local SMTP server keeps every message it receives in its Maildir."""

from __future__ import annotations

import mailbox
import smtplib
import uuid
from email.message import EmailMessage

from platform_fixtures import SmtpServer, wait_for


def test_a_sent_message_lands_in_the_mailbox(smtp_mailbox: SmtpServer) -> None:
    subject = f"reminder {uuid.uuid4()}"
    message = EmailMessage()
    message["From"] = "TaskPulse <reminders@taskpulse.local>"
    message["To"] = "alice@taskpulse.local"
    message["Subject"] = subject
    message.set_content("Water the plants")
    with smtplib.SMTP(smtp_mailbox.host, smtp_mailbox.port, timeout=10) as client:
        client.send_message(message)

    def received() -> list[mailbox.MaildirMessage]:
        box = mailbox.Maildir(smtp_mailbox.mailbox, create=False)
        return [m for m in box if m["Subject"] == subject]

    (stored,) = wait_for(received, timeout=10)
    assert stored["X-Envelope-To"] == "alice@taskpulse.local"
    assert "Water the plants" in stored.get_payload()
