"""The message figures' formulas and the daily series the campaign and journey pages draw."""

from datetime import date, timedelta

from campaigns.message_metrics import MAX_SERIES_DAYS, SERIES, Figures, series_of


def test_the_kpi_formulas():
    figures = Figures(accepted=90, failed=10, bounced=5, opens=17, clicks=4, opt_outs=1)

    assert (figures.attempted, figures.delivered) == (100, 85)
    assert (figures.delivery_rate, figures.open_rate, figures.click_rate) == (85.0, 20.0, 4.7)


def test_more_bounces_than_accepted_messages_deliver_none_and_no_rate_without_messages():
    assert Figures(accepted=1, bounced=3).delivered == 0
    assert (Figures().delivery_rate, Figures().open_rate) == (None, None)


def test_the_series_fills_the_days_between():
    series = series_of({date(2026, 11, 30): {"sent": 3}, date(2026, 12, 2): {"opens": 2}}, SERIES)

    assert series.rows() == [
        (date(2026, 11, 30), [3, 0, 0, 0, 0]),
        (date(2026, 12, 1), [0, 0, 0, 0, 0]),
        (date(2026, 12, 2), [0, 0, 2, 0, 0]),
    ]
    assert series.labels == ["Sent", "Delivered", "Opened", "Clicked", "Opted out"]
    assert not series.clipped


def test_a_long_life_shows_its_latest_days():
    last = date(2026, 12, 31)
    series = series_of({date(2020, 1, 1): {"sent": 1}, last: {"sent": 2}}, SERIES)

    assert len(series.days) == MAX_SERIES_DAYS
    assert series.days[0] == last - timedelta(days=MAX_SERIES_DAYS - 1)
    assert series.clipped
    assert series.chart_data()["datasets"][0]["data"][-1] == 2


def test_no_data_is_an_empty_series():
    series = series_of({}, SERIES)

    assert (series.days, series.rows()) == ([], [])
