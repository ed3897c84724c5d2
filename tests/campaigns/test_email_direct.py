"""The SMTP backend's direct path writes the message Django would: parsed back, both are the same."""

import email
import email.policy

import pytest
from django.core.mail import BadHeaderError

from campaigns.models import Delivery
from campaigns.transports.base import DeliveryError
from campaigns.transports.email import EmailTransport, _direct_bytes
from tests.campaigns.provider_server import closed_port

pytestmark = pytest.mark.django_db

TEXT = "Hi Ada,\n\nYour order left today.\n. a line with a leading dot\n\nThanks!"
HTML = "<!doctype html>\n<html><body><h1>Hi Ada</h1>\r\n<p>Your order left today.</p></body></html>"


def delivery(**fields) -> Delivery:
    values = {
        "project_id": "p" * 32,
        "channel": "EMAIL",
        "address": "ada@example.org",
        "from_address": "news@example.com",
        "subject": "Your order is on its way",
        "text": TEXT,
        "html": HTML,
        "message_id": "<0123456789abcdef@example.com>",
    }
    return Delivery(**(values | fields))


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def shape(message: email.message.EmailMessage) -> list:
    """Everything a reader sees: headers (but Date and the random boundary), parts and their bodies."""
    headers = [
        (name.lower(), str(value))
        for name, value in message.items()
        if name.lower() != "date" and not (name.lower() == "content-type" and message.is_multipart())
    ]
    parts = [
        (part.get_content_type(), part.get_content_charset(), part["Content-Transfer-Encoding"], part.get_content())
        for part in message.walk()
        if not part.is_multipart()
    ]
    return [message.get_content_type(), headers, parts]


def both(row: Delivery) -> tuple[bytes | None, bytes]:
    transport = EmailTransport()
    ours = _direct_bytes(*_args(transport, row))
    django = transport.message(row).message().as_bytes(linesep="\r\n")
    return ours, django


def _args(transport: EmailTransport, row: Delivery):
    from_address, subject, headers, text, html = transport._parts(row)
    return from_address, row.address, subject, headers, text, html


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"html": ""},
        {"text": ""},
        {"from_address": "Coffee Shop <news@example.com>"},
        {"text": "Grüße aus Köln, bis bald ☕", "html": "<p>Grüße ☕</p>"},
        {"subject": "☕ Your beans are roasting, Zoë"},
        {"subject": "A subject long enough to be folded by Django's generator " * 3},
        {"headers": [{"Name": "X-Campaign", "Value": "spring"}, {"Name": "Precedence", "Value": "bulk"}]},
        {"text": "no trailing newline", "html": "<p>ends with one</p>\n"},
        {"text": "windows\r\nline\rends\n"},
    ],
    ids=[
        "alternative",
        "text-only",
        "html-only",
        "display-name",
        "non-ascii-body",
        "non-ascii-subject",
        "long-subject",
        "extra-headers",
        "trailing-newlines",
        "line-ends",
    ],
)
def test_direct_bytes_parse_back_like_django(fields):
    ours, django = both(delivery(**fields))
    assert ours is not None
    assert b"\r\n" in ours and b"\n" not in ours.replace(b"\r\n", b"")
    assert shape(parse(ours)) == shape(parse(django))


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "x" * 1000},  # needs quoted-printable
        {"from_address": "Zoë <news@example.com>"},
        {"headers": [{"Name": "Reply-To", "Value": "help@example.com"}]},  # Django places it itself
        {"headers": [{"Name": "X-Long", "Value": "v" * 1000}]},
        {"headers": [{"Name": "X-Note", "Value": "naïve"}]},
    ],
    ids=["long-line", "non-ascii-name", "reply-to", "long-header", "non-ascii-header"],
)
def test_messages_beyond_the_direct_path_go_through_django(fields):
    ours, django = both(delivery(**fields))
    assert ours is None
    assert parse(django)["Message-ID"] == "<0123456789abcdef@example.com>"


def test_header_injection_is_refused_on_both_paths():
    row = delivery(headers=[{"Name": "X-Evil", "Value": "a\r\nBcc: victim@example.org"}])
    transport = EmailTransport()
    assert _direct_bytes(*_args(transport, row)) is None
    with pytest.raises(BadHeaderError):
        transport.message(row).message()


@pytest.mark.parametrize(
    "fields",
    [{"headers": [{"Name": "X-Evil", "Value": "a\nBcc: victim@example.org"}]}, {"address": "zoë@example.org"}],
    ids=["header-injection", "non-ascii-address"],
)
def test_a_message_no_attempt_can_send_fails_for_good_before_connecting(fields, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", int(closed_port().rsplit(":", 1)[1])  # nobody listens
    transport = EmailTransport()
    with pytest.raises(DeliveryError) as failure:
        transport.send(delivery(**fields))
    assert failure.value.permanent
    assert "cannot be sent" in str(failure.value)
    assert not transport._open


def test_other_backends_refuse_the_same_messages(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    transport = EmailTransport()
    assert not transport.direct
    with pytest.raises(DeliveryError) as failure:
        transport.send(delivery(headers=[{"Name": "X-Evil", "Value": "a\rb"}]))
    assert failure.value.permanent


def test_message_id_and_list_unsubscribe_are_written():
    ours, _ = both(delivery())
    message = parse(ours)
    assert message["Message-ID"] == "<0123456789abcdef@example.com>"
    assert message["List-Unsubscribe"].startswith("<")
    assert message["To"] == "ada@example.org"
