"""The only code that talks to S3: import jobs read from it, export jobs write to it.

Any S3-compatible store works: ENGAGE_S3_ENDPOINT_URL names it (empty: AWS S3), and boto3 finds
credentials and region where it always does (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION, ~/.aws, an instance role). Errors leave as StorageError with a message fit
for a job's Failures.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import IO, BinaryIO
from urllib.parse import urlsplit

import boto3
import urllib3.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

# Part size of multipart uploads: exports stream files of any size with this much in memory.
UPLOAD_PART_BYTES = 8 * 1024 * 1024


class StorageError(Exception):
    """S3 refused or could not be reached; the message says what happened, for the job."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int


def parse_s3_url(url: str) -> S3Location:
    """s3://bucket/key-or-prefix as a location; raises ValueError saying what is wrong."""
    parts = urlsplit(url or "")
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"'{url}' is not an S3 URL; use s3://bucket-name/folder-name/file-name.")
    if parts.query or parts.fragment:
        raise ValueError(f"'{url}' has a query or fragment; use s3://bucket-name/folder-name/file-name.")
    return S3Location(bucket=parts.netloc, key=parts.path.lstrip("/"))


@cache
def _client(endpoint_url: str):
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


def client():
    """The boto3 S3 client for the configured store (one per process and endpoint)."""
    return _client(settings.ENGAGE_S3_ENDPOINT_URL)


def _error(action: str, location: str, error: Exception) -> StorageError:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return StorageError(
            f"{action} {location} failed: {detail.get('Code', 'Error')} {detail.get('Message', '')}".strip()
        )
    return StorageError(f"{action} {location} failed: {error}")


def list_objects(location: S3Location, *, suffixes: tuple[str, ...]) -> list[S3Object]:
    """Objects at a key or under a prefix (recursively) whose names end with one of `suffixes`
    (case-insensitive), in key order. Raises StorageError."""
    found = []
    try:
        pages = client().get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.key)
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith("/") and key.lower().endswith(suffixes):
                    found.append(S3Object(key=key, size=item["Size"]))
    except (BotoCoreError, ClientError) as error:
        raise _error("Listing", location.url, error) from error
    return sorted(found, key=lambda o: o.key)


def open_object(bucket: str, key: str, *, offset: int = 0) -> BinaryIO:
    """A stream of the object's bytes from `offset` on (a ranged GET). Raises StorageError."""
    arguments = {"Bucket": bucket, "Key": key}
    if offset:
        arguments["Range"] = f"bytes={offset}-"
    try:
        return client().get_object(**arguments)["Body"]
    except (BotoCoreError, ClientError) as error:
        raise _error("Reading", f"s3://{bucket}/{key}", error) from error


def read_chunks(stream: IO[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    """The stream's bytes in blocks; a connection lost mid-read is a StorageError."""
    try:
        while block := stream.read(size):
            yield block
    except (BotoCoreError, ClientError, OSError, urllib3.exceptions.HTTPError) as error:
        raise StorageError(f"Reading failed part-way: {error}") from error


def upload(location: S3Location, fileobj: IO[bytes], *, content_type: str, content_encoding: str = "") -> None:
    """Write one object from a file (multipart when large, so memory stays flat). Raises StorageError."""
    extra = {"ContentType": content_type}
    if content_encoding:
        extra["ContentEncoding"] = content_encoding
    try:
        client().upload_fileobj(
            fileobj,
            location.bucket,
            location.key,
            ExtraArgs=extra,
            Config=TransferConfig(
                multipart_threshold=UPLOAD_PART_BYTES, multipart_chunksize=UPLOAD_PART_BYTES, use_threads=False
            ),
        )
    except (BotoCoreError, ClientError) as error:
        raise _error("Writing", location.url, error) from error
