"""Demo audience for `manage.py seed_demo`: endpoints, users, events, two segments, and a month of
activity for the dashboard.

Written through the same services as the API and the outbox (endpoints_write, events_put,
events_record, segment_create), so the demo data obeys every rule real data does and the analytics
rollup counts it as it counts real data. Deterministic (seeded) and idempotent: a project that
already has endpoints gets no new ones, and the month of activity is written once.

The month: half of the endpoints existed before it, the other half join over its days. Each day a
share of them (fewer at weekends, more as the month goes on) opens the app: `_session.start`, a few
custom events, `_session.stop`. Every Tuesday the email endpoints get a newsletter (sent, a few
failures and bounces, opens, clicks, the odd unsubscribe) and a few SMS endpoints get an order update
each day (a STOP reply now and then) — as Engage's outbox and tracking report them.
"""

import random
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

from django.utils import timezone

from audience.models import Endpoint, Event
from audience.segments import segment_create
from audience.services import SystemEvent, endpoints_write, events_put, events_record
from audience.validation import parse_endpoint, parse_event
from projects.models import Project

FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
INTERESTS = ["music", "science", "sports", "travel", "food", "film", "books"]
PLANS = ["free", "free", "pro", "team"]
PLACES = [
    ("US", "Seattle", 47.6, -122.3),
    ("FR", "Paris", 48.9, 2.3),
    ("GB", "London", 51.5, -0.1),
    ("DE", "Berlin", 52.5, 13.4),
]
DEMO_SIZE = 300
MONTH_DAYS = 30
MONTH_PREFIX = "month-"  # the event ids of the month of activity
APP_EVENTS = ["pageView", "productViewed", "productViewed", "addToCart", "purchase"]
NEWSLETTER_WEEKDAY = 1  # Tuesday


def seed_audience(project: Project, *, size: int = DEMO_SIZE) -> int:
    """Create the demo audience in `project` unless it has endpoints; returns endpoints created."""
    if Endpoint.objects.filter(project=project).exists():
        return 0
    rng = random.Random(7)
    now = timezone.now()
    writes = []
    for i in range(size):
        user = f"user-{i // 2:04d}"  # two endpoints per user: an email and a phone
        country, city, lat, lon = rng.choice(PLACES)
        common = {
            "Attributes": {"Interests": rng.sample(INTERESTS, rng.randint(1, 3)), "Plan": [rng.choice(PLANS)]},
            "Metrics": {"visits": float(rng.randrange(60)), "orders": float(rng.randrange(8))},
            "Demographic": {"Platform": rng.choice(["ios", "android", "web"]), "Timezone": "UTC", "Locale": "en_US"},
            "Location": {"Country": country, "City": city, "Latitude": lat, "Longitude": lon},
            "OptOut": "ALL" if rng.random() < 0.05 else "NONE",
            "User": {"UserId": user, "UserAttributes": {"FirstName": [rng.choice(FIRST_NAMES)]}},
        }
        if i % 2 == 0:
            body = {**common, "ChannelType": "EMAIL", "Address": f"{user}@example.com"}
        else:
            body = {**common, "ChannelType": "SMS", "Address": f"+1206555{i:04d}"}
        writes.append(parse_endpoint(f"demo-{i:04d}", body))
    # The first half existed before the month of activity; the rest join over its days.
    joined: dict[datetime, list] = {}
    for i, write in enumerate(writes):
        day = MONTH_DAYS + 15 if i < size // 2 else rng.randrange(MONTH_DAYS)
        when = min(now - timedelta(days=day, hours=rng.randrange(24)), now)
        joined.setdefault(when, []).append(write)
    for when in sorted(joined):
        endpoints_write(project, joined[when], strict=True, now=when)
    batches = {}
    for i in range(0, size, 3):
        when = now - timedelta(hours=rng.randrange(24 * 40))
        event = {"EventType": "_session.start", "Timestamp": when.isoformat()}
        batches[f"demo-{i:04d}"] = (parse_endpoint(f"demo-{i:04d}", {}), {f"s-{i}": parse_event(f"s-{i}", event)})
    events_put(project, batches, now=now)
    segment_create(
        project,
        name="Pro and team plans",
        dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro", "team"]}}},
    )
    segment_create(
        project,
        name="Active this week, outside the US",
        dimensions={
            "Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}},
            "Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": ["US"]}},
        },
    )
    seed_month(project, now=now)
    return size


class _Demo(NamedTuple):
    endpoint_id: str
    key: str
    channel: str
    address: str
    reachable: bool  # not opted out
    created: datetime


def seed_month(project: Project, *, now: datetime | None = None) -> int:
    """A month of app events and message outcomes for the demo endpoints of `project`, unless written
    already (its event ids are fixed); returns the number of events written."""
    if Event.objects.filter(project=project, client_event_id__startswith=MONTH_PREFIX).exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(11)
    rows = Endpoint.objects.filter(project=project, endpoint_id__startswith="demo-").order_by("key")
    endpoints = [
        _Demo(e, k, c, a, o == "NONE", d)
        for e, k, c, a, o, d in rows.values_list(
            "endpoint_id", "key", "channel_type", "address", "opt_out", "creation_date"
        )
    ]
    first_day = now.astimezone(UTC).date() - timedelta(days=MONTH_DAYS - 1)
    app: dict[str, tuple] = {}
    system: list[SystemEvent] = []
    for offset in range(MONTH_DAYS):
        day = first_day + timedelta(days=offset)
        start = datetime.combine(day, time.min, tzinfo=UTC)
        share = 0.22 + 0.18 * offset / MONTH_DAYS - (0.1 if day.weekday() >= 5 else 0)
        for endpoint in endpoints:
            if rng.random() >= share:
                continue
            began = start + timedelta(seconds=rng.randrange(7 * 3600, 23 * 3600))
            if began > now or began < endpoint.created:
                continue
            _, events = app.setdefault(endpoint.endpoint_id, (parse_endpoint(endpoint.endpoint_id, {}), {}))
            session = {"Id": f"{endpoint.key}-{day:%m%d}", "StartTimestamp": began.isoformat()}
            kinds = ["_session.start", *rng.sample(APP_EVENTS, rng.randint(0, 3)), "_session.stop"]
            for n, kind in enumerate(kinds):
                event_id = f"{MONTH_PREFIX}{day:%m%d}-{n}"
                when = min(began + timedelta(minutes=3 * n), now)
                body = {"EventType": kind, "Timestamp": when.isoformat(), "Session": session}
                events[event_id] = parse_event(event_id, body)
        if day.weekday() == NEWSLETTER_WEEKDAY:
            system += _newsletter(project.id, rng, endpoints, start)
        system += _sms_updates(project.id, rng, endpoints, start)
    events_put(project, app, now=now)
    system = [e for e in system if e.timestamp <= now]
    events_record(system)
    return sum(len(events) for _, events in app.values()) + len(system)


def _newsletter(project_id: str, rng: random.Random, endpoints: list[_Demo], start: datetime) -> list[SystemEvent]:
    """A newsletter to the email endpoints: its outcomes as the outbox and the tracking report them."""
    out = []
    for endpoint in endpoints:
        sent = start + timedelta(hours=10, seconds=rng.randrange(600))
        if endpoint.channel != "EMAIL" or not endpoint.reachable or endpoint.created > sent:
            continue
        message_id = f"{MONTH_PREFIX}{start:%m%d}-{endpoint.key}"
        base = {"message_id": message_id, "destination": endpoint.address, "source": "transactional"}
        for kind, when, extra in _email_outcomes(rng, sent):
            out.append(SystemEvent(project_id, endpoint.key, f"{message_id}:{kind}", kind, when, {**base, **extra}))
    return out


def _email_outcomes(rng: random.Random, sent: datetime) -> list[tuple[str, datetime, dict[str, str]]]:
    """One email's events: refused (1.5 %), or sent and then bounced (2 %) or opened (38 %), clicked
    (a quarter of the openers) and unsubscribed (2 % of the openers)."""
    if rng.random() < 0.015:
        return [("_email.hardbounce", sent, {"error": "550 5.1.1 mailbox unavailable"})]
    events = [("_email.send", sent, {})]
    if rng.random() < 0.02:
        return [*events, ("_email.hardbounce", sent + timedelta(minutes=5), {})]
    if rng.random() < 0.38:
        opened = sent + timedelta(minutes=rng.randrange(5, 48 * 60))
        events.append(("_email.open", opened, {}))
        if rng.random() < 0.25:
            events.append(("_email.click", opened + timedelta(seconds=90), {}))
        if rng.random() < 0.02:
            events.append(("_email.unsubscribe", opened + timedelta(seconds=120), {}))
    return events


def _sms_updates(project_id: str, rng: random.Random, endpoints: list[_Demo], start: datetime) -> list[SystemEvent]:
    """A few order-update SMS of the day: accepted, sometimes refused, now and then a STOP reply."""
    out = []
    phones = [e for e in endpoints if e.channel == "SMS" and e.reachable and e.created <= start]
    for endpoint in rng.sample(phones, min(len(phones), 4)):
        sent = start + timedelta(seconds=rng.randrange(8 * 3600, 20 * 3600))
        message_id = f"{MONTH_PREFIX}{start:%m%d}-{endpoint.key}"
        base = {
            "message_id": message_id,
            "destination_phone_number": endpoint.address,
            "message_type": "Transactional",
        }
        if rng.random() < 0.05:
            failed = {**base, "error": "unreachable"}
            out.append(SystemEvent(project_id, endpoint.key, f"{message_id}:f", "_SMS.FAILURE", sent, failed))
            continue
        out.append(SystemEvent(project_id, endpoint.key, f"{message_id}:b", "_SMS.BUFFERED", sent, base))
        if rng.random() < 0.04:
            stop = sent + timedelta(minutes=10)
            out.append(SystemEvent(project_id, endpoint.key, f"{message_id}:o", "_SMS.OPTOUT", stop, base))
    return out
