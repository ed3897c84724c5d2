"""Email engagement: open pixels, signed click redirects, one-click unsubscribe, and the events they
(and an email provider's webhooks) record.

Links in a sent email name a delivery by (project id, delivery id) and carry an HMAC of that, the
link's kind and, for a click, the target URL: `/e/o/TOKEN` (the 1x1 open pixel), `/e/c/TOKEN?u=URL`
(a click, redirected to URL) and `/e/u/TOKEN` (one-click unsubscribe, RFC 8058). A click redirects
only to a URL whose signature checks, so only to a link that was in the message: no open redirect.
The key is derived from SECRET_KEY (SECRET_KEY_FALLBACKS still verify after a rotation); links do not
expire, like Pinpoint's.

Events follow Pinpoint's email event types and go into the project's events for the delivery's
endpoint (a delivery to a bare address has none, and records none). Opens and clicks by one
recipient count once per clock hour (per link for clicks), as Pinpoint counts them: the event id is
(delivery, type, UTC hour[, link]), so a replayed pixel or a mail scanner's burst adds nothing.
"""

import base64
import hashlib
import hmac
import html as html_lib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audience.services import SystemEvent, email_inboxes_opt_out, events_record
from campaigns.models import Delivery

OPEN, CLICK, UNSUBSCRIBE = "o", "c", "u"
SIGNATURE_LENGTH = 22  # base64 characters: 132 bits of HMAC-SHA256
# Pinpoint drops PutEvents attribute values longer than this; we cut what a client sends us (user
# agents, provider responses) to it, but keep links whole: they are what a click means.
ATTRIBUTE_LIMIT = 200
WHOLE_ATTRIBUTES = frozenset({"feedback", "link"})
# Anymail's normalised event types → Pinpoint's. "bounced" is a bounce the provider gave up on;
# "deferred" is a temporary one it retries (Pinpoint's soft bounce).
PROVIDER_EVENTS: Mapping[str, str] = {
    "delivered": "_email.delivered",
    "bounced": "_email.hardbounce",
    "deferred": "_email.softbounce",
    "rejected": "_email.rejected",
    "failed": "_email.rejected",
    "complained": "_email.complaint",
    "opened": "_email.open",
    "clicked": "_email.click",
    "unsubscribed": "_email.unsubscribe",
}
# Metadata the email transport gives an anymail provider, which its webhooks send back.
METADATA_PROJECT, METADATA_MESSAGE = "engage_project", "engage_message_id"


class TokenInvalid(ValueError):
    """A tracking or unsubscribe link that Engage did not make (or made for another URL)."""


def public_url() -> str:
    """The base URL recipients reach this server at (ENGAGE_PUBLIC_URL); empty: no links in emails."""
    return (getattr(settings, "ENGAGE_PUBLIC_URL", "") or "").rstrip("/")


def tracking_enabled() -> bool:
    """Whether sent HTML gets an open pixel and click redirects (ENGAGE_EMAIL_TRACKING, and a public URL)."""
    return bool(public_url()) and getattr(settings, "ENGAGE_EMAIL_TRACKING", True)


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"engage.email.links\x00" + secret.encode()).digest()


def _signature(secret: str, kind: str, project_id: str, delivery_id: int, url: str) -> str:
    message = f"{kind}\x00{project_id}\x00{delivery_id}\x00{url}".encode()
    return base64.urlsafe_b64encode(hmac.digest(_key(secret), message, "sha256")).decode()[:SIGNATURE_LENGTH]


def _token(kind: str, delivery: Delivery, url: str = "") -> str:
    signature = _signature(settings.SECRET_KEY, kind, delivery.project_id, delivery.id, url)
    return f"{delivery.project_id}.{delivery.id}.{signature}"


def token_read(kind: str, token: str, url: str = "") -> tuple[str, int]:
    """(project id, delivery id) of a link of `kind` (for a click: to `url`); raises TokenInvalid."""
    project_id, _, rest = token.partition(".")
    delivery_id, _, signature = rest.partition(".")
    if not (project_id and delivery_id.isdigit() and len(signature) == SIGNATURE_LENGTH):
        raise TokenInvalid("Malformed link.")
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        expected = _signature(secret, kind, project_id, int(delivery_id), url)
        if hmac.compare_digest(expected, signature):
            return project_id, int(delivery_id)
    raise TokenInvalid("The link's signature does not match.")


def open_url(delivery: Delivery) -> str:
    return f"{public_url()}/e/o/{_token(OPEN, delivery)}"


def click_url(delivery: Delivery, target: str, *, base: str | None = None) -> str:
    base = public_url() if base is None else base
    return f"{base}/e/c/{_token(CLICK, delivery, target)}?u={quote(target, safe='')}"


def unsubscribe_url(delivery: Delivery) -> str:
    """The RFC 8058 one-click link ("" without ENGAGE_PUBLIC_URL)."""
    return f"{public_url()}/e/u/{_token(UNSUBSCRIBE, delivery)}" if public_url() else ""


# --- HTML rewriting ------------------------------------------------------------------------------

# A comment (skipped), or the start tag of a link, whose quoted attribute values may hold ">".
# Linear time on any input: an unclosed comment runs to the end (as in browsers), a tag stops at the
# next "<", and a quoted value is at most 8 KB.
_TAGS = re.compile(
    r"<!--(?:.*?-->|.*)|<(?:a|area)\b(?:[^<>\"']|\"[^\"]{0,8192}\"|'[^']{0,8192}')*>", re.IGNORECASE | re.DOTALL
)
_ATTRIBUTE = re.compile(r"""\s*([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_NAME = re.compile(r"<\s*\w+")
_TRACKED_SCHEMES = ("http://", "https://")
# SES's attribute (Pinpoint sends through SES) and ours: leave this link untracked.
NO_TRACK_ATTRIBUTES = frozenset({"ses:no-track", "data-engage-no-track"})


def _rewrite_tag(tag: str, delivery: Delivery, base: str) -> str:
    end = len(tag) - (2 if tag.endswith("/>") else 1)
    href: tuple[int, int, str] | None = None
    # Attribute by attribute from the tag name on; a stray character (a lone "/", a quote) is
    # skipped, as browsers skip it.
    for match in _ATTRIBUTE.finditer(tag, _NAME.match(tag).end(), end):
        name = match.group(1).lower()
        if name in NO_TRACK_ATTRIBUTES:
            return tag
        if name == "href" and href is None and match.group(2) is not None:
            raw = match.group(2)
            value = raw[1:-1] if raw[:1] in "\"'" else raw
            href = (match.start(2), match.end(2), (html_lib.unescape(value) if "&" in value else value).strip())
    if href is None:
        return tag
    begin, finish, target = href
    if not target.lower().startswith(_TRACKED_SCHEMES) or target.startswith(f"{base}/e/"):
        return tag
    return f'{tag[:begin]}"{html_lib.escape(click_url(delivery, target, base=base))}"{tag[finish:]}'


def html_track(html: str, delivery: Delivery) -> str:
    """`html` with each http(s) link (<a>, <area>) sent through a signed click redirect and a 1x1
    open pixel before </body> (or at the end). Links marked ses:no-track or data-engage-no-track,
    other schemes (mailto:, tel:, #...) and Engage's own links are left alone."""
    base = public_url()

    def rewrite(match: re.Match) -> str:
        text = match.group(0)
        return text if text.startswith("<!--") else _rewrite_tag(text, delivery, base)

    tracked = _TAGS.sub(rewrite, html)
    pixel = (
        f'<img src="{html_lib.escape(open_url(delivery))}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )
    body_end = tracked.lower().rfind("</body>")
    if body_end < 0:
        return tracked + pixel
    return tracked[:body_end] + pixel + tracked[body_end:]


# --- Recording -----------------------------------------------------------------------------------


def delivery_find(project_id: str, delivery_id: int) -> Delivery | None:
    return Delivery.objects.filter(project_id=project_id, id=delivery_id).select_related("project").first()


def _cut(name: str, value: str) -> str:
    return value if name in WHOLE_ATTRIBUTES else value[:ATTRIBUTE_LIMIT]


def _attributes(delivery: Delivery, **extra: str) -> dict[str, str]:
    """The attributes every email event of a delivery carries (as deliveries.py writes them), and `extra`."""
    return {
        "message_id": delivery.message_id.strip("<>"),
        "from_address": delivery.from_address,
        "destination": delivery.address,
        "source": delivery.source,
        "request_id": delivery.request_id,
        **delivery.source_attributes(),
        **{name: _cut(name, value) for name, value in extra.items() if value},
    }


def _engagement_id(delivery: Delivery, event_type: str, when: datetime, link: str = "") -> str:
    """One event per delivery, type and UTC clock hour (and link, for clicks): Pinpoint's counting."""
    hour = when.astimezone(UTC).strftime("%Y%m%d%H")
    suffix = f":{hashlib.sha256(link.encode()).hexdigest()[:16]}" if link else ""
    return f"{delivery.id}:{event_type}:{hour}{suffix}"


def _record(delivery: Delivery, event_type: str, event_id: str, when: datetime, attributes: dict[str, str]) -> bool:
    """Store the event; a message sent to an address (no endpoint) reports it with no endpoint key,
    as Pinpoint streams transactional email events (the transactional KPIs count them)."""
    events_record(
        [
            SystemEvent(
                project_id=delivery.project_id,
                endpoint_key=delivery.endpoint_key,
                event_id=event_id,
                event_type=event_type,
                timestamp=when,
                attributes=attributes,
            )
        ]
    )
    return True


def email_open_record(
    delivery: Delivery, *, user_agent: str = "", ip_address: str = "", now: datetime | None = None
) -> bool:
    """Record `_email.open` for the delivery, once per clock hour."""
    now = now or timezone.now()
    attributes = _attributes(delivery, feedback="opened", user_agent=user_agent, ip_address=ip_address)
    return _record(delivery, "_email.open", _engagement_id(delivery, "_email.open", now), now, attributes)


def email_click_record(
    delivery: Delivery, link: str, *, user_agent: str = "", ip_address: str = "", now: datetime | None = None
) -> bool:
    """Record `_email.click` of `link` (feedback = the link, as Pinpoint), once per link and clock hour."""
    now = now or timezone.now()
    attributes = _attributes(delivery, feedback=link, link=link, user_agent=user_agent, ip_address=ip_address)
    return _record(delivery, "_email.click", _engagement_id(delivery, "_email.click", now, link), now, attributes)


def email_unsubscribe(delivery: Delivery, *, method: str = "one-click", now: datetime | None = None) -> list[str]:
    """Set OptOut ALL on the delivery's endpoint and on the project's other EMAIL endpoints with the
    delivery's address (the inbox asked to stop), through endpoints_write, and record
    `_email.unsubscribe` for each; returns their endpoint ids. Idempotent (an opted-out endpoint
    is not written again; the event is once per delivery and endpoint)."""
    now = now or timezone.now()
    project = delivery.project
    attributes = _attributes(delivery, unsubscribe_method=method)
    with transaction.atomic():
        endpoints = email_inboxes_opt_out(project, [delivery.address], endpoint_keys=[delivery.endpoint_key], now=now)
        events_record(
            [
                SystemEvent(
                    project_id=project.pk,
                    endpoint_key=e.key,
                    event_id=f"{delivery.id}:_email.unsubscribe",
                    event_type="_email.unsubscribe",
                    timestamp=now,
                    attributes=attributes,
                )
                for e in endpoints
            ]
        )
    return [e.endpoint_id for e in endpoints]


def delivery_for_provider(message_id: str, metadata: Mapping[str, str]) -> Delivery | None:
    """The delivery a provider's event is about: by the metadata our transport sent (project and
    Message-ID), else by the provider's message id, else by our Message-ID."""
    ours = str(metadata.get(METADATA_MESSAGE) or "").strip("<>")
    if ours:
        found = Delivery.objects.filter(project_id=str(metadata.get(METADATA_PROJECT, "")), message_id=f"<{ours}>")
        return found.select_related("project").first()
    if not message_id:
        return None
    by_provider = Delivery.objects.filter(provider_message_id=message_id).select_related("project").first()
    return by_provider or Delivery.objects.filter(message_id=f"<{message_id.strip('<>')}>").first()


def provider_event_record(
    delivery: Delivery,
    kind: str,
    *,
    esp: str,
    event_id: str = "",
    when: datetime | None = None,
    link: str = "",
    user_agent: str = "",
    mta_response: str = "",
    reject_reason: str = "",
) -> str:
    """Record what an email provider reported (`kind`: anymail's normalised event type) as Pinpoint's
    event; an unsubscribe also opts out as email_unsubscribe does. Returns the Pinpoint event type,
    or "" for kinds Pinpoint has no event for (queued, sent, autoresponded...). Idempotent: per the
    provider's event id when it gives one (per delivery and type when not); opens and clicks count
    once per clock hour, together with Engage's own tracking."""
    event_type = PROVIDER_EVENTS.get(kind, "")
    if not event_type:
        return ""
    when = when or timezone.now()
    if event_type == "_email.unsubscribe":
        email_unsubscribe(delivery, method=f"provider:{esp}", now=when)
        return event_type
    if event_type == "_email.hardbounce":  # the address does not exist: stop writing to it
        email_inboxes_opt_out(delivery.project, [delivery.address], endpoint_keys=[delivery.endpoint_key], now=when)
    if event_type in ("_email.open", "_email.click"):
        record_id = _engagement_id(delivery, event_type, when, link if event_type == "_email.click" else "")
    else:
        suffix = f":{hashlib.sha256(event_id.encode()).hexdigest()[:16]}" if event_id else ""
        record_id = f"{delivery.id}:{event_type}{suffix}"
    feedback = {"_email.delivered": "received", "_email.open": "opened", "_email.click": link}.get(event_type, "")
    attributes = _attributes(
        delivery,
        feedback=feedback or mta_response,
        link=link,
        user_agent=user_agent,
        mta_response=mta_response,
        reject_reason=reject_reason,
        provider=esp,
    )
    _record(delivery, event_type, record_id, when, attributes)
    return event_type
