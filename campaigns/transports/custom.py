"""CUSTOM channel: Pinpoint's custom-channel webhook call to a campaign's or journey's DeliveryUri.

Each call POSTs Pinpoint's payload for up to 50 endpoints:
  {"Message": {}, "Data": "<CustomMessage.Data>", "ApplicationId": "...", "CampaignId": "...",
   "TreatmentId": "...", "ActivityId": "...", "JourneyId": "..." (journeys), "ScheduledTime":
   "2026-11-28T18:15:19.120Z", "Endpoints": {"<endpoint id>": {ChannelType, Address, EndpointStatus,
   OptOut, Location, Demographic, EffectiveDate, Attributes, User, CreationDate...}},
   "MessageIds": {"<endpoint id>": "<Engage's delivery id, the same on retries>"}}
`MessageIds` is Engage's addition (for dropping duplicates after a retry); the rest is Pinpoint's.
The request is signed with the project's webhook secret as engage.webhooks describes. A 2xx answer
delivers every endpoint of the call; 408, 425, 429 and 5xx are retried later; other statuses fail
them for good. (Journey webhooks may answer EventAttributes per endpoint: not read yet.)

A delivery's payload (campaigns.models.Delivery) carries Data and DeliveryUri, and from the campaign
or journey that made it: CampaignId, TreatmentId, ActivityId, JourneyId, ScheduledTime. Deliveries
that share all of these (and the project) go out in one call: use `send_many`; `send` sends one.

Lambda functions (a DeliveryUri that is not a URL) are not supported: such deliveries fail
permanently, saying so. `custom_uri_check(url)` is Pinpoint's HEAD check, for campaign and journey
code to call when a webhook DeliveryUri is configured.
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

import httpx
from django.conf import settings

from audience.api.serializers import endpoint_responses
from audience.models import Endpoint
from campaigns.models import Delivery
from campaigns.transports.base import DeliveryError
from campaigns.transports.http import HttpTransport, answer_error, client, post
from engage.api.formats import iso8601
from engage.webhooks import UrlRefused, check_url, project_secret, signed_headers
from projects.models import Project

MAX_ENDPOINTS = 50  # Pinpoint's limit of endpoints per custom-channel call
ACCOUNT_HEADER = "X-Amz-Pinpoint-AccountId"
CALL_MEMBERS = ("DeliveryUri", "Data", "CampaignId", "TreatmentId", "ActivityId", "JourneyId", "ScheduledTime")
HIDDEN_ENDPOINT_MEMBERS = ("ApplicationId", "Id", "RequestId", "CohortId")


class CustomUriInvalid(ValueError):
    """A DeliveryUri that Engage cannot use (answered 400 where it is configured)."""


def custom_uri_check(url: str, *, account_id: str | None = None) -> None:
    """Pinpoint's check of a webhook DeliveryUri, for campaign and journey code to call when one is set:
    the URL must be allowed (https, or http to loopback) and answer a HEAD request with the header
    X-Amz-Pinpoint-AccountId equal to the installation's account id (ENGAGE_ACCOUNT_ID). Raises
    CustomUriInvalid saying what is wrong; makes one request with the provider timeout."""
    account_id = account_id or settings.ENGAGE_ACCOUNT_ID
    if not url.lower().startswith(("https://", "http://")):
        raise CustomUriInvalid(
            "DeliveryUri names an AWS Lambda function: Engage delivers custom channels to https:// webhooks only."
        )
    try:
        check_url(url)
    except UrlRefused as error:
        raise CustomUriInvalid(str(error)) from None
    try:
        with client() as http:
            response = http.head(url)
    except httpx.HTTPError as error:
        raise CustomUriInvalid(f"The webhook at {url} cannot be reached: {type(error).__name__}.") from None
    if response.headers.get(ACCOUNT_HEADER) != account_id:
        raise CustomUriInvalid(
            f"Engage received an invalid response from the resource at the specified URL: a HEAD request must "
            f"be answered with the header {ACCOUNT_HEADER}: {account_id} (HTTP {response.status_code} came back "
            f"{'without it' if ACCOUNT_HEADER.lower() not in response.headers else 'with another value'})."
        )


class CustomTransport(HttpTransport):
    """One keep-alive HTTP client per batch; deliveries to the same call share one POST (≤ 50)."""

    def __init__(self) -> None:
        super().__init__()
        self._projects: dict[str, Project] = {}

    def send(self, delivery: Delivery) -> str:
        """Deliver one endpoint's message in its own call; returns our message id or raises DeliveryError."""
        outcome = self.send_many([delivery])[delivery.id]
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    def send_many(self, deliveries: Sequence[Delivery]) -> dict[int, str | DeliveryError]:
        """Deliver many, grouped into calls of ≤ 50 endpoints that share project and call members.
        Returns each delivery's provider message id, or the DeliveryError that ended its call."""
        self.open()
        groups: dict[tuple, list[Delivery]] = {}
        for delivery in deliveries:
            key = (delivery.project_id, *(str(delivery.payload.get(m) or "") for m in CALL_MEMBERS))
            groups.setdefault(key, []).append(delivery)
        outcomes: dict[int, str | DeliveryError] = {}
        for group in groups.values():
            for start in range(0, len(group), MAX_ENDPOINTS):
                chunk = group[start : start + MAX_ENDPOINTS]
                try:
                    self._call(chunk)
                except DeliveryError as error:
                    outcomes.update((d.id, error) for d in chunk)
                else:
                    outcomes.update((d.id, d.message_id) for d in chunk)
        return outcomes

    def _call(self, chunk: Sequence[Delivery]) -> None:
        first = chunk[0]
        uri = str(first.payload.get("DeliveryUri") or "")
        if not uri:
            raise DeliveryError("The custom message has no DeliveryUri.", permanent=True, code=400)
        if not uri.lower().startswith(("https://", "http://")):
            raise DeliveryError(
                "DeliveryUri names an AWS Lambda function: Engage delivers custom channels to webhooks only.",
                permanent=True,
                code=400,
            )
        try:
            check_url(uri)
        except UrlRefused as error:
            raise DeliveryError(str(error), permanent=True, code=400) from None
        endpoints = self._endpoints(first.project_id, chunk)
        body: dict[str, Any] = {"Message": {}, "Data": str(first.payload.get("Data") or "")}
        body["ApplicationId"] = first.project_id
        for name in ("CampaignId", "TreatmentId", "ActivityId", "JourneyId"):
            if first.payload.get(name):
                body[name] = str(first.payload[name])
        body["ScheduledTime"] = str(first.payload.get("ScheduledTime") or iso8601(first.created_at))
        body["Endpoints"] = {key: document for key, (document, _) in endpoints.items()}
        body["MessageIds"] = {key: message_id for key, (_, message_id) in endpoints.items()}
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = signed_headers(project_secret(first.project_id), raw)
        response = post(self.http, uri, "The custom channel webhook", content=raw, headers=headers)
        if not response.is_success:
            raise answer_error(response, "The custom channel webhook")

    def _endpoints(self, project_id: str, chunk: Iterable[Delivery]) -> dict[str, tuple[dict, str]]:
        """Endpoint id → (its Pinpoint document, the delivery's message id); a delivery to an address
        with no stored endpoint is keyed by the address."""
        chunk = list(chunk)
        keys = [d.endpoint_key for d in chunk if d.endpoint_key]
        found: dict[str, tuple[str, dict]] = {}
        if keys:
            project = self._projects.get(project_id) or Project.objects.get(pk=project_id)
            self._projects[project_id] = project
            rows = list(Endpoint.objects.for_project(project).filter(key__in=keys))
            for row, document in zip(rows, endpoint_responses(project, rows), strict=True):
                for name in HIDDEN_ENDPOINT_MEMBERS:
                    document.pop(name, None)
                found[row.key] = (row.endpoint_id, document)
        endpoints: dict[str, tuple[dict, str]] = {}
        for d in chunk:
            endpoint_id, document = found.get(d.endpoint_key, (d.endpoint_key or d.address, None))
            endpoints[endpoint_id] = (document or {"ChannelType": "CUSTOM", "Address": d.address}, d.message_id)
        return endpoints
