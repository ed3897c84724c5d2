"""The outside world of each channel: only this package talks to SMTP and provider APIs.

One module per kind of transport, one class per kind, all with the interface of
`campaigns.transports.base.Transport`; TRANSPORTS maps a Delivery's channel to its class. A transport
is opened once per batch, sends deliveries one by one over that connection, and raises DeliveryError
saying whether a failure is permanent (do not retry) or transient (retry later).
"""

from collections.abc import Mapping

from campaigns.models import ChannelKind, DeliveryChannel
from campaigns.transports.apns import ApnsSandboxTransport, ApnsTransport, ApnsVoipSandboxTransport, ApnsVoipTransport
from campaigns.transports.base import DeliveryError, Transport
from campaigns.transports.custom import CustomTransport
from campaigns.transports.email import EmailTransport
from campaigns.transports.fcm import FcmTransport
from campaigns.transports.phone import SmsTransport, VoiceTransport

# ADM and BAIDU have no transport: their deliveries end as UNSUPPORTED_CHANNEL.
TRANSPORTS: Mapping[str, type[Transport]] = {
    ChannelKind.EMAIL: EmailTransport,
    ChannelKind.SMS: SmsTransport,
    ChannelKind.VOICE: VoiceTransport,
    DeliveryChannel.CUSTOM: CustomTransport,
    ChannelKind.GCM: FcmTransport,
    ChannelKind.APNS: ApnsTransport,
    ChannelKind.APNS_SANDBOX: ApnsSandboxTransport,
    ChannelKind.APNS_VOIP: ApnsVoipTransport,
    ChannelKind.APNS_VOIP_SANDBOX: ApnsVoipSandboxTransport,
}

__all__ = ["TRANSPORTS", "DeliveryError", "Transport"]
