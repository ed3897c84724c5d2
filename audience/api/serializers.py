"""Pinpoint shapes of the audience: EndpointResponse and friends."""

from audience.models import AudienceUser, Endpoint
from audience.validation import DEMOGRAPHIC_COLUMNS, LOCATION_NUMBER_COLUMNS, LOCATION_TEXT_COLUMNS
from engage.api.formats import iso8601
from projects.models import Project


def _members(endpoint: Endpoint, columns: dict) -> dict:
    values = {}
    for member, column in columns.items():
        name = column[0] if isinstance(column, tuple) else column
        value = getattr(endpoint, name)
        if value not in ("", None):
            values[member] = value
    return values


def endpoint_response(endpoint: Endpoint, user_attributes: dict | None) -> dict:
    """EndpointResponse; members never set are left out, as Pinpoint does."""
    body = {
        "ApplicationId": endpoint.project_id,
        "Id": endpoint.endpoint_id,
        "CohortId": str(endpoint.cohort_id),
        "CreationDate": iso8601(endpoint.creation_date),
        "EffectiveDate": iso8601(endpoint.effective_date),
        "EndpointStatus": endpoint.status,
        "OptOut": endpoint.opt_out,
        "Attributes": endpoint.attributes,
        "Metrics": endpoint.metrics,
    }
    for member, value in (
        ("ChannelType", endpoint.channel_type),
        ("Address", endpoint.address),
        ("RequestId", endpoint.request_id),
    ):
        if value:
            body[member] = value
    demographic = _members(endpoint, DEMOGRAPHIC_COLUMNS)
    location = {**_members(endpoint, LOCATION_TEXT_COLUMNS), **_members(endpoint, LOCATION_NUMBER_COLUMNS)}
    if demographic:
        body["Demographic"] = demographic
    if location:
        body["Location"] = location
    if endpoint.user_id:
        body["User"] = {"UserId": endpoint.user_id, "UserAttributes": user_attributes or {}}
    return body


def endpoint_responses(project: Project, endpoints: list[Endpoint]) -> list[dict]:
    """EndpointResponses for many endpoints with one query for their users' attributes."""
    user_ids = {e.user_id for e in endpoints if e.user_id}
    attributes = dict(
        AudienceUser.objects.filter(project=project, user_id__in=user_ids).values_list("user_id", "attributes")
    )
    return [endpoint_response(e, attributes.get(e.user_id)) for e in endpoints]
