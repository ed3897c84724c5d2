"""Transactional sends: SendMessages, SendUsersMessages, SendOTPMessage and VerifyOTPMessage.

The views check the shapes of Pinpoint's request members and call one service each; what goes to
whom is decided in campaigns.messages and campaigns.otp.
"""

from collections.abc import Mapping
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.messages import (
    MessageInvalid,
    MessageSpec,
    Recipient,
    RecipientResult,
    messages_send,
    users_messages_send,
)
from campaigns.otp import OtpInvalid, otp_send, otp_verify
from engage.api.errors import BadRequest, request_id_of
from projects.api.mixins import ProjectScopedMixin

MESSAGES = (
    "DefaultMessage",
    "DefaultPushNotificationMessage",
    "EmailMessage",
    "SMSMessage",
    "VoiceMessage",
    "GCMMessage",
    "APNSMessage",
    "ADMMessage",
    "BaiduMessage",
)
TEMPLATES = ("EmailTemplate", "SMSTemplate", "VoiceTemplate", "PushTemplate")
# Member types where they are not strings (from the model's DirectMessageConfiguration shapes).
BOOLEANS = ("SilentPush",)
INTEGERS = ("TimeToLive", "Badge")
ENUMS = {"Action": ("OPEN_APP", "DEEP_LINK", "URL"), "MessageType": ("TRANSACTIONAL", "PROMOTIONAL")}
OBJECTS = ("SimpleEmail", "RawEmail")


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


def _strings(value: Any, where: str) -> dict[str, str]:
    mapping = _object(value, where)
    if not all(isinstance(v, str) for v in mapping.values()):
        raise BadRequest(f"{where} must map names to strings.")
    return dict(mapping)


def _substitutions(value: Any, where: str) -> dict[str, Any]:
    subs = _object(value, where)
    for name, values in subs.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"{where}.{name} must be a list of strings.")
    return dict(subs)


def _member(name: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    if name == "Substitutions":
        return _substitutions(value, where)
    if name == "Data":
        return _strings(value, where)
    if name in BOOLEANS:
        if not isinstance(value, bool):
            raise BadRequest(f"{where} must be true or false.")
        return value
    if name in INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"{where} must be an integer.")
        return value
    if name in OBJECTS:
        return _object(value, where)
    if name == "ReplyToAddresses":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"{where} must be a list of strings.")
        return value
    text = _string(value, where)
    if name in ENUMS and text and text not in ENUMS[name]:
        raise BadRequest(f"{where} must be one of {', '.join(ENUMS[name])}.")
    return text


def _email(email: Mapping[str, Any]) -> None:
    if email.get("RawEmail"):
        raise BadRequest("EmailMessage.RawEmail is not supported yet: send SimpleEmail parts or an EmailTemplate.")
    simple = email.get("SimpleEmail") or {}
    for part in ("Subject", "TextPart", "HtmlPart"):
        _string(_object(simple.get(part), f"SimpleEmail.{part}").get("Data"), f"SimpleEmail.{part}.Data")
    headers = simple.get("Headers") or []
    if not isinstance(headers, list) or not all(isinstance(h, Mapping) and h.get("Name") for h in headers):
        raise BadRequest("SimpleEmail.Headers must be a list of {Name, Value}.")


def _spec(message: Mapping[str, Any]) -> MessageSpec:
    config = _object(message.get("MessageConfiguration"), "MessageConfiguration")
    messages = {}
    for name in MESSAGES:
        given = _object(config.get(name), f"MessageConfiguration.{name}")
        messages[name] = {k: _member(k, v, f"{name}.{k}") for k, v in given.items()}
    _email(messages["EmailMessage"])
    template_config = _object(message.get("TemplateConfiguration"), "TemplateConfiguration")
    if template_config.get("InAppTemplate"):
        raise BadRequest("InAppTemplate is for in-app campaigns; SendMessages cannot send it.")
    templates = {}
    for name in TEMPLATES:
        template = _object(template_config.get(name), f"TemplateConfiguration.{name}")
        if template:
            if not _string(template.get("Name"), f"{name}.Name"):
                raise BadRequest(f"{name}.Name is required.")
            templates[name] = (template["Name"], _string(template.get("Version"), f"{name}.Version"))
    if not any(messages.values()) and not templates:
        raise BadRequest("MessageConfiguration must hold a message (or TemplateConfiguration a template).")
    return MessageSpec(
        config={k: v for k, v in messages.items() if v},
        templates=templates,
        context=_strings(message.get("Context"), "Context"),
    )


def _recipient(key: str, item: Any, where: str, *, is_endpoint: bool) -> Recipient:
    item = _object(item, where)
    return Recipient(
        key=key,
        is_endpoint=is_endpoint,
        channel_type="" if is_endpoint else _string(item.get("ChannelType"), f"{where}.ChannelType"),
        substitutions=_substitutions(item.get("Substitutions"), f"{where}.Substitutions"),
        title_override=_string(item.get("TitleOverride"), f"{where}.TitleOverride"),
        body_override=_string(item.get("BodyOverride"), f"{where}.BodyOverride"),
        raw_content=_string(item.get("RawContent"), f"{where}.RawContent"),
        context=_strings(item.get("Context"), f"{where}.Context"),
    )


def _recipients(message: Mapping[str, Any]) -> list[Recipient]:
    recipients = []
    for member, is_endpoint in (("Addresses", False), ("Endpoints", True)):
        for key, item in _object(message.get(member), member).items():
            recipients.append(_recipient(key, item, f"{member}.{key}", is_endpoint=is_endpoint))
    if not recipients:
        raise BadRequest("Addresses or Endpoints must name at least one recipient.")
    return recipients


def _shaped(result: RecipientResult, *, with_address: bool) -> dict[str, Any]:
    shaped: dict[str, Any] = {"DeliveryStatus": result.delivery_status, "StatusCode": result.status_code}
    if result.status_message:
        shaped["StatusMessage"] = result.status_message
    if result.message_id:
        shaped["MessageId"] = result.message_id
    if with_address and result.address:
        shaped["Address"] = result.address
    return shaped


class MessagesView(ProjectScopedMixin, APIView):
    """SendMessages. Sent inline: SUCCESSFUL means the provider accepted the message."""

    def post(self, request: Request, application_id: str) -> Response:
        message = _object(request.data, "MessageRequest")
        spec = _spec(message)
        recipients = _recipients(message)
        request_id = request_id_of(request._request)
        try:
            results = messages_send(self.project, recipients, spec, request_id=request_id)
        except MessageInvalid as error:
            raise BadRequest(str(error)) from None
        body: dict[str, Any] = {"ApplicationId": self.project.id, "RequestId": request_id}
        for (is_endpoint, key), result in results.items():
            member = "EndpointResult" if is_endpoint else "Result"
            body.setdefault(member, {})[key] = _shaped(result, with_address=is_endpoint)
        return Response(body)


class UsersMessagesView(ProjectScopedMixin, APIView):
    """SendUsersMessages: every endpoint of each user, results by user then endpoint."""

    def post(self, request: Request, application_id: str) -> Response:
        message = _object(request.data, "SendUsersMessageRequest")
        spec = _spec(message)
        users = {
            user_id: _recipient(user_id, item, f"Users.{user_id}", is_endpoint=True)
            for user_id, item in _object(message.get("Users"), "Users").items()
        }
        if not users:
            raise BadRequest("Users must name at least one user.")
        request_id = request_id_of(request._request)
        try:
            results = users_messages_send(self.project, users, spec, request_id=request_id)
        except MessageInvalid as error:
            raise BadRequest(str(error)) from None
        shaped = {
            user_id: {endpoint_id: _shaped(r, with_address=True) for endpoint_id, r in endpoints.items()}
            for user_id, endpoints in results.items()
        }
        return Response({"ApplicationId": self.project.id, "RequestId": request_id, "Result": shaped})


def _integer(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{where} must be an integer.")
    return value


class OtpView(ProjectScopedMixin, APIView):
    """SendOTPMessage: a fresh code by SMS; the response is a MessageResponse keyed by the destination."""

    def post(self, request: Request, application_id: str) -> Response:
        params = _object(request.data, "SendOTPMessageRequestParameters")
        strings = {
            name: _string(params.get(name), name)
            for name in (
                "BrandName",
                "Channel",
                "DestinationIdentity",
                "OriginationIdentity",
                "ReferenceId",
                "Language",
                "EntityId",
                "TemplateId",
            )
        }
        request_id = request_id_of(request._request)
        try:
            result = otp_send(
                self.project,
                brand_name=strings["BrandName"],
                channel=strings["Channel"],
                destination=strings["DestinationIdentity"],
                origination=strings["OriginationIdentity"],
                reference_id=strings["ReferenceId"],
                code_length=_integer(params.get("CodeLength"), "CodeLength"),
                validity_minutes=_integer(params.get("ValidityPeriod"), "ValidityPeriod"),
                allowed_attempts=_integer(params.get("AllowedAttempts"), "AllowedAttempts"),
                language=strings["Language"],
                entity_id=strings["EntityId"],
                template_id=strings["TemplateId"],
                request_id=request_id,
            )
        except (OtpInvalid, MessageInvalid) as error:
            raise BadRequest(str(error)) from None
        return Response(
            {
                "ApplicationId": self.project.id,
                "RequestId": request_id,
                "Result": {strings["DestinationIdentity"]: _shaped(result, with_address=False)},
            }
        )


class VerifyOtpView(ProjectScopedMixin, APIView):
    """VerifyOTPMessage: {"Valid": true} once for the right code, in time, within the allowed attempts."""

    def post(self, request: Request, application_id: str) -> Response:
        params = _object(request.data, "VerifyOTPMessageRequestParameters")
        values = {name: _string(params.get(name), name) for name in ("DestinationIdentity", "Otp", "ReferenceId")}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise BadRequest(f"{', '.join(missing)} required.")
        valid = otp_verify(
            self.project,
            destination=values["DestinationIdentity"],
            reference_id=values["ReferenceId"],
            otp=values["Otp"],
        )
        return Response({"Valid": valid})
