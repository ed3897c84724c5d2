"""Pinpoint's channel operations: GetChannels, and Get/Update/Delete for each channel resource.

Which resource a request names comes from the route (`kind`); the rest is campaigns.channels.
"""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.channels import (
    ChannelInvalid,
    channel_delete,
    channel_get,
    channel_response,
    channel_summary,
    channel_update,
    channels_list,
)
from campaigns.models import ChannelKind
from engage.api.errors import BadRequest, NotFound
from projects.api.mixins import ProjectScopedMixin

# The payload member each kind's requests and responses are wrapped in, as the model names them.
SHAPE_PREFIX = {
    ChannelKind.EMAIL: "Email",
    ChannelKind.SMS: "SMS",
    ChannelKind.VOICE: "Voice",
    ChannelKind.GCM: "GCM",
    ChannelKind.APNS: "APNS",
    ChannelKind.APNS_SANDBOX: "APNSSandbox",
    ChannelKind.APNS_VOIP: "APNSVoip",
    ChannelKind.APNS_VOIP_SANDBOX: "APNSVoipSandbox",
    ChannelKind.ADM: "ADM",
    ChannelKind.BAIDU: "Baidu",
}


class ChannelsView(ProjectScopedMixin, APIView):
    """GetChannels: every configured channel, enabled or not, keyed by its platform."""

    def get(self, request: Request, application_id: str) -> Response:
        channels = {channel.kind: channel_summary(channel) for channel in channels_list(self.project)}
        return Response({"Channels": channels})


class ChannelView(ProjectScopedMixin, APIView):
    """Get/Update/Delete<Kind>Channel for the kind given by the route."""

    kind: str = ""  # set per route

    def get(self, request: Request, application_id: str) -> Response:
        channel = channel_get(self.project, self.kind)
        if channel is None:
            raise NotFound("Resource not found")
        return Response(channel_response(channel))

    def put(self, request: Request, application_id: str) -> Response:
        if not isinstance(request.data, dict):
            raise BadRequest(f"The request body must be a JSON object ({SHAPE_PREFIX[self.kind]}ChannelRequest).")
        try:
            channel = channel_update(self.project, self.kind, request.data, by=request.user.get_username())
        except ChannelInvalid as error:
            raise BadRequest(str(error)) from None
        return Response(channel_response(channel))

    def delete(self, request: Request, application_id: str) -> Response:
        return Response(channel_response(channel_delete(self.project, self.kind)))
