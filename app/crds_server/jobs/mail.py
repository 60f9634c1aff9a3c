"""Outgoing mail through the site config's [mail] relay (plain SMTP, as on the servers)."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

from crds_server.site_config import SiteConfig


class MailError(RuntimeError):
    """The relay refused or could not be reached; the message names it."""


def recipients(text: str | list[str] | None) -> list[str]:
    """'a@x b@y, c@z' (MAILTO style: spaces or commas) -> ['a@x', 'b@y', 'c@z']."""
    if not text:
        return []
    if isinstance(text, str):
        text = text.replace(",", " ").split()
    return [t.strip() for t in text if t.strip()]


def send(cfg: SiteConfig, to: list[str], subject: str, body: str,
         attachments: list[tuple[str, bytes, str]] = ()) -> EmailMessage:
    """Send one message; attachments are (filename, data, mime type 'main/sub')."""
    if not to:
        raise MailError("no recipients: set MAILTO (or the job's recipients variable)")
    relay = cfg.mail.get("relay") or "localhost"
    port = int(cfg.mail.get("port") or 25)
    sender = cfg.mail.get("from") or f"crds@{socket.getfqdn()}"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["X-CRDS-Server"] = cfg.server
    msg.set_content(body)
    for name, data, mime in attachments:
        main, sub = mime.split("/", 1)
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    try:
        with smtplib.SMTP(relay, port, timeout=60) as smtp:
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"mail to {', '.join(to)} via {relay}:{port} failed: {exc}") from None
    return msg
