"""Sending mail over SMTP with the `mail.*` settings."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from sshgate.config import MailConfig

SEND_TIMEOUT = 20


class MailError(Exception):
    """The SMTP server could not be reached or refused the message; the text says which."""


async def send(config: MailConfig, message: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            message,
            hostname=config.host,
            port=config.port,
            use_tls=config.tls,
            start_tls=config.starttls if not config.tls else False,
            username=config.username or None,
            password=config.password or None,
            timeout=SEND_TIMEOUT,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # The exception text of an SMTP reply is safe to show; credentials never are in it.
        raise MailError(f"mail to {message['To']} failed: {type(exc).__name__}: {exc}") from None
