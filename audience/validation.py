"""Parsing and checking Pinpoint endpoint JSON (EndpointRequest, EndpointBatchItem, PublicEndpoint).

One parser serves the API, PutEvents and import files, so every way in applies the same limits
with the same messages. The result is an EndpointWrite: only what the client sent, because an
update keeps whatever it does not mention.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from audience.analytics.rollups import is_reserved_event_type
from audience.models import ChannelType, EndpointStatus, OptOut, endpoint_key

MAX_ENDPOINT_BYTES = 15 * 1024
MAX_ATTRIBUTE_NAME = 50
MAX_ATTRIBUTE_VALUE = 100
MAX_VALUES_PER_ATTRIBUTE = 50
MAX_ENDPOINT_ID = 128
MAX_USER_ID = 256
FORBIDDEN_ID_CHARS = set("${}")

DEMOGRAPHIC_COLUMNS = {
    "AppVersion": "app_version",
    "Locale": "locale",
    "Make": "make",
    "Model": "model",
    "ModelVersion": "model_version",
    "Platform": "platform",
    "PlatformVersion": "platform_version",
    "Timezone": "timezone",
}
LOCATION_TEXT_COLUMNS = {"City": "city", "Country": "country", "PostalCode": "postal_code", "Region": "region"}
LOCATION_NUMBER_COLUMNS = {"Latitude": ("latitude", 90.0), "Longitude": ("longitude", 180.0)}


class EndpointInvalid(ValueError):
    """The endpoint JSON breaks a Pinpoint rule; the message says which, for the client."""


@dataclass
class EndpointWrite:
    """What one write sends for one endpoint. Columns, maps and user fields hold only sent members."""

    endpoint_id: str
    columns: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    user_id: str | None = None  # None: not sent; "": detach from the user
    user_attributes: dict[str, list[str]] = field(default_factory=dict)

    @cached_property
    def key(self) -> str:
        return endpoint_key(self.endpoint_id)


def check_endpoint_id(endpoint_id: object) -> str:
    if not isinstance(endpoint_id, str) or not endpoint_id.strip():
        raise EndpointInvalid("Endpoint Id is required.")
    if len(endpoint_id) > MAX_ENDPOINT_ID:
        raise EndpointInvalid(f"Endpoint Id must be at most {MAX_ENDPOINT_ID} characters.")
    if FORBIDDEN_ID_CHARS & set(endpoint_id):
        raise EndpointInvalid("Endpoint Id must not contain '$', '{' or '}'.")
    if "\x00" in endpoint_id:
        raise EndpointInvalid("Endpoint Id must not contain a NUL character.")
    return endpoint_id


def _text(value: object, member: str, *, limit: int = 512) -> str:
    if not isinstance(value, str):
        raise EndpointInvalid(f"{member} must be a string.")
    if len(value) > limit:
        raise EndpointInvalid(f"{member} must be at most {limit} characters.")
    return value


def _object(value: object, member: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise EndpointInvalid(f"{member} must be an object.")
    return value


def attribute_map(value: object, member: str) -> dict[str, list[str]]:
    """A map of attribute name to a list of strings, within Pinpoint's limits."""
    result = {}
    for name, values in _object(value, member).items():
        if not name or len(name) > MAX_ATTRIBUTE_NAME:
            raise EndpointInvalid(f"{member} name '{name[:60]}' must be 1 to {MAX_ATTRIBUTE_NAME} characters.")
        # One pass for the common case (runs per row of an import); anything odd gets the exact
        # checks below, which name the first rule broken.
        if type(values) is list and len(values) <= MAX_VALUES_PER_ATTRIBUTE:
            for v in values:
                if type(v) is not str or len(v) > MAX_ATTRIBUTE_VALUE:
                    break
            else:
                result[name] = list(values)
                continue
        result[name] = _attribute_values(values, f"{member}.{name}")
    return result


def _attribute_values(values: object, member: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise EndpointInvalid(f"{member} must be a list of strings.")
    if len(values) > MAX_VALUES_PER_ATTRIBUTE:
        raise EndpointInvalid(f"{member} has {len(values)} values; at most {MAX_VALUES_PER_ATTRIBUTE}.")
    for v in values:
        if len(v) > MAX_ATTRIBUTE_VALUE:
            raise EndpointInvalid(f"A value of {member} is {len(v)} characters; at most {MAX_ATTRIBUTE_VALUE}.")
    return list(values)


def metric_map(value: object, member: str = "Metrics") -> dict[str, float]:
    result = {}
    for name, number in _object(value, member).items():
        if not name or len(name) > MAX_ATTRIBUTE_NAME:
            raise EndpointInvalid(f"{member} name '{name[:60]}' must be 1 to {MAX_ATTRIBUTE_NAME} characters.")
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise EndpointInvalid(f"{member}.{name} must be a finite number.")
        result[name] = float(number)
    return result


# The enums' `.values` builds a new list on every access; parse_endpoint runs once per row of an import.
CHANNEL_TYPES = tuple(ChannelType.values)
OPT_OUTS = tuple(OptOut.values)
ENDPOINT_STATUSES = tuple(EndpointStatus.values)


def _choice(value: object, member: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise EndpointInvalid(f"{member} must be one of {', '.join(choices)}.")
    return value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def parse_endpoint(endpoint_id: str, body: object, *, small_and_clean: bool = False) -> EndpointWrite:
    """Parse one endpoint object as Pinpoint accepts it; raises EndpointInvalid with the reason.

    small_and_clean=True: the caller has established that the body serializes to less than 15 KB
    and holds no NUL character (an import's CSV row, from its length), so those two checks, which
    serialize the body, are skipped."""
    body = _object(body, "The endpoint")
    if not small_and_clean:
        serialized = json.dumps(body, separators=(",", ":"))
        if len(serialized.encode()) > MAX_ENDPOINT_BYTES:
            raise EndpointInvalid("The endpoint is larger than 15 KB.")
        # PostgreSQL text cannot hold NUL. A NUL anywhere serializes as \u0000, so only bodies whose
        # JSON holds that text need the exact (slower) walk.
        if "\\u0000" in serialized and _has_nul(body):
            raise EndpointInvalid("The endpoint must not contain NUL characters.")
    write = EndpointWrite(endpoint_id=check_endpoint_id(endpoint_id))
    columns = write.columns
    if "ChannelType" in body:
        columns["channel_type"] = _choice(body["ChannelType"], "ChannelType", CHANNEL_TYPES)
    if "Address" in body:
        columns["address"] = _text(body["Address"], "Address")
    if "OptOut" in body:
        columns["opt_out"] = _choice(body["OptOut"], "OptOut", OPT_OUTS)
    if "EndpointStatus" in body:
        columns["status"] = _choice(body["EndpointStatus"], "EndpointStatus", ENDPOINT_STATUSES)
    if "RequestId" in body:
        columns["request_id"] = _text(body["RequestId"], "RequestId", limit=64)
    if "Demographic" in body:
        demographic = _object(body["Demographic"], "Demographic")
        for member, column in DEMOGRAPHIC_COLUMNS.items():
            if member in demographic:
                columns[column] = _text(demographic[member], f"Demographic.{member}", limit=100)
    if "Location" in body:
        location = _object(body["Location"], "Location")
        for member, column in LOCATION_TEXT_COLUMNS.items():
            if member in location:
                columns[column] = _text(location[member], f"Location.{member}", limit=100)
        for member, (column, bound) in LOCATION_NUMBER_COLUMNS.items():
            if member in location:
                number = location[member]
                if isinstance(number, bool) or not isinstance(number, int | float) or not -bound <= number <= bound:
                    raise EndpointInvalid(f"Location.{member} must be a number between -{bound:g} and {bound:g}.")
                columns[column] = round(float(number), 1)  # Pinpoint keeps one decimal place
    if "Attributes" in body:
        write.attributes = attribute_map(body["Attributes"], "Attributes")
    if "Metrics" in body:
        write.metrics = metric_map(body["Metrics"])
    if "User" in body:
        user = _object(body["User"], "User")
        if "UserId" in user:
            write.user_id = _text(user["UserId"], "User.UserId", limit=MAX_USER_ID)
        if "UserAttributes" in user:
            write.user_attributes = attribute_map(user["UserAttributes"], "User.UserAttributes")
    return write


MAX_EVENTS_PER_REQUEST = 100
MAX_EVENT_KEYS = 40
MAX_EVENT_ATTRIBUTE_VALUE = 200
MAX_EVENT_TYPE = 50


@dataclass
class EventWrite:
    client_event_id: str
    event_type: str
    timestamp: datetime
    attributes: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)
    app: dict[str, str] = field(default_factory=dict)


APP_FIELDS = {
    "AppPackageName": "app_package_name",
    "AppTitle": "app_title",
    "AppVersionCode": "app_version_code",
    "ClientSdkVersion": "client_sdk_version",
    "SdkName": "sdk_name",
}


def parse_timestamp(value: object, member: str) -> datetime:
    """An ISO-8601 timestamp; a value without a zone is UTC. Raises EndpointInvalid."""
    if not isinstance(value, str) or not value:
        raise EndpointInvalid(f"{member} must be an ISO-8601 date and time.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise EndpointInvalid(f"{member} '{value[:40]}' is not an ISO-8601 date and time.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_event(client_event_id: str, body: object) -> EventWrite:
    """Parse one Event of PutEvents; raises EndpointInvalid with the reason the event is refused."""
    body = _object(body, "The event")
    if not client_event_id or len(client_event_id) > 128:
        raise EndpointInvalid("The event id must be 1 to 128 characters.")
    event_type = body.get("EventType")
    if not isinstance(event_type, str) or not event_type:
        raise EndpointInvalid("EventType is required.")
    if len(event_type) > MAX_EVENT_TYPE:
        raise EndpointInvalid(f"EventType must be at most {MAX_EVENT_TYPE} characters.")
    if is_reserved_event_type(event_type):
        raise EndpointInvalid(f"EventType {event_type} is reserved: Engage's analytics counts under that name.")
    event = EventWrite(
        client_event_id=client_event_id,
        event_type=event_type,
        timestamp=parse_timestamp(body.get("Timestamp"), "Timestamp"),
    )
    for name, value in _object(body.get("Attributes", {}), "Attributes").items():
        if not name or len(name) > MAX_ATTRIBUTE_NAME:
            raise EndpointInvalid(f"Event attribute name '{name[:60]}' must be 1 to {MAX_ATTRIBUTE_NAME} characters.")
        if not isinstance(value, str):
            raise EndpointInvalid(f"Event attribute {name} must be a string.")
        if len(value) > MAX_EVENT_ATTRIBUTE_VALUE:
            raise EndpointInvalid(
                f"Event attribute {name} is {len(value)} characters; at most {MAX_EVENT_ATTRIBUTE_VALUE}."
            )
        event.attributes[name] = value
    event.metrics = metric_map(body.get("Metrics", {}), "Event metric")
    if len(event.attributes) + len(event.metrics) > MAX_EVENT_KEYS:
        raise EndpointInvalid(f"An event can have at most {MAX_EVENT_KEYS} attributes and metrics together.")
    if "Session" in body:
        session = _object(body["Session"], "Session")
        if not isinstance(session.get("Id"), str) or not session["Id"]:
            raise EndpointInvalid("Session.Id is required.")
        event.session = {
            "session_id": _text(session["Id"], "Session.Id", limit=128),
            "session_start": parse_timestamp(session.get("StartTimestamp"), "Session.StartTimestamp"),
        }
        if session.get("StopTimestamp") is not None:
            event.session["session_stop"] = parse_timestamp(session["StopTimestamp"], "Session.StopTimestamp")
        if session.get("Duration") is not None:
            duration = session["Duration"]
            if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
                raise EndpointInvalid("Session.Duration must be a whole number of milliseconds.")
            event.session["session_duration"] = duration
    for member, column in APP_FIELDS.items():
        if member in body:
            event.app[column] = _text(body[member], member, limit=256 if "App" in member else 64)
    return event
