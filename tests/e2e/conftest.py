"""Browser tests: Playwright's sync API driving Debian's Chromium against the live server.

Playwright's sync API keeps an event loop running in the test's thread while it is started, and
Django refuses ORM calls while a loop runs (SynchronousOnlyOperation). So Playwright starts and
stops within each test, and DJANGO_ALLOW_ASYNC_UNSAFE is set only for that time: the rest of the
suite keeps Django's check.
"""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page(live_server, transactional_db, monkeypatch):
    """A fresh page (1280 by 900) in headless Chromium; closed before the test's data is flushed."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
        browser.close()
        playwright.stop()


@pytest.fixture
def sign_in(client, browser_page, live_server):
    """Sign a user in to the browser by copying a test-client session cookie into it."""

    def sign_in_as(user):
        client.force_login(user)
        browser_page.context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )
        return browser_page

    return sign_in_as
