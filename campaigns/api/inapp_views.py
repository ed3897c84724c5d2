"""GetInAppMessages (`GET /v1/apps/{application-id}/endpoints/{endpoint-id}/inappmessages`)."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.inapp import InAppEndpointMissing, inapp_messages
from engage.api.errors import NotFound
from projects.api.mixins import ProjectScopedMixin


class InAppMessagesView(ProjectScopedMixin, APIView):
    """The endpoint's eligible in-app campaigns, as InAppMessagesResponse."""

    def get(self, request: Request, application_id: str, endpoint_id: str) -> Response:
        try:
            campaigns = inapp_messages(self.project, endpoint_id)
        except InAppEndpointMissing:
            raise NotFound("Resource not found") from None
        return Response({"InAppMessageCampaigns": campaigns})
