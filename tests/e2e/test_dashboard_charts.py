"""The project dashboard's charts in Chromium: static/engage/dashboard.js draws each canvas from the
page's JSON (activity and messages per day as lines, messages per channel as bars) and shows it, with
no script error; the tables stay the accessible copy."""

from datetime import UTC, datetime

from django.urls import reverse

from audience.services import SystemEvent, events_record

DAY = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def drawn(page, name: str) -> dict:
    return page.evaluate(
        """(name) => {
            const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
            const chart = window.Chart && window.Chart.getChart(canvas);
            return {hidden: canvas.hidden, type: chart ? chart.config.type : null,
                    sets: chart ? chart.data.datasets.map((s) => s.label) : [],
                    labels: chart ? chart.data.labels.length : 0};
        }""",
        name,
    )


def test_the_dashboard_charts_are_drawn(sign_in, user, project):
    events_record(
        [
            SystemEvent(project.id, "ann", "s1", "_email.send", DAY, {"message_id": "m1"}),
            SystemEvent(project.id, "bob", "s2", "_SMS.BUFFERED", DAY, {"message_id": "m2"}),
        ]
    )
    page = sign_in(user)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(reverse("dashboard") + "?start=2026-11-01&end=2026-11-07")
    page.wait_for_function("() => !document.querySelector('canvas[data-chart=\"channels\"]').hidden")

    assert drawn(page, "activity") == {
        "hidden": False,
        "type": "line",
        "sets": ["Active endpoints", "New endpoints", "Sessions"],
        "labels": 7,
    }
    assert drawn(page, "messages")["sets"][:2] == ["Sent", "Delivered"]
    assert drawn(page, "channels") == {
        "hidden": False,
        "type": "bar",
        "sets": ["Sent", "Delivered", "Failed"],
        "labels": 2,
    }
    assert errors == []
