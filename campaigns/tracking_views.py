"""Public endpoints that links in sent emails reach (no login): the open pixel, click redirects and
one-click unsubscribe; and the receiver of anymail's provider webhooks (campaigns.apps connects it)."""

import base64
from email.utils import parseaddr

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent
from anymail.utils import get_anymail_setting
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import tracking
from campaigns.models import Delivery

# The smallest transparent GIF: 1x1, one colour, transparent.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, no-cache, max-age=0, private", "Referrer-Policy": "no-referrer"}


def _client(request: HttpRequest) -> dict[str, str]:
    return {"user_agent": request.headers.get("User-Agent", ""), "ip_address": request.META.get("REMOTE_ADDR", "")}


def _delivery(kind: str, token: str, url: str = "") -> tuple[Delivery | None, bool]:
    """(the delivery, whether the link is genuine). A genuine link whose delivery was deleted gives None."""
    try:
        project_id, delivery_id = tracking.token_read(kind, token, url)
    except tracking.TokenInvalid:
        return None, False
    return tracking.delivery_find(project_id, delivery_id), True


@require_http_methods(["GET", "HEAD"])
def email_open(request: HttpRequest, token: str) -> HttpResponse:
    """The open pixel: records `_email.open` (GET only) and answers a 1x1 GIF; 404 for a forged link."""
    delivery, genuine = _delivery(tracking.OPEN, token)
    if not genuine:
        raise Http404("Not an Engage tracking link.")
    if delivery is not None and request.method == "GET":
        tracking.email_open_record(delivery, **_client(request))
    return HttpResponse(PIXEL, content_type="image/gif", headers=NO_STORE)


@require_http_methods(["GET", "HEAD"])
def email_click(request: HttpRequest, token: str) -> HttpResponse:
    """A tracked link: records `_email.click` (GET only) and redirects to the link, which the token signs."""
    target = request.GET.get("u", "")
    delivery, genuine = _delivery(tracking.CLICK, token, target)
    if not genuine or not target.lower().startswith(("http://", "https://")):
        raise Http404("Not an Engage tracking link.")
    if delivery is not None and request.method == "GET":
        tracking.email_click_record(delivery, target, **_client(request))
    return HttpResponseRedirect(target, headers=NO_STORE)


@csrf_exempt  # RFC 8058: mail clients POST without a session; the signed token is the authority
@require_http_methods(["GET", "POST"])
def email_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page asking to confirm (mail scanners fetch links: a GET changes nothing).
    POST (the page's button, or a mail client's one-click `List-Unsubscribe=One-Click`): opt out."""
    delivery, _ = _delivery(tracking.UNSUBSCRIBE, token)
    if delivery is None:
        raise Http404("This unsubscribe link is not valid (any more).")
    sender = parseaddr(delivery.from_address or settings.DEFAULT_FROM_EMAIL)[1]
    context = {"sender": sender, "address": delivery.address}
    if request.method == "GET":
        response = render(request, "campaigns/unsubscribe.html", context)
    else:
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        opted_out = tracking.email_unsubscribe(delivery, method="one-click" if one_click else "page")
        response = render(request, "campaigns/unsubscribe_done.html", {**context, "opted_out": opted_out})
    for name, value in NO_STORE.items():
        response[name] = value
    return response


def anymail_tracking_received(sender: type, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """anymail's `tracking` signal: the provider's event as Pinpoint's, for the delivery it names.

    A webhook protected by nothing but HTTP basic auth is refused (400) while ANYMAIL has no
    WEBHOOK_SECRET: anyone could otherwise post forged bounces and unsubscribes."""
    if getattr(sender, "warn_if_no_basic_auth", True) and not get_anymail_setting("webhook_secret", default=None):
        raise AnymailWebhookValidationFailure(
            f"Engage ignores {esp_name} webhooks until ANYMAIL's WEBHOOK_SECRET is set (HTTP basic auth)."
        )
    delivery = tracking.delivery_for_provider(event.message_id or "", event.metadata or {})
    if delivery is None:
        return
    tracking.provider_event_record(
        delivery,
        event.event_type,
        esp=esp_name,
        event_id=event.event_id or "",
        when=event.timestamp,
        link=event.click_url or "",
        user_agent=event.user_agent or "",
        mta_response=event.mta_response or event.description or "",
        reject_reason=event.reject_reason or "",
    )
