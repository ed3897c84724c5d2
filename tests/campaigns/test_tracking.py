"""Open and click tracking and one-click unsubscribe: mail through a real SMTP server, links fetched
from the live server over HTTP."""

import http.client
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from audience.models import Endpoint, Event
from campaigns import tracking
from campaigns.models import Delivery
from tests.campaigns import test_deliveries

smtp_sink = test_deliveries.smtp_sink  # the real SMTP server fixture

EMAIL_CHANNEL = {"Enabled": True, "FromAddress": "news@example.com", "Identity": "example.com"}
HTML = (
    "<html><body><p>Hi {{Name}}</p>"
    '<a href="https://example.com/offer?a=1&amp;b=2" class="cta">Offer</a> '
    "<a href='http://example.org/plain'>Plain</a> "
    '<a href="mailto:help@example.com">Mail us</a> <a href="#top">Top</a> '
    '<a ses:no-track href="https://example.com/private">Private</a>'
    "</body></html>"
)


def http_get(url: str, *, method: str = "GET", body: str = "", headers: dict | None = None):
    """One real HTTP request to the live server, redirects not followed."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.request(method, target, body=body.encode(), headers=headers or {})
    response = connection.getresponse()
    result = (response.status, dict(response.getheaders()), response.read())
    connection.close()
    return result


@pytest.fixture
def tracked(settings, live_server):
    settings.ENGAGE_PUBLIC_URL = live_server.url
    settings.ENGAGE_EMAIL_TRACKING = True
    return live_server.url


@pytest.fixture
def email_on(pinpoint, project):
    pinpoint.update_email_channel(ApplicationId=project.id, EmailChannelRequest=EMAIL_CHANNEL)


def send(pinpoint, project, *, endpoints=(), addresses=(), html: str = HTML) -> dict:
    message = {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "Hi"}, "TextPart": {"Data": "Hi {{Name}}"}}}}
    if html:
        message["EmailMessage"]["SimpleEmail"]["HtmlPart"] = {"Data": html}
    return pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Endpoints": {e: {} for e in endpoints},
            "Addresses": {a: {"ChannelType": "EMAIL"} for a in addresses},
            "MessageConfiguration": message,
        },
    )["MessageResponse"]


def add_endpoint(pinpoint, project, endpoint_id: str = "ep-1", address: str = "ann@example.org", **extra) -> None:
    request = {"ChannelType": "EMAIL", "Address": address, **extra}
    pinpoint.update_endpoint(ApplicationId=project.id, EndpointId=endpoint_id, EndpointRequest=request)


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def links(html: str) -> list[str]:
    return [value.replace("&amp;", "&") for value in re.findall(r"""href=["']([^"']*)["']""", html)]


def pixel_of(html: str) -> str:
    return re.search(r'<img src="([^"]+)" width="1" height="1"', html).group(1).replace("&amp;", "&")


def events(event_type: str) -> list[Event]:
    return list(Event.objects.filter(event_type=event_type).order_by("timestamp"))


@pytest.fixture
def mailed(pinpoint, project, email_on, smtp_sink, tracked):
    """One tracked email sent to endpoint ep-1 (ann@example.org); returns the message as received."""
    add_endpoint(pinpoint, project, Attributes={"Plan": ["gold"]})
    result = send(pinpoint, project, endpoints=["ep-1"])
    assert result["EndpointResult"]["ep-1"]["DeliveryStatus"] == "SUCCESSFUL"
    return smtp_sink.messages[0]


# --- what is sent ------------------------------------------------------------------------------


def test_sent_html_gets_a_pixel_and_tracked_http_links_only(mailed, tracked):
    html = html_of(mailed)

    found = links(html)
    assert found[0].startswith(f"{tracked}/e/c/")
    assert parse_qs(urlsplit(found[0]).query)["u"] == ["https://example.com/offer?a=1&b=2"]
    assert parse_qs(urlsplit(found[1]).query)["u"] == ["http://example.org/plain"]
    assert found[2:] == ["mailto:help@example.com", "#top", "https://example.com/private"]
    assert pixel_of(html).startswith(f"{tracked}/e/o/")
    assert html.index("<img") < html.index("</body>")
    assert mailed.get_body(("plain",)).get_content().strip() == "Hi"  # text parts are not touched


def test_headers_offer_one_click_unsubscribe(mailed, tracked):
    web, mailto = (part.strip(" <>") for part in mailed["List-Unsubscribe"].split(","))

    assert web.startswith(f"{tracked}/e/u/")
    assert mailto == "mailto:news@example.com?subject=unsubscribe"
    assert mailed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_tracking_turned_off_leaves_html_alone_but_keeps_one_click_unsubscribe(
    pinpoint, project, email_on, smtp_sink, tracked, settings
):
    settings.ENGAGE_EMAIL_TRACKING = False
    add_endpoint(pinpoint, project)

    send(pinpoint, project, endpoints=["ep-1"], html="<p>Hi <a href='https://example.com/'>x</a></p>")

    sent = smtp_sink.messages[0]
    assert html_of(sent).strip() == "<p>Hi <a href='https://example.com/'>x</a></p>"
    assert f"<{tracked}/e/u/" in sent["List-Unsubscribe"]


def test_a_list_unsubscribe_header_of_the_message_wins(pinpoint, project, email_on, smtp_sink, tracked):
    pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Addresses": {"ann@example.org": {"ChannelType": "EMAIL"}},
            "MessageConfiguration": {
                "EmailMessage": {
                    "SimpleEmail": {
                        "Subject": {"Data": "Hi"},
                        "TextPart": {"Data": "Hi"},
                        "Headers": [{"Name": "list-unsubscribe", "Value": "<https://lists.example.com/u/1>"}],
                    }
                }
            },
        },
    )

    sent = smtp_sink.messages[0]
    assert sent.get_all("List-Unsubscribe") == ["<https://lists.example.com/u/1>"]
    assert sent["List-Unsubscribe-Post"] is None


# --- opens and clicks -------------------------------------------------------------------------


def test_opening_answers_a_gif_and_records_one_open_per_hour(mailed):
    pixel = pixel_of(html_of(mailed))

    with time_machine.travel(datetime(2026, 11, 2, 10, 5, tzinfo=UTC), tick=False):
        first = http_get(pixel, headers={"User-Agent": "MailClient/1.0"})
        http_get(pixel, headers={"User-Agent": "MailClient/1.0"})
    with time_machine.travel(datetime(2026, 11, 2, 11, 5, tzinfo=UTC), tick=False):
        http_get(pixel)

    status, headers, body = first
    assert (status, headers["Content-Type"], body[:6]) == (200, "image/gif", b"GIF89a")
    assert "no-store" in headers["Cache-Control"]
    opens = events("_email.open")
    assert len(opens) == 2
    assert opens[0].endpoint_key == "ep-1"
    assert opens[0].attributes["feedback"] == "opened"
    assert opens[0].attributes["user_agent"] == "MailClient/1.0"
    assert opens[0].attributes["ip_address"] == "127.0.0.1"
    assert opens[0].attributes["message_id"] == mailed["Message-ID"].strip("<>")


def test_a_head_request_for_the_pixel_records_nothing(mailed):
    status, _, _ = http_get(pixel_of(html_of(mailed)), method="HEAD")

    assert status == 200
    assert events("_email.open") == []


def test_a_click_is_recorded_and_redirected_to_the_link(mailed):
    offer, plain = links(html_of(mailed))[:2]

    status, headers, _ = http_get(offer, headers={"User-Agent": "Browser/2"})
    http_get(offer)
    http_get(plain)

    assert status == 302
    assert headers["Location"] == "https://example.com/offer?a=1&b=2"
    clicks = events("_email.click")
    assert sorted(c.attributes["feedback"] for c in clicks) == [
        "http://example.org/plain",
        "https://example.com/offer?a=1&b=2",
    ]
    assert {c.attributes["link"] for c in clicks} == {c.attributes["feedback"] for c in clicks}
    assert {c.endpoint_key for c in clicks} == {"ep-1"}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("u=https%3A%2F%2Fexample.com", "u=https%3A%2F%2Fevil.example"),  # another target
        lambda url: re.sub(r"\.([A-Za-z0-9_-]{22})\?", lambda m: "." + "A" * 22 + "?", url),  # forged signature
        lambda url: re.sub(r"/e/c/(\w+)\.(\d+)\.", lambda m: f"/e/c/{m[1]}.{int(m[2]) + 1}.", url),  # other delivery
        lambda url: url.split("?")[0],  # no target
    ],
)
def test_a_tampered_click_link_is_not_found_and_records_nothing(mailed, tamper):
    offer = links(html_of(mailed))[0]

    status, headers, _ = http_get(tamper(offer))

    assert status == 404
    assert "Location" not in headers
    assert events("_email.click") == []


def test_a_pixel_link_is_no_click_link(mailed):
    pixel = pixel_of(html_of(mailed))

    status, _, _ = http_get(pixel.replace("/e/o/", "/e/c/") + "?u=https%3A%2F%2Fevil.example%2F")

    assert status == 404


def test_a_delivery_to_a_bare_address_reports_its_events_with_no_endpoint(
    pinpoint, project, email_on, smtp_sink, tracked
):
    send(pinpoint, project, addresses=["bob@example.org"])

    status, _, _ = http_get(pixel_of(html_of(smtp_sink.messages[0])))

    assert status == 200
    events = Event.objects.order_by("id")
    assert [(e.event_type, e.endpoint_key) for e in events] == [("_email.send", ""), ("_email.open", "")]
    assert events[1].attributes["destination"] == "bob@example.org"
    assert events[1].attributes["source"] == "TRANSACTIONAL"


# --- unsubscribe -------------------------------------------------------------------------------


def unsubscribe_link(message: EmailMessage) -> str:
    return message["List-Unsubscribe"].split(",")[0].strip(" <>")


def test_getting_the_unsubscribe_link_shows_a_form_and_changes_nothing(mailed, project):
    status, _, body = http_get(unsubscribe_link(mailed))

    assert status == 200
    assert b'<form method="post">' in body
    assert b"ann@example.org" in body
    assert Endpoint.objects.get(key="ep-1").opt_out == "NONE"
    assert events("_email.unsubscribe") == []


def test_one_click_post_opts_the_endpoint_out_and_later_sends_answer_opt_out(mailed, pinpoint, project, smtp_sink):
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    status, _, body = http_get(unsubscribe_link(mailed), method="POST", body="List-Unsubscribe=One-Click", headers=form)
    again, _, _ = http_get(unsubscribe_link(mailed), method="POST", body="List-Unsubscribe=One-Click", headers=form)
    result = send(pinpoint, project, endpoints=["ep-1"])

    assert (status, again) == (200, 200)
    assert b"You are unsubscribed" in body
    stored = pinpoint.get_endpoint(ApplicationId=project.id, EndpointId="ep-1")["EndpointResponse"]
    assert stored["OptOut"] == "ALL"
    assert stored["EndpointStatus"] == "ACTIVE"
    assert stored["Attributes"] == {"Plan": ["gold"]}  # only OptOut changed
    (event,) = events("_email.unsubscribe")
    assert (event.endpoint_key, event.attributes["unsubscribe_method"]) == ("ep-1", "one-click")
    assert result["EndpointResult"]["ep-1"]["DeliveryStatus"] == "OPT_OUT"
    assert len(smtp_sink.messages) == 1


def test_the_page_button_unsubscribes_too(mailed):
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    status, _, _ = http_get(unsubscribe_link(mailed), method="POST", body="confirm=1", headers=form)

    assert status == 200
    assert Endpoint.objects.get(key="ep-1").opt_out == "ALL"
    assert events("_email.unsubscribe")[0].attributes["unsubscribe_method"] == "page"


def test_an_inactive_endpoint_stays_inactive_when_it_unsubscribes(mailed, pinpoint, project):
    add_endpoint(pinpoint, project, EndpointStatus="INACTIVE")

    http_get(unsubscribe_link(mailed), method="POST", body="List-Unsubscribe=One-Click")

    endpoint = Endpoint.objects.get(key="ep-1")
    assert (endpoint.opt_out, endpoint.status) == ("ALL", "INACTIVE")


def test_unsubscribing_from_a_mail_to_an_address_opts_out_the_endpoints_of_that_inbox(
    pinpoint, project, email_on, smtp_sink, tracked
):
    add_endpoint(pinpoint, project, "ep-ann", "ann@example.org")
    add_endpoint(pinpoint, project, "ep-bob", "bob@example.org")
    send(pinpoint, project, addresses=["ann@example.org"])

    http_get(unsubscribe_link(smtp_sink.messages[0]), method="POST", body="List-Unsubscribe=One-Click")

    assert dict(Endpoint.objects.values_list("key", "opt_out")) == {"ep-ann": "ALL", "ep-bob": "NONE"}
    assert [e.endpoint_key for e in events("_email.unsubscribe")] == ["ep-ann"]


def test_unsubscribing_an_address_without_endpoints_says_so(pinpoint, project, email_on, smtp_sink, tracked):
    send(pinpoint, project, addresses=["zoe@example.org"])

    status, _, body = http_get(unsubscribe_link(smtp_sink.messages[0]), method="POST", body="x=1")

    assert status == 200
    assert b"Nothing to unsubscribe" in body


def test_a_forged_unsubscribe_link_is_not_found(mailed):
    link = unsubscribe_link(mailed)
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")

    status, _, _ = http_get(forged, method="POST", body="List-Unsubscribe=One-Click")

    assert status == 404
    assert Endpoint.objects.get(key="ep-1").opt_out == "NONE"


def test_without_a_public_url_there_is_no_tracking_and_a_mailto_only(pinpoint, project, email_on, smtp_sink, settings):
    settings.ENGAGE_PUBLIC_URL = ""

    send(pinpoint, project, addresses=["ann@example.org"], html="<a href='https://example.com/'>x</a>")

    sent = smtp_sink.messages[0]
    assert sent["List-Unsubscribe"] == "<mailto:news@example.com?subject=unsubscribe>"
    assert sent["List-Unsubscribe-Post"] is None
    assert html_of(sent).strip() == "<a href='https://example.com/'>x</a>"


# --- the rewriting and the tokens, directly --------------------------------------------------


@pytest.fixture
def row(settings):
    settings.ENGAGE_PUBLIC_URL = "https://engage.example.com"
    return Delivery(id=7, project_id="0123456789abcdef0123456789abcdef", message_id="<k@example.com>")


def targets(html: str) -> list[str]:
    """Each href's target; "tracked:" before those sent through a click redirect."""
    found = re.findall(r"""href=(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", html, re.IGNORECASE)
    values = [next(v for v in group if v).replace("&amp;", "&") for group in found]
    return [f"tracked:{parse_qs(urlsplit(v).query)['u'][0]}" if "/e/c/" in v else v for v in values]


T = "tracked:"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('<a title="a > b" href="https://x.example/1">', [T + "https://x.example/1"]),
        ("<A HREF=https://x.example/2 >", [T + "https://x.example/2"]),
        (
            '<a data-href="https://no.example/" href="https://x.example/3">',
            ["https://no.example/", T + "https://x.example/3"],
        ),
        ('<area shape="rect" href="https://x.example/4"/>', [T + "https://x.example/4"]),
        (
            '<!-- <a href="https://x.example/c"> --><a href="ftp://x.example/">',
            ["https://x.example/c", "ftp://x.example/"],
        ),
        ('<a href="  https://x.example/5?q=%20&amp;r=1  ">', [T + "https://x.example/5?q=%20&r=1"]),
        ('<a data-engage-no-track href="https://x.example/6">', ["https://x.example/6"]),
        ('<a href="https://engage.example.com/e/u/abc">', ["https://engage.example.com/e/u/abc"]),
        ("<a name=top>", []),
        (
            '<a href="https://x.example/7"><!-- <a href="https://x.example/8">',
            [T + "https://x.example/7", "https://x.example/8"],
        ),
        (
            '<a href="https://x.example/9" <a href="https://x.example/10">',
            ["https://x.example/9", T + "https://x.example/10"],
        ),
    ],
)
def test_html_rewriting_tracks_only_real_http_links(row, source, expected):
    tracked = tracking.html_track(source, row)

    assert targets(tracked) == expected


def test_html_rewriting_tracks_and_keeps_the_other_attributes(row):
    tracked = tracking.html_track('<a class="b" href="https://x.example/" id=z>Go</a>', row)

    assert re.match(r'<a class="b" href="https://engage\.example\.com/e/c/[^"]+" id=z>Go</a><img ', tracked)
    assert "/e/c/" not in tracking.html_track('<!-- <a href="https://x.example/"> -->', row)


def test_tokens_are_bound_to_their_kind_target_and_secret(row, settings):
    click = urlsplit(tracking.click_url(row, "https://x.example/")).path.rsplit("/", 1)[1]
    opened = urlsplit(tracking.open_url(row)).path.rsplit("/", 1)[1]

    assert tracking.token_read(tracking.CLICK, click, "https://x.example/") == (row.project_id, 7)
    assert tracking.token_read(tracking.OPEN, opened) == (row.project_id, 7)
    for kind, token, url in [
        (tracking.CLICK, click, "https://x.example/other"),
        (tracking.UNSUBSCRIBE, opened, ""),
        (tracking.OPEN, opened.replace(".7.", ".8."), ""),
        (tracking.OPEN, "junk", ""),
    ]:
        with pytest.raises(tracking.TokenInvalid):
            tracking.token_read(kind, token, url)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "x" * 40
    assert tracking.token_read(tracking.OPEN, opened) == (row.project_id, 7)  # old links survive a rotation
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(tracking.TokenInvalid):
        tracking.token_read(tracking.OPEN, opened)


def test_long_links_are_kept_whole_and_long_user_agents_cut(pinpoint, project, email_on, smtp_sink, tracked):
    add_endpoint(pinpoint, project)
    long_link = "https://example.com/landing?" + "&".join(f"utm_{i}=value{i}" for i in range(30))
    send(pinpoint, project, endpoints=["ep-1"], html=f'<a href="{long_link}">Go</a>')

    status, headers, _ = http_get(links(html_of(smtp_sink.messages[0]))[0], headers={"User-Agent": "U" * 500})

    (click,) = events("_email.click")
    assert (status, headers["Location"]) == (302, long_link)
    assert click.attributes["link"] == click.attributes["feedback"] == long_link
    assert click.attributes["user_agent"] == "U" * 200
