"""Content-Security-Policy on every page (settings.ENGAGE_CONTENT_SECURITY_POLICY).

Engage's pages load scripts, styles and images from their own origin only and have no inline
script, so one fixed header is enough: no nonces, no per-view policy, no dependency for it.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from engage.api.middleware import is_api_request


class ContentSecurityPolicyMiddleware:
    """Adds the policy to responses outside /v1/ that do not set their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.ENGAGE_CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and not is_api_request(request) and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response
