"""A local SMTP server that keeps every message it receives in a Maildir.

``python -m devstack.smtp --port 2525 --mailbox .local/mailbox`` runs it; send-reminder
talks to it through SMTP_HOST/SMTP_PORT like it would to a real relay, and tests read
what arrived with ``mailbox.Maildir(<folder>)`` (new messages are in ``<folder>/new``).
In-process (``serve``), tests read ``MaildirHandler.messages()`` and refuse recipients
through ``MaildirHandler.refused``.
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.cache import say


class MaildirHandler:
    """aiosmtpd handler: store the message with the envelope it came with."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        # Maildir delivery is atomic (tmp/ then new/), so a reader never sees half a mail.
        self.box = mailbox.Maildir(folder, create=True)
        self._lock = threading.Lock()
        self.refused: dict[str, str] = {}
        """Recipient -> the SMTP reply that refuses it (e.g. "550 5.1.1 no such user")."""

    def messages(self) -> list[mailbox.MaildirMessage]:
        """Every message kept so far, oldest first. (A method: aiosmtpd reads every
        attribute of its handler when it starts.)"""
        with self._lock:
            kept = list(self.box)
        return sorted(kept, key=mailbox.MaildirMessage.get_date)

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refused:
            return self.refused[address]
        # What aiosmtpd does without this hook.
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = mailbox.MaildirMessage(raw)
        message["X-Envelope-From"] = str(envelope.mail_from)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.box.add(message)
        return "250 Message accepted for delivery"


def serve(host: str, port: int, folder: Path) -> Controller:
    """Start in a background thread (tests) and return the controller to stop it."""
    controller = Controller(MaildirHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--mailbox", type=Path, required=True)
    args = parser.parse_args()
    controller = serve(args.host, args.port, args.mailbox)
    say(f"SMTP listening on {args.host}:{args.port}, mail kept in {args.mailbox}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
