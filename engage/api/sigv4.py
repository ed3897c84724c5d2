"""AWS Signature Version 4 verification, server side.

The server recomputes the signature the client made (botocore's algorithm) from the raw request
and compares in constant time. Pure functions over plain values: no Django, no database.
The caller looks up the secret for the access key id named in the credential scope.
"""

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "mobiletargeting"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


class SignatureError(Exception):
    """The request is not correctly signed. `message` is safe to show the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownAccessKey(SignatureError):
    def __init__(self) -> None:
        super().__init__("The security token included in the request is invalid.")


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs of a request. `raw_path` is the path as sent, still percent-encoded."""

    method: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def is_sigv4(authorization_header: str | None) -> bool:
    return bool(authorization_header) and authorization_header.startswith(ALGORITHM)


def parse_authorization(header: str) -> Authorization:
    """Parse an `Authorization: AWS4-HMAC-SHA256 ...` header; raises SignatureError."""
    match = _AUTH_RE.match(header.strip())
    if not match:
        raise SignatureError("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise SignatureError(
            "Credential should be of the form <AccessKeyId>/<yyyymmdd>/<region>/<service>/aws4_request."
        )
    key_id, date, region, service, _ = parts
    if service != SERVICE:
        raise SignatureError(f"Credential should be scoped to correct service: '{SERVICE}'.")
    signed = tuple(match["signed_headers"].split(";"))
    if list(signed) != sorted(signed) or any(h != h.lower() for h in signed):
        raise SignatureError("SignedHeaders must be lower-case and sorted.")
    if "host" not in signed:
        raise SignatureError("The host header must be signed.")
    return Authorization(key_id, date, region, service, signed, match["signature"])


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    for segment in path.split("/"):
        if segment == ".":
            continue
        if segment == "..":
            if output:
                output.pop()
            continue
        output.append(segment)
    result = "/".join(output)
    if not result.startswith("/"):
        result = "/" + result
    if path.endswith("/") and not result.endswith("/"):
        result += "/"
    return result


def canonical_uri(raw_path: str) -> str:
    # Like botocore for every service but S3: the already-encoded path is encoded once more.
    return quote(_remove_dot_segments(raw_path or "/"), safe="/~")


def canonical_query(query_string: str) -> str:
    pairs = []
    for item in query_string.split("&") if query_string else []:
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_headers(headers: Mapping[str, str], signed: tuple[str, ...]) -> str:
    lines = []
    for name in signed:
        if name not in headers:
            raise SignatureError(f"The signed header '{name}' is missing from the request.")
        value = " ".join(headers[name].split())
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(request: SignedRequest, auth: Authorization) -> str:
    payload_hash = hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.raw_path),
            canonical_query(request.query_string),
            canonical_headers(request.headers, auth.signed_headers),
            ";".join(auth.signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, auth: Authorization, creq: str) -> str:
    return "\n".join([ALGORITHM, amz_date, auth.scope, hashlib.sha256(creq.encode()).hexdigest()])


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k_date = _hmac(("AWS4" + secret).encode(), date)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def request_time(headers: Mapping[str, str]) -> tuple[str, datetime]:
    """The signed request time from X-Amz-Date; raises SignatureError."""
    amz_date = headers.get("x-amz-date", "")
    try:
        return amz_date, datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("The request must carry an X-Amz-Date header in the form yyyyMMddTHHmmssZ.") from None


def verify(
    request: SignedRequest,
    lookup_secret: Callable[[str], str | None],
    *,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
) -> Authorization:
    """Check the request's signature; returns the parsed authorization or raises SignatureError.

    `lookup_secret(access_key_id)` returns the key's secret, or None when the key is unknown or
    revoked (then UnknownAccessKey is raised).
    """
    auth = parse_authorization(request.headers.get("authorization", ""))
    amz_date, signed_at = request_time(request.headers)
    if amz_date[:8] != auth.date:
        raise SignatureError("The credential scope date does not match the date of X-Amz-Date.")
    if signed_at < now - max_skew:
        raise SignatureError(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - max_skew).strftime(AMZ_DATE_FORMAT)} ({now.strftime(AMZ_DATE_FORMAT)} - "
            f"{int(max_skew.total_seconds() // 60)} min.)"
        )
    if signed_at > now + max_skew:
        raise SignatureError(
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + max_skew).strftime(AMZ_DATE_FORMAT)} ({now.strftime(AMZ_DATE_FORMAT)} + "
            f"{int(max_skew.total_seconds() // 60)} min.)"
        )
    secret = lookup_secret(auth.access_key_id)
    if secret is None:
        raise UnknownAccessKey()
    creq = canonical_request(request, auth)
    sts = string_to_sign(amz_date, auth, creq)
    expected = hmac.new(signing_key(secret, auth.date, auth.region, auth.service), sts.encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), auth.signature):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
        )
    return auth
