"""SendMessages (`POST /v1/apps/{application-id}/messages`): MessageRequest → MessageResponse.

Email only so far: a request naming any other channel is refused whole, before anything is sent.
"""

from collections.abc import Mapping
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.messages import EmailContent, MessageInvalid, Recipient, messages_send
from engage.api.errors import BadRequest, request_id_of
from projects.api.mixins import ProjectScopedMixin

NOT_BUILT = "Engage sends EMAIL only so far; SMS, VOICE, push and custom channels are not built yet."
OTHER_MESSAGES = (
    "DefaultMessage",
    "DefaultPushNotificationMessage",
    "ADMMessage",
    "APNSMessage",
    "BaiduMessage",
    "GCMMessage",
    "SMSMessage",
    "VoiceMessage",
)
OTHER_TEMPLATES = ("PushTemplate", "SMSTemplate", "VoiceTemplate", "InAppTemplate")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"{where} must be an object.")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a string.")
    return value


def _substitutions(value: Any, where: str) -> dict[str, Any]:
    subs = _object(value, where)
    for name, values in subs.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"{where}.{name} must be a list of strings.")
    return dict(subs)


def _part(simple: Mapping[str, Any], name: str) -> str:
    return _string(_object(simple.get(name), f"SimpleEmail.{name}").get("Data"), f"SimpleEmail.{name}.Data")


def _content(message: Mapping[str, Any]) -> EmailContent:
    config = _object(message.get("MessageConfiguration"), "MessageConfiguration")
    templates = _object(message.get("TemplateConfiguration"), "TemplateConfiguration")
    if any(config.get(name) for name in OTHER_MESSAGES) or any(templates.get(name) for name in OTHER_TEMPLATES):
        raise BadRequest(NOT_BUILT)
    email = _object(config.get("EmailMessage"), "EmailMessage")
    if email.get("RawEmail"):
        raise BadRequest("EmailMessage.RawEmail is not supported yet: send SimpleEmail parts or an EmailTemplate.")
    simple = _object(email.get("SimpleEmail"), "SimpleEmail")
    headers = simple.get("Headers") or []
    if not isinstance(headers, list) or not all(isinstance(h, Mapping) and h.get("Name") for h in headers):
        raise BadRequest("SimpleEmail.Headers must be a list of {Name, Value}.")
    template = _object(templates.get("EmailTemplate"), "EmailTemplate")
    if template and not _string(template.get("Name"), "EmailTemplate.Name"):
        raise BadRequest("EmailTemplate.Name is required.")
    if not email and not template:
        raise BadRequest("MessageConfiguration.EmailMessage or TemplateConfiguration.EmailTemplate is required.")
    return EmailContent(
        subject=_part(simple, "Subject"),
        text=_part(simple, "TextPart") or _string(email.get("Body"), "EmailMessage.Body"),
        html=_part(simple, "HtmlPart"),
        headers=tuple((str(h["Name"]), str(h.get("Value", ""))) for h in headers),
        from_address=_string(email.get("FromAddress"), "EmailMessage.FromAddress"),
        substitutions=_substitutions(email.get("Substitutions"), "EmailMessage.Substitutions"),
        template=(template["Name"], str(template.get("Version") or "")) if template else None,
    )


def _recipients(message: Mapping[str, Any]) -> list[Recipient]:
    recipients = []
    for member, is_endpoint in (("Addresses", False), ("Endpoints", True)):
        for key, item in _object(message.get(member), member).items():
            item = _object(item, f"{member}.{key}")
            if not is_endpoint and item.get("ChannelType") != "EMAIL":
                raise BadRequest(NOT_BUILT if item.get("ChannelType") else f"Addresses.{key}.ChannelType is required.")
            recipients.append(
                Recipient(
                    key=key,
                    is_endpoint=is_endpoint,
                    substitutions=_substitutions(item.get("Substitutions"), f"{member}.{key}.Substitutions"),
                    title_override=_string(item.get("TitleOverride"), f"{member}.{key}.TitleOverride"),
                    body_override=_string(item.get("BodyOverride"), f"{member}.{key}.BodyOverride"),
                )
            )
    if not recipients:
        raise BadRequest("Addresses or Endpoints must name at least one recipient.")
    return recipients


class MessagesView(ProjectScopedMixin, APIView):
    """SendMessages. Sent inline: SUCCESSFUL means the SMTP server accepted the message."""

    def post(self, request: Request, application_id: str) -> Response:
        message = _object(request.data, "MessageRequest")
        content = _content(message)
        recipients = _recipients(message)
        request_id = request_id_of(request._request)
        try:
            results = messages_send(self.project, recipients, content, request_id=request_id)
        except MessageInvalid as error:
            raise BadRequest(str(error)) from None
        body: dict[str, Any] = {"ApplicationId": self.project.id, "RequestId": request_id}
        for (is_endpoint, key), result in results.items():
            shaped = {"DeliveryStatus": result.delivery_status, "StatusCode": result.status_code}
            if result.status_message:
                shaped["StatusMessage"] = result.status_message
            if result.message_id:
                shaped["MessageId"] = result.message_id
            if is_endpoint:
                if result.address:
                    shaped["Address"] = result.address
                body.setdefault("EndpointResult", {})[key] = shaped
            else:
                body.setdefault("Result", {})[key] = shaped
        return Response(body)
