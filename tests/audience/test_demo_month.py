"""The demo's month of activity (audience.demo.seed_month): written once, through PutEvents and the
outbox's events_record, so the dashboard of `make run`'s Demo project shows a meaningful month."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audience.analytics.dashboard import dashboard_data
from audience.demo import MONTH_DAYS, MONTH_PREFIX, seed_audience, seed_month
from audience.models import Event

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


def test_demo_month_fills_the_dashboard_once(project):
    with time_machine.travel(NOW, tick=False):
        seed_audience(project, size=60)
    written = Event.objects.filter(project=project, client_event_id__startswith=MONTH_PREFIX).count()

    again = seed_month(project, now=NOW)

    data = dashboard_data(project.id, NOW.date() - timedelta(days=MONTH_DAYS - 1), NOW.date())
    assert again == 0
    assert Event.objects.filter(project=project, client_event_id__startswith=MONTH_PREFIX).count() == written
    assert data.sessions > 0 and data.active_endpoints > 0
    assert sum(1 for d in data.days if d.active) > MONTH_DAYS // 2
    assert 0 < data.new_endpoints <= 30  # half of the demo endpoints join during the month
    assert data.totals.sent > 0 and data.totals.failed > 0
    assert data.totals.email_open_rate is not None and data.totals.email_click_rate is not None
    assert set(data.channels) == {"EMAIL", "SMS"}
    assert set(data.sources) == {"TRANSACTIONAL"}


def test_demo_month_has_no_event_after_now(project):
    seed_audience(project, size=40)

    latest = Event.objects.filter(project=project).order_by("-timestamp").first()

    assert latest.timestamp <= datetime.now(UTC)
