"""PhoneNumberValidate (`POST /v1/phone/number/validate`): NumberValidateRequest → NumberValidateResponse.

Account-level like templates: no project in the path. Any member of a project may call it (it reads
nothing of a project and writes nothing); a signed caller with no membership is refused (403).
"""

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.phone import CountryCodeInvalid, NumberInfo, phone_number_validate
from engage.api.errors import BadRequest, Forbidden
from projects.models import Project


def _string(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"NumberValidateRequest.{name} must be a string.")
    return value


def number_validate_response(info: NumberInfo) -> dict[str, Any]:
    members = {
        "Carrier": info.carrier,
        "City": info.city,
        "CleansedPhoneNumberE164": info.cleansed_e164,
        "CleansedPhoneNumberNational": info.cleansed_national,
        "Country": info.country,
        "CountryCodeIso2": info.country_code_iso2,
        "CountryCodeNumeric": info.country_code_numeric,
        "OriginalCountryCodeIso2": info.original_country_code_iso2,
        "OriginalPhoneNumber": info.original_phone_number,
        "PhoneType": info.phone_type,
        "Timezone": info.timezone,
    }
    return {**{name: value for name, value in members.items() if value}, "PhoneTypeCode": info.phone_type_code}


class PhoneNumberValidateView(APIView):
    def post(self, request: Request) -> Response:
        if not Project.objects.visible_to(request.user).exists():
            raise Forbidden("PhoneNumberValidate is available to members of a project.")
        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise BadRequest("The body must be a NumberValidateRequest object.")
        phone_number = _string(body, "PhoneNumber")
        if not phone_number.strip():
            raise BadRequest("NumberValidateRequest.PhoneNumber is required.")
        try:
            info = phone_number_validate(phone_number, _string(body, "IsoCountryCode"))
        except CountryCodeInvalid as error:
            raise BadRequest(str(error)) from None
        return Response(number_validate_response(info))
