"""The only code that talks to event stream destinations: Kinesis Data Streams (PutRecords),
Kinesis Data Firehose (PutRecordBatch) and webhooks (a signed JSON POST).

Kinesis and Firehose are reached through boto3 at ENGAGE_KINESIS_ENDPOINT_URL /
ENGAGE_FIREHOSE_ENDPOINT_URL (empty: AWS, in the region of the ARN), with boto3's own credentials
(AWS_ACCESS_KEY_ID..., ~/.aws, an instance role), like audience.storage does for S3. The stream's
RoleArn is stored and echoed, never assumed. Failures leave as DestinationError with a message fit
for the stream's last error.
"""

import json
import re
import uuid
from dataclasses import dataclass
from functools import cache

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from engage.http import outgoing_client
from engage.webhooks import UrlRefused, check_url, project_secret, signed_headers

KINESIS = "kinesis"
FIREHOSE = "firehose"
WEBHOOK = "webhook"

# What one call may carry: both services take 500 records; Firehose 4 MiB a call, Kinesis 5 MiB.
MAX_RECORDS = 500
MAX_BYTES = 4 * 1024 * 1024
BATCH_ID_HEADER = "X-Engage-Batch-Id"
ERROR_TEXT_LIMIT = 300

ARN = re.compile(
    r"^arn:aws[a-z-]*:(?P<service>kinesis|firehose):(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<type>stream|deliverystream)/(?P<name>[A-Za-z0-9_.-]{1,128})$"
)


class DestinationInvalid(ValueError):
    """A DestinationStreamArn Engage cannot ship to; the message says why."""


class DestinationError(Exception):
    """The destination refused or could not be reached; the records stay pending."""


@dataclass(frozen=True)
class Destination:
    kind: str  # KINESIS, FIREHOSE or WEBHOOK
    name: str  # stream name, delivery stream name, or the URL
    region: str = ""


def parse_destination(value: str) -> Destination:
    """A Kinesis stream ARN, a Firehose delivery stream ARN, or a webhook URL; raises DestinationInvalid."""
    value = (value or "").strip()
    if value.startswith(("https://", "http://")):
        try:
            return Destination(kind=WEBHOOK, name=check_url(value))
        except UrlRefused as error:
            raise DestinationInvalid(str(error)) from None
    match = ARN.match(value)
    if not match:
        raise DestinationInvalid(
            "DestinationStreamArn must be a Kinesis data stream ARN (arn:aws:kinesis:region:account-id:stream/name), "
            "a Kinesis Data Firehose ARN (arn:aws:firehose:region:account-id:deliverystream/name), "
            "or an https:// webhook URL."
        )
    expected = "stream" if match["service"] == KINESIS else "deliverystream"
    if match["type"] != expected:
        raise DestinationInvalid(f"A {match['service']} ARN names a {expected}/, not a {match['type']}/.")
    return Destination(kind=match["service"], name=match["name"], region=match["region"])


@dataclass(frozen=True)
class OutgoingRecord:
    data: bytes  # one record's JSON
    partition_key: str  # Kinesis shard choice: the endpoint, so its events stay in order


@cache
def _client(service: str, region: str, endpoint_url: str):
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url or None, config=config)


def _aws_error(action: str, error: Exception) -> DestinationError:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return DestinationError(f"{action} failed: {detail.get('Code', 'Error')} {detail.get('Message', '')}".strip())
    return DestinationError(f"{action} failed: {error}")


def _rejected(answers: list[dict], action: str) -> tuple[list[bool], str]:
    """Per record, whether it was taken; and what the first refusal said (throttling, mostly)."""
    accepted = [not answer.get("ErrorCode") for answer in answers]
    failed = next((a for a in answers if a.get("ErrorCode")), None)
    if failed is None:
        return accepted, ""
    refused = accepted.count(False)
    return accepted, f"{action}: {refused} records refused ({failed['ErrorCode']} {failed.get('ErrorMessage', '')})"


def http_client() -> httpx.Client:
    """A keep-alive client for one shipping run (making one costs more than a batch's POST)."""
    return outgoing_client()


def send(
    destination: Destination, records: list[OutgoingRecord], *, project_id: str, http: httpx.Client
) -> tuple[list[bool], str]:
    """Ship one batch (≤ MAX_RECORDS, ≤ MAX_BYTES); `http` serves webhooks. Returns, per record,
    whether the destination took it, and an error message when some were refused. Raises
    DestinationError when the call failed."""
    if destination.kind == KINESIS:
        try:
            answer = _client("kinesis", destination.region, settings.ENGAGE_KINESIS_ENDPOINT_URL).put_records(
                StreamName=destination.name,
                Records=[{"Data": r.data, "PartitionKey": r.partition_key or project_id} for r in records],
            )
        except (BotoCoreError, ClientError) as error:
            raise _aws_error(f"Kinesis PutRecords to {destination.name}", error) from error
        return _rejected(answer["Records"], f"Kinesis PutRecords to {destination.name}")
    if destination.kind == FIREHOSE:
        try:
            answer = _client("firehose", destination.region, settings.ENGAGE_FIREHOSE_ENDPOINT_URL).put_record_batch(
                DeliveryStreamName=destination.name,
                # Newline-delimited, so the objects Firehose writes are one JSON record per line.
                Records=[{"Data": r.data + b"\n"} for r in records],
            )
        except (BotoCoreError, ClientError) as error:
            raise _aws_error(f"Firehose PutRecordBatch to {destination.name}", error) from error
        return _rejected(answer["RequestResponses"], f"Firehose PutRecordBatch to {destination.name}")
    return _post(http, destination.name, records, project_id=project_id)


def _post(http: httpx.Client, url: str, records: list[OutgoingRecord], *, project_id: str) -> tuple[list[bool], str]:
    body = b'{"application_id": %s, "records": [%s]}' % (
        json.dumps(project_id).encode(),
        b", ".join(r.data for r in records),
    )
    headers = {**signed_headers(project_secret(project_id), body), BATCH_ID_HEADER: uuid.uuid4().hex}
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise DestinationError(f"Webhook {url} cannot be reached: {type(error).__name__}: {error}") from error
    if not 200 <= response.status_code < 300:
        text = " ".join(response.text.split())[:ERROR_TEXT_LIMIT]
        raise DestinationError(f"Webhook {url} answered HTTP {response.status_code} {text}".rstrip())
    return [True] * len(records), ""
