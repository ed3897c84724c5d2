"""EMAIL through Django's email backends: SMTP by default (EMAIL_HOST...), any django-anymail provider
(EMAIL_BACKEND="anymail.backends.postmark.EmailBackend"...) by configuration."""

import contextlib
import re
import secrets
import smtplib
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from anymail.backends.base import AnymailBaseBackend
from anymail.exceptions import AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from campaigns import tracking
from campaigns.models import Delivery
from campaigns.transports.base import DeliveryError

# Provider API answers worth retrying: timeouts, rate limits, their own faults, and refused
# credentials (a configuration fix makes the queued rows go out, rather than failing them for good).
_TRANSIENT_HTTP = frozenset({401, 403, 408, 409, 425, 429})


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


def _provider_error(error: AnymailError) -> DeliveryError:
    """An anymail provider's refusal: 4xx answers are permanent for this message (but the transient
    ones above), 5xx and unreachable providers (no status: code None) are transient."""
    status = getattr(error, "status_code", None)
    text = " ".join(str(error).split())[:500]
    if isinstance(error, AnymailRecipientsRefused):
        return DeliveryError(f"The provider refused the recipient: {text}", permanent=True, code=status or 400)
    if status is None:
        if error.__cause__ is not None:  # the request failed: the provider could not be reached
            return DeliveryError(f"Provider unreachable: {text}", permanent=False)
        return DeliveryError(f"Provider: {text}", permanent=True, code=400)  # anymail's own checks
    return DeliveryError(
        f"Provider HTTP {status}: {text}",
        permanent=400 <= status < 500 and status not in _TRANSIENT_HTTP,
        code=status,
    )


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((key for key in headers if key.lower() == name.lower()), None)


class _OutgoingEmail(EmailMultiAlternatives):
    """Django's message with its multipart boundary chosen up front: left unset, the stdlib generator
    picks one per message and compiles a fresh regular expression to check it against the body —
    about a quarter of the time it takes to build the bytes (BENCHMARKS.md, email pipeline)."""

    def message(self):
        message = super().message()
        if message.is_multipart():
            message.set_boundary(f"=_engage_{secrets.token_hex(16)}")
        return message


# What the direct path writes as is; anything else goes through Django (which refuses newlines with
# BadHeaderError and encodes non-ASCII addresses), so both paths accept and refuse the same messages.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_SET_BY_US = frozenset(
    {"from", "to", "cc", "reply-to", "date", "subject", "mime-version", "content-type", "content-transfer-encoding"}
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAX_LINE = 998  # RFC 5322: longer lines need quoted-printable, which Django's path writes


def _body_part(content_type: str, body: str) -> bytes | None:
    """One text part as Django writes it (utf-8, 7bit or 8bit), or None when a line needs encoding."""
    data = "\r\n".join(_LINE_BREAK.split(body)).encode("utf-8", "surrogateescape")
    if any(len(line) > _MAX_LINE for line in data.split(b"\r\n")):
        return None
    encoding = "7bit" if data.isascii() else "8bit"
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode() + data


def _direct_bytes(
    from_address: str, to: str, subject: str, headers: dict[str, str], text: str, html: str
) -> bytes | None:
    """The SMTP bytes of the message Django's EmailMultiAlternatives would build — the same headers
    in the same order, the same parts and encodings (tests/campaigns/test_email_direct.py parses
    both back and compares) — written directly: the stdlib generator costs ten times more. None
    when the message needs anything beyond plain ASCII headers and unencoded bodies."""
    if not (_PLAIN_ADDRESS.fullmatch(to) and _PRINTABLE_ASCII.fullmatch(from_address)):
        return None
    for name, value in headers.items():
        if name.lower() in _SET_BY_US or not (_PRINTABLE_ASCII.fullmatch(name) and _PRINTABLE_ASCII.fullmatch(value)):
            return None
    if "\n" in subject or "\r" in subject:
        return None
    if not _PRINTABLE_ASCII.fullmatch(subject):
        subject = Header(subject, "utf-8").encode(linesep="\r\n")
    lines = [
        f"Subject: {subject}",
        f"From: {from_address}",
        f"To: {to}",
        f"Date: {formatdate(localtime=settings.EMAIL_USE_LOCALTIME)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    if any(len(line) > _MAX_LINE for line in lines):
        return None
    top = "\r\n".join(lines).encode()
    if text and html:
        parts = [_body_part("text/plain", text), _body_part("text/html", html)]
        if None in parts:
            return None
        boundary = f"=_engage_{secrets.token_hex(16)}".encode()
        head = b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\nMIME-Version: 1.0\r\n'
        separator = b"\r\n--" + boundary + b"\r\n"
        return head + top + b"\r\n" + separator + separator.join(parts) + b"\r\n--" + boundary + b"--\r\n"
    part = _body_part("text/html" if html and not text else "text/plain", text or html)
    if part is None:
        return None
    head, _, body = part.partition(b"\r\n\r\n")
    return head + b"\r\n" + top + b"\r\n\r\n" + body


class EmailTransport:
    """Email through Django's email backend, one connection per batch.

    Headers: the delivery's stable Message-ID; `List-Unsubscribe` with Engage's one-click link and a
    mailto to the sender, and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058) — the
    mailto alone without ENGAGE_PUBLIC_URL; a List-Unsubscribe the message sets itself wins. With
    tracking on, HTML gets an open pixel and click redirects (campaigns.tracking) and an anymail
    provider's own tracking is turned off, so nothing is counted twice.

    `send` returns the provider's message id: an anymail provider's own id, or for SMTP our Message-ID.
    Anymail providers also get metadata naming the delivery, which their webhooks echo back.
    """

    def __init__(self) -> None:
        self.setup_error = ""
        try:
            self.connection = get_connection(fail_silently=False)
        except ImproperlyConfigured as error:  # an anymail backend without its API key...
            self.connection = None
            self.setup_error = str(error)
        self.anymail = isinstance(self.connection, AnymailBaseBackend)
        # Django's own SMTP backend (not a subclass, which may change how it sends): the bytes can be
        # written directly and handed to its smtplib connection.
        self.direct = type(self.connection) is SMTPBackend
        self._open = False

    def open(self) -> None:
        if self.connection is None:
            raise DeliveryError(f"The email backend is not configured: {self.setup_error}", permanent=False)
        try:
            self.connection.open()
        except (OSError, smtplib.SMTPException) as error:
            # The server could not be reached or refused the session (a 421/554 greeting, HELO or
            # AUTH refused): temporary, and without a code, so the batch stops knocking (one
            # connection per batch, not one per message).
            raise DeliveryError(_smtp_error(error).message, permanent=False) from error
        self._open = True

    def close(self) -> None:
        if self._open:
            with contextlib.suppress(OSError, smtplib.SMTPException, AnymailError):
                self.connection.close()
            self._open = False

    def _parts(self, delivery: Delivery) -> tuple[str, str, dict[str, str], str, str]:
        """(from, subject, headers, text, html) of a delivery, as both ways of sending write them."""
        from_address = delivery.from_address or settings.DEFAULT_FROM_EMAIL
        _, sender = parseaddr(from_address)
        headers = {h["Name"]: h["Value"] for h in delivery.headers if h.get("Name")}
        headers["Message-ID"] = delivery.message_id
        if _header(headers, "List-Unsubscribe") is None:
            mailto = f"<mailto:{sender}?subject=unsubscribe>"
            one_click = tracking.unsubscribe_url(delivery)
            headers["List-Unsubscribe"] = f"<{one_click}>, {mailto}" if one_click else mailto
            if one_click:
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # Django serialises with CRLF line ends and quoted-printable for lines over 998 characters.
        text = delivery.text.replace("\r\n", "\n")
        html = delivery.html.replace("\r\n", "\n")
        if html and tracking.tracking_enabled():
            html = tracking.html_track(html, delivery)
        return from_address, " ".join(delivery.subject.splitlines()).strip(), headers, text, html

    def message(self, delivery: Delivery) -> EmailMultiAlternatives:
        from_address, subject, headers, text, html = self._parts(delivery)
        email = _OutgoingEmail(
            subject=subject,
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
        if self.anymail:
            email.metadata = {
                tracking.METADATA_PROJECT: delivery.project_id,
                tracking.METADATA_MESSAGE: delivery.message_id.strip("<>"),
            }
            if tracking.tracking_enabled():
                email.track_opens = email.track_clicks = False
        return email

    def send(self, delivery: Delivery) -> str:
        """Send one delivery; returns the provider's message id (for SMTP: our Message-ID)."""
        data = email = None
        try:
            if self.direct:  # bytes handed to smtplib, as Django's backend does (envelope: bare addresses)
                from_address, subject, headers, text, html = self._parts(delivery)
                data = _direct_bytes(from_address, delivery.address, subject, headers, text, html)
                if data is None:
                    data = self.message(delivery).message().as_bytes(linesep="\r\n")
            else:
                email = self.message(delivery)
        except ValueError as error:  # BadHeaderError, a non-ASCII address: no attempt can send this
            raise DeliveryError(f"The message cannot be sent: {error}", permanent=True, code=400) from error
        if not self._open:
            self.open()
        try:
            if data is not None:
                self.connection.connection.sendmail(parseaddr(from_address)[1], [delivery.address], data)
                return delivery.message_id
            self.connection.send_messages([email])
        except ValueError as error:  # another backend building the message itself refused it
            raise DeliveryError(f"The message cannot be sent: {error}", permanent=True, code=400) from error
        except AnymailError as error:
            raise _provider_error(error) from error
        except (OSError, smtplib.SMTPException) as error:
            failure = _smtp_error(error)
            if not isinstance(error, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
                self.close()  # the connection may be broken: the next message opens a new one
            raise failure from error
        if self.anymail:
            return str(email.anymail_status.message_id or delivery.message_id)
        return delivery.message_id
