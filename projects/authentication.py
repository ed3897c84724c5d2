"""DRF authentication by AWS Signature Version 4 with Engage access keys."""

from datetime import timedelta
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from engage import crypto
from engage.api import sigv4
from projects.models import AccessKey
from projects.services import access_key_mark_used


def raw_path(request: HttpRequest) -> str:
    """The request path as the client sent it, still percent-encoded.

    gunicorn passes RAW_URI and uWSGI REQUEST_URI. Without either, the decoded path is encoded
    again the way botocore encodes labels, which is exact except for a `%2F` inside a segment.
    """
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        return urlsplit(raw).path or "/"
    return quote(request.path, safe="/")


def _headers(request: HttpRequest) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").lower(): v for k, v in request.META.items() if k.startswith("HTTP_")}
    if "CONTENT_TYPE" in request.META:
        headers["content-type"] = request.META["CONTENT_TYPE"]
    if request.META.get("CONTENT_LENGTH"):
        headers["content-length"] = request.META["CONTENT_LENGTH"]
    return headers


class SigV4Authentication(BaseAuthentication):
    """Verifies `Authorization: AWS4-HMAC-SHA256 ...` against the stored (encrypted) secret.

    Requests without such a header are left to the next authenticator (browser sessions).
    """

    def authenticate(self, request: Request):
        django_request = request._request
        header = django_request.META.get("HTTP_AUTHORIZATION", "")
        if not sigv4.is_sigv4(header):
            return None
        found: dict[str, AccessKey] = {}

        def lookup_secret(access_key_id: str) -> str | None:
            key = AccessKey.objects.active().select_related("user").filter(access_key_id=access_key_id).first()
            if key is None:
                return None
            found["key"] = key
            return crypto.decrypt(key.secret_encrypted)

        signed = sigv4.SignedRequest(
            method=django_request.method,
            raw_path=raw_path(django_request),
            query_string=django_request.META.get("QUERY_STRING", ""),
            headers=_headers(django_request),
            body=django_request.body,
        )
        try:
            sigv4.verify(
                signed,
                lookup_secret,
                now=timezone.now(),
                max_skew=timedelta(seconds=settings.ENGAGE_SIGV4_MAX_SKEW),
            )
        except sigv4.SignatureError as exc:
            raise AuthenticationFailed(exc.message) from None
        key = found["key"]
        access_key_mark_used(key)
        return key.user, key
