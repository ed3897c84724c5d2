"""The events explorer in a browser: choosing types and a funnel's steps draws Chart.js charts with
the same numbers as the tables, without script errors."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from audience.services import SystemEvent, events_record

pytestmark = pytest.mark.e2e

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


def chart_data(page, canvas_id: str):
    return page.evaluate(
        f"""() => {{
        const chart = window.Chart.getChart(document.getElementById("{canvas_id}"));
        return chart.data.datasets.map((set) => [set.label, set.data]);
    }}"""
    )


def test_explorer_and_funnel_draw_their_charts(sign_in, user, project, tmp_path):
    events = [("a", "v", "view", AT), ("a", "c", "cart", AT + timedelta(hours=1)), ("b", "v", "view", AT)]
    events_record([SystemEvent(project.id, key, event_id, kind, at, {}) for key, event_id, kind, at in events])
    page = sign_in(user)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto("/events/?start=2026-11-19&end=2026-11-21")
    page.get_by_label("cart").check()
    page.get_by_label("view").check()
    page.get_by_role("button", name="Show").click()

    expect(page.locator("#counts-chart")).to_be_visible()
    assert chart_data(page, "counts-chart") == [["cart", [0, 1, 0]], ["view", [0, 2, 0]]]
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)

    page.get_by_role("link", name="Funnel").click()
    page.get_by_label("From").fill("2026-11-20")
    page.get_by_label("To").fill("2026-11-20")
    page.get_by_label("Step 1").select_option("view")
    page.get_by_label("Step 2").select_option("cart")
    page.get_by_role("button", name="Show the funnel").click()

    expect(page.locator("#funnel-chart")).to_be_visible()
    assert chart_data(page, "funnel-chart") == [["Endpoints", [2, 1]]]
    expect(page.locator("#funnel-table")).to_contain_text("50.0%")
    page.screenshot(path=str(tmp_path / "funnel.png"), full_page=True)
    assert errors == []
