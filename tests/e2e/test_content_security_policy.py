"""Engage's pages under their Content-Security-Policy in Chromium: each carries the header, and the
browser reports no violation (a blocked script, style or image) and no script error while loading."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

PAGES = [
    "/",
    "/audience/",
    "/segments/",
    "/events/",
    "/events/funnel/",
    "/templates/",
    "/templates/new/email/",
    "/campaigns/",
    "/campaigns/new/",
    "/campaigns/calendar/",
    "/journeys/",
    "/journeys/new/",
    "/channels/",
    "/settings/",
    "/account/keys/",
]

LISTEN = """() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation",
        (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
}"""


def load_all(sign_in, user, paths: list[str]) -> list[str]:
    """The violations and script errors seen while loading each path in turn."""
    page = sign_in(user)
    page.add_init_script(f"({LISTEN})()")
    problems = []
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and problems.append(f"{page.url}: {message.text}"),
    )

    for path in paths:
        response = page.goto(path)
        page.wait_for_load_state("load")

        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        problems += [f"{path}: {v}" for v in page.evaluate("() => window.__violations")]

    return problems


def test_pages_load_under_the_policy_without_violations(sign_in, user, project):
    assert load_all(sign_in, user, PAGES) == []


def test_the_segment_builder_loads_under_the_policy_without_violations(sign_in, user, project):
    assert load_all(sign_in, user, ["/segments/new/"]) == []


def test_the_admin_loads_under_the_policy_without_violations(sign_in, project):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)

    problems = load_all(sign_in, admin, ["/admin/", "/admin/auth/user/", f"/admin/auth/user/{admin.pk}/change/"])

    assert problems == []
