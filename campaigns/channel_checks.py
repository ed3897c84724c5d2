"""Test messages from the Channels page: one real message through the outbox, sent at once.

The message is an ordinary TRANSACTIONAL Delivery (so it is retried and shows in the outbox like
any other) and goes through the channel's transport, which reports the provider's answer.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from campaigns.channels import EmailChannel, channel_get
from campaigns.deliveries import Outcome, OutgoingMessage, deliveries_create, deliveries_send_batch
from campaigns.models import ChannelKind, DeliveryStatus
from campaigns.transports import TRANSPORTS
from projects.models import Project

TEST_SUBJECT = "Engage test message"
PUSH_KINDS = (
    ChannelKind.GCM,
    ChannelKind.APNS,
    ChannelKind.APNS_SANDBOX,
    ChannelKind.APNS_VOIP,
    ChannelKind.APNS_VOIP_SANDBOX,
    ChannelKind.ADM,
    ChannelKind.BAIDU,
)
ADDRESS_HELP = {
    ChannelKind.EMAIL: "An email address, e.g. you@example.com.",
    ChannelKind.SMS: "A mobile number in E.164 form, e.g. +4915112345678.",
    ChannelKind.VOICE: "A phone number in E.164 form, e.g. +4915112345678.",
}
PUSH_ADDRESS_HELP = "A device token of an app registered with this channel."


class SendCheckInvalid(ValueError):
    """The test message cannot be sent at all (channel off or missing, address malformed)."""


@dataclass(frozen=True)
class SendCheck:
    sent: bool
    retrying: bool  # a transient failure: the outbox retries it later by itself
    detail: str  # the provider's message id, or the error


def can_test(kind: str) -> bool:
    """Whether Engage has a transport for this kind, i.e. a test message can be sent."""
    return kind in TRANSPORTS


def _check_address(kind: str, address: str) -> str:
    address = address.strip()
    if kind == ChannelKind.EMAIL:
        try:
            validate_email(address)
        except ValidationError:
            raise SendCheckInvalid("Enter an email address, e.g. you@example.com.") from None
    elif kind in (ChannelKind.SMS, ChannelKind.VOICE):
        if not re.fullmatch(r"\+[1-9][0-9]{6,14}", address):
            raise SendCheckInvalid(
                "Enter the number in E.164 form: + then country code and number, e.g. +4915112345678."
            )
    elif not address or len(address) > 512:
        raise SendCheckInvalid("Enter a device token.")
    return address


def channel_test_send(project: Project, kind: str, address: str, text: str) -> SendCheck:
    """Send one test message through the project's enabled channel of this kind, inline, and report
    the outcome. Not idempotent (each call sends). Raises SendCheckInvalid when nothing can be sent."""
    channel = channel_get(project, kind)
    if channel is None or not channel.enabled:
        raise SendCheckInvalid("The channel is not enabled: enable it before sending a test message.")
    if not can_test(kind):
        raise SendCheckInvalid(f"Engage cannot deliver {kind} messages yet, so there is nothing to test.")
    address = _check_address(kind, address)
    text = text.strip() or "This is a test message from Engage."
    if kind == ChannelKind.EMAIL:
        message = OutgoingMessage(
            channel=kind,
            address=address,
            subject=TEST_SUBJECT,
            text=text,
            from_address=EmailChannel.load(channel).FromAddress or "",
        )
    elif kind == ChannelKind.SMS:
        message = OutgoingMessage(channel=kind, address=address, payload={"Body": text, "MessageType": "TRANSACTIONAL"})
    elif kind == ChannelKind.VOICE:
        message = OutgoingMessage(channel=kind, address=address, payload={"Body": text})
    else:
        message = OutgoingMessage(
            channel=kind, address=address, payload={"Title": TEST_SUBJECT, "Body": text, "Action": "OPEN_APP"}
        )
    row = deliveries_create(project, [message], enqueue=False)[0]
    outcome: Outcome | None = deliveries_send_batch([row.id]).get(row.id)
    if outcome is None:  # claimed elsewhere meanwhile: the outbox has it
        return SendCheck(sent=False, retrying=True, detail="Queued; the outbox sends it shortly.")
    if outcome.status == DeliveryStatus.SENT:
        return SendCheck(sent=True, retrying=False, detail=outcome.provider_message_id)
    return SendCheck(sent=False, retrying=outcome.status == DeliveryStatus.QUEUED, detail=outcome.message)
