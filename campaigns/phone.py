"""PhoneNumberValidate, offline: what Google's libphonenumber data (the `phonenumbers` package, with its
carrier, geocoder and time-zone tables) says about a number, in Pinpoint's NumberValidateResponse.

Pinpoint asks carriers; Engage reads the numbering plans, so some answers differ (README "Validating
phone numbers"):
- Where a plan does not separate mobile from fixed lines (the +1 countries, a few others) the type is
  MOBILE: Engage cannot tell, and refusing those numbers would refuse every US number.
- PREPAID is never answered; County and ZipCode are never known. Carrier is the operator the range
  was allocated to (numbers may have been ported since), known for mobile ranges of many countries.
- City is the geocoder's place name ("Mountain View, CA", "London"); Timezone is given only when the
  number falls in one zone.
A number that cannot be read, or is not valid in its plan, answers PhoneType INVALID (code 3), as
Pinpoint does, with whatever the parse established (country code, E.164 form) and no country name.
"""

import re
from dataclasses import dataclass, replace

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, carrier, geocoder, timezone

MAX_INPUT = 100  # longer input is no phone number; answered INVALID without parsing
LANGUAGE = "en"

# Pinpoint's PhoneType and PhoneTypeCode.
MOBILE, LANDLINE, VOIP, INVALID, OTHER = "MOBILE", "LANDLINE", "VOIP", "INVALID", "OTHER"
TYPE_CODES = {MOBILE: 0, LANDLINE: 1, VOIP: 2, INVALID: 3, OTHER: 4, "PREPAID": 5}
TYPE_OF = {
    PhoneNumberType.MOBILE: MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: MOBILE,  # see the module docstring
    PhoneNumberType.FIXED_LINE: LANDLINE,
    PhoneNumberType.VOIP: VOIP,
}
ISO_CODE = re.compile(r"^[A-Za-z]{2}$")


class CountryCodeInvalid(ValueError):
    """IsoCountryCode is not a two-letter region libphonenumber knows (answered 400)."""


@dataclass(frozen=True)
class NumberInfo:
    """NumberValidateResponse; empty strings are members Pinpoint would leave out."""

    original_phone_number: str
    original_country_code_iso2: str = ""
    phone_type: str = INVALID
    cleansed_e164: str = ""
    cleansed_national: str = ""
    country: str = ""
    country_code_iso2: str = ""
    country_code_numeric: str = ""
    carrier: str = ""
    city: str = ""
    timezone: str = ""

    @property
    def phone_type_code(self) -> int:
        return TYPE_CODES[self.phone_type]


def _region(iso_country_code: str) -> str | None:
    if not iso_country_code:
        return None
    region = iso_country_code.upper()
    if not ISO_CODE.match(region) or region not in phonenumbers.SUPPORTED_REGIONS:
        raise CountryCodeInvalid(
            f"IsoCountryCode '{iso_country_code[:20]}' is not an ISO 3166-1 alpha-2 code of a country or "
            "region with a telephone numbering plan."
        )
    return region


def _parse(phone_number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The number, read as international when it starts with + (or without a region, as digits that
    begin with the country code), else in `region`'s national format; None when it cannot be read."""
    text = phone_number.strip()
    attempts = [text]
    if region is None and not text.startswith("+"):
        attempts = [f"+{text}"]
    for attempt in attempts:
        try:
            return phonenumbers.parse(attempt, region)
        except NumberParseException:
            continue
    return None


def _national_digits(number: phonenumbers.PhoneNumber) -> str:
    return "".join(ch for ch in phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL) if ch.isdigit())


def phone_number_validate(phone_number: str, iso_country_code: str = "") -> NumberInfo:
    """What the numbering plans say about the number. Pure and offline; raises CountryCodeInvalid."""
    region = _region(iso_country_code)
    original = NumberInfo(original_phone_number=phone_number, original_country_code_iso2=iso_country_code)
    number = _parse(phone_number, region) if len(phone_number) <= MAX_INPUT else None
    if number is None:
        return original
    main_region = phonenumbers.region_code_for_country_code(number.country_code)
    parsed = replace(
        original,
        cleansed_e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        cleansed_national=_national_digits(number),
        country_code_numeric=str(number.country_code),
        country_code_iso2=main_region if main_region != phonenumbers.UNKNOWN_REGION else "",
    )
    if not phonenumbers.is_valid_number(number):
        return parsed
    country = geocoder.country_name_for_number(number, LANGUAGE)
    place = geocoder.description_for_number(number, LANGUAGE)
    zones = [z for z in timezone.time_zones_for_number(number) if z != timezone.UNKNOWN_TIMEZONE]
    return replace(
        parsed,
        phone_type=TYPE_OF.get(phonenumbers.number_type(number), OTHER),
        country_code_iso2=phonenumbers.region_code_for_number(number) or parsed.country_code_iso2,
        country=country,
        city=place if place and place != country else "",
        carrier=carrier.name_for_number(number, LANGUAGE),
        timezone=zones[0] if len(zones) == 1 else "",
    )
