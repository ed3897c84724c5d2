"""Events as Pinpoint's event stream writes them: one JSON object per event (event_version 3.1).

    event_type, event_timestamp and arrival_timestamp (milliseconds since the epoch), event_version,
    application {app_id, sdk {name, version}, package_name, title, version_name, version_code},
    client {client_id: the endpoint id}, device {locale {code, country, language}, make, model,
    platform {name, version}}, session {session_id, start_timestamp, stop_timestamp}, attributes,
    metrics, endpoint (the endpoint as GetEndpoint answers it, when it exists), awsAccountId;
    `_email.*` events add client_context {custom {legacy_identifier}} and
    facets {email_channel {mail_event {mail {...}}}} from the delivery's attributes.

Engage adds `event_id` (the event's key in PutEvents, or the system event's id): with client_id
it names the event uniquely, so a consumer can drop the duplicates at-least-once delivery allows.
The endpoint and device are read when the event is shipped (seconds later), not stored with it.
"""

from datetime import datetime

from audience.models import Event

EVENT_VERSION = "3.1"


def millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _present(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "", {})}


def _device(endpoint: dict | None) -> dict:
    """From the endpoint's Demographic; `platform` is always there, as in Pinpoint's records."""
    demographic = (endpoint or {}).get("Demographic") or {}
    locale = demographic.get("Locale") or ""
    language, _, country = locale.replace("-", "_").partition("_")
    device = _present(
        {
            "locale": _present({"code": locale, "country": country, "language": language}),
            "make": demographic.get("Make"),
            "model": demographic.get("Model"),
        }
    )
    device["platform"] = _present({"name": demographic.get("Platform"), "version": demographic.get("PlatformVersion")})
    return device


def _email_facets(event: Event) -> dict:
    attributes = event.attributes or {}
    mail = _present(
        {
            "message_id": attributes.get("message_id"),
            "message_send_timestamp": millis(event.timestamp) if event.event_type == "_email.send" else None,
            "from_address": attributes.get("from_address"),
            "destination": [attributes["destination"]] if attributes.get("destination") else None,
        }
    )
    return {"email_channel": {"mail_event": {"mail": mail}}}


def event_record(event: Event, endpoint: dict | None, *, account_id: str) -> dict:
    """The stream record of one stored event; `endpoint` is its EndpointResponse, if it exists."""
    demographic = (endpoint or {}).get("Demographic") or {}
    record = {
        "event_type": event.event_type,
        "event_timestamp": millis(event.timestamp),
        "arrival_timestamp": millis(event.received_at),
        "event_version": EVENT_VERSION,
        "application": _present(
            {
                "app_id": event.project_id,
                "package_name": event.app_package_name,
                "title": event.app_title,
                "version_name": demographic.get("AppVersion"),
                "version_code": event.app_version_code,
            }
        )
        | {"sdk": _present({"name": event.sdk_name, "version": event.client_sdk_version})},
        "client": {"client_id": endpoint["Id"] if endpoint else event.endpoint_key},
        "device": _device(endpoint),
        "session": _present(
            {
                "session_id": event.session_id,
                "start_timestamp": millis(event.session_start),
                "stop_timestamp": millis(event.session_stop),
            }
        ),
        "attributes": event.attributes or {},
        "metrics": event.metrics or {},
    }
    if event.event_type.startswith("_email."):
        record["client_context"] = {"custom": {"legacy_identifier": event.project_id}}
        record["facets"] = _email_facets(event)
    if endpoint:
        record["endpoint"] = endpoint
    record["awsAccountId"] = account_id
    record["event_id"] = event.client_event_id
    return record
