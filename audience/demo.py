"""Demo audience for `manage.py seed_demo`: endpoints, users, events and two segments.

Written through the same services as the API (endpoints_write, events_put, segment_create), so
the demo data obeys every rule real data does. Deterministic (seeded) and idempotent: a project
that already has endpoints is left alone.
"""

import random
from datetime import timedelta

from django.utils import timezone

from audience.models import Endpoint
from audience.segments import segment_create
from audience.services import endpoints_write, events_put
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
    endpoints_write(project, writes, strict=True, now=now)
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
    return size
