"""EMAIL through Django's email backends (SMTP by default, EMAIL_HOST...)."""

import contextlib
import smtplib
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from campaigns.models import Delivery
from campaigns.transports.base import DeliveryError


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def _smtp_error(error: Exception) -> DeliveryError:
    """SMTP replies 5xx are permanent for this message; 4xx and broken connections are transient."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (None, b""))
        return DeliveryError(f"SMTP {code} {_text(reply)}", permanent=bool(code and code >= 500), code=code)
    if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError) and not isinstance(
        error, smtplib.SMTPServerDisconnected
    ):
        code = error.smtp_code
        return DeliveryError(f"SMTP {code} {_text(error.smtp_error)}", permanent=500 <= code < 600, code=code)
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        return DeliveryError(f"SMTP {code} {_text(error.smtp_error)}", permanent=False, code=code)
    return DeliveryError(f"SMTP connection failed: {type(error).__name__}: {error}", permanent=False)


class EmailTransport:
    """Email through Django's email backend (SMTP by default, EMAIL_HOST...), one connection per batch.

    Headers: the delivery's stable Message-ID, and `List-Unsubscribe: <mailto:FROM?subject=unsubscribe>`
    — a mailto to the sender until Engage's one-click unsubscribe link exists.
    """

    def __init__(self) -> None:
        self.connection = get_connection(fail_silently=False)
        self._open = False

    def open(self) -> None:
        try:
            self.connection.open()
        except (OSError, smtplib.SMTPException) as error:
            raise _smtp_error(error) from error
        self._open = True

    def close(self) -> None:
        if self._open:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.connection.close()
            self._open = False

    def message(self, delivery: Delivery) -> EmailMultiAlternatives:
        from_address = delivery.from_address or settings.DEFAULT_FROM_EMAIL
        _, sender = parseaddr(from_address)
        headers = {h["Name"]: h["Value"] for h in delivery.headers if h.get("Name")}
        headers["Message-ID"] = delivery.message_id
        headers.setdefault("List-Unsubscribe", f"<mailto:{sender}?subject=unsubscribe>")
        # Django serialises with CRLF line ends and quoted-printable for lines over 998 characters.
        text = delivery.text.replace("\r\n", "\n")
        html = delivery.html.replace("\r\n", "\n")
        email = EmailMultiAlternatives(
            subject=" ".join(delivery.subject.splitlines()),
            body=text or html,
            from_email=from_address,
            to=[formataddr(("", delivery.address))],
            headers=headers,
            connection=self.connection,
        )
        if text and html:
            email.attach_alternative(html, "text/html")
        elif html:
            email.content_subtype = "html"
        return email

    def send(self, delivery: Delivery) -> str:
        """Send one delivery; returns the provider's message id (for SMTP: our Message-ID)."""
        if not self._open:
            self.open()
        try:
            self.connection.send_messages([self.message(delivery)])
        except (OSError, smtplib.SMTPException) as error:
            failure = _smtp_error(error)
            if not isinstance(error, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
                self.close()  # the connection may be broken: the next message opens a new one
            raise failure from error
        return delivery.message_id
