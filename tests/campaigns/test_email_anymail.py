"""Email through a django-anymail provider (Postmark's API, played by a real HTTP server on loopback),
and that provider's tracking webhooks posted to the live server."""

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from anymail.exceptions import AnymailInsecureWebhookWarning

from audience.models import Endpoint, Event
from campaigns.models import Delivery, DeliveryStatus
from tests.campaigns.test_deliveries import free_port
from tests.campaigns.test_tracking import EMAIL_CHANNEL, add_endpoint, http_get, send

WEBHOOK_AUTH = "engage:webhook-secret"


class FakePostmark(ThreadingHTTPServer):
    """Postmark's /email API: keeps each request; answers OK with a fresh MessageID, or `reply`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), PostmarkHandler)
        self.requests: list[tuple[str, dict, dict]] = []  # (path, headers, JSON body)
        self.reply: tuple[int, dict] | None = None
        self.ids: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class PostmarkHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: FakePostmark = self.server
        server.requests.append((self.path, dict(self.headers), body))
        if server.reply is not None:
            status, answer = server.reply
        else:
            message_id = str(uuid.uuid4())
            server.ids.append(message_id)
            status = 200
            answer = {"To": body["To"], "SubmittedAt": "2026-11-28T10:00:00Z", "MessageID": message_id}
            answer |= {"ErrorCode": 0, "Message": "OK"}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def postmark(settings, live_server):
    server = FakePostmark()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "server-token",
        "POSTMARK_API_URL": server.url,
        "WEBHOOK_SECRET": WEBHOOK_AUTH,
    }
    settings.ENGAGE_PUBLIC_URL = live_server.url
    settings.ENGAGE_EMAIL_TRACKING = True
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def email_on(pinpoint, project):
    pinpoint.update_email_channel(ApplicationId=project.id, EmailChannelRequest=EMAIL_CHANNEL)


@pytest.fixture
def sent(pinpoint, project, email_on, postmark):
    """One email to endpoint ep-1 through Postmark; returns its Delivery."""
    add_endpoint(pinpoint, project)
    result = send(pinpoint, project, endpoints=["ep-1"], html="<p><a href='https://example.com/a'>A</a></p>")
    assert result["EndpointResult"]["ep-1"]["DeliveryStatus"] == "SUCCESSFUL"
    return Delivery.objects.get()


def webhook(live_server, payload: dict, *, auth: str = WEBHOOK_AUTH) -> int:
    token = base64.b64encode(auth.encode()).decode()
    status, _, _ = http_get(
        f"{live_server.url}/anymail/postmark/tracking/",
        method="POST",
        body=json.dumps(payload),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    return status


def metadata(delivery: Delivery) -> dict:
    return {"engage_project": delivery.project_id, "engage_message_id": delivery.message_id.strip("<>")}


def test_email_goes_through_the_provider_api_with_tracking_and_unsubscribe(sent, postmark):
    (path, headers, body) = postmark.requests[0]

    assert path == "/email"
    assert headers["X-Postmark-Server-Token"] == "server-token"
    assert (body["From"], body["To"], body["Subject"]) == ("news@example.com", "ann@example.org", "Hi")
    assert "/e/c/" in body["HtmlBody"] and "/e/o/" in body["HtmlBody"]
    assert "https://example.com/a'" not in body["HtmlBody"]
    sent_headers = {h["Name"]: h["Value"] for h in body["Headers"]}
    assert sent_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/e/u/" in sent_headers["List-Unsubscribe"]
    assert body["Metadata"] == metadata(sent)
    assert (body["TrackOpens"], body["TrackLinks"]) == (False, "None")  # Engage tracks; Postmark does not


def test_the_provider_message_id_is_kept(sent, postmark):
    assert sent.status == DeliveryStatus.SENT
    assert sent.provider_message_id == postmark.ids[0]


def test_delivery_bounce_complaint_open_and_click_webhooks_become_pinpoint_events(sent, postmark, live_server):
    common = {"MessageID": postmark.ids[0], "Metadata": metadata(sent), "MessageStream": "outbound"}
    payloads = [
        {"RecordType": "Delivery", "Recipient": "ann@example.org", "DeliveredAt": "2026-11-28T10:00:05Z"}
        | {"Details": "smtp;250 2.0.0 OK"},
        {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "TypeCode": 1, "Email": "ann@example.org"}
        | {"BouncedAt": "2026-11-28T10:00:06Z", "Description": "Unknown user", "Details": "smtp;550 5.1.1"},
        {"RecordType": "SpamComplaint", "ID": 43, "Type": "SpamComplaint", "TypeCode": 512}
        | {"Email": "ann@example.org", "BouncedAt": "2026-11-28T10:00:07Z", "Details": "complaint"},
        {"RecordType": "Open", "FirstOpen": True, "UserAgent": "Mail/1", "Recipient": "ann@example.org"}
        | {"ReceivedAt": "2026-11-28T10:00:08Z"},
        {"RecordType": "Click", "OriginalLink": "https://example.com/a", "UserAgent": "Browser/1"}
        | {"Recipient": "ann@example.org", "ReceivedAt": "2026-11-28T10:00:09Z", "ClickLocation": "HTML"},
    ]

    statuses = [webhook(live_server, common | payload) for payload in payloads]
    webhook(live_server, common | payloads[0])  # a provider retrying its webhook adds nothing

    assert statuses == [200] * 5
    found = {e.event_type: e for e in Event.objects.exclude(event_type="_email.send")}
    assert sorted(found) == ["_email.click", "_email.complaint", "_email.delivered", "_email.hardbounce", "_email.open"]
    assert {e.endpoint_key for e in found.values()} == {"ep-1"}
    assert found["_email.delivered"].attributes["feedback"] == "received"
    assert found["_email.delivered"].attributes["provider"] == "Postmark"
    assert found["_email.hardbounce"].attributes["mta_response"] == "smtp;550 5.1.1"
    assert found["_email.click"].attributes["feedback"] == "https://example.com/a"
    assert found["_email.open"].attributes["user_agent"] == "Mail/1"
    assert found["_email.delivered"].timestamp.isoformat() == "2026-11-28T10:00:05+00:00"


def test_a_provider_hard_bounce_opts_the_endpoint_out_and_a_delivery_report_does_not(sent, postmark, live_server):
    common = {"MessageID": postmark.ids[0], "Metadata": metadata(sent), "MessageStream": "outbound"}
    delivered = {"RecordType": "Delivery", "Recipient": "ann@example.org", "DeliveredAt": "2026-11-28T10:00:05Z"}

    assert webhook(live_server, common | delivered | {"Details": "smtp;250 2.0.0 OK"}) == 200
    assert Endpoint.objects.get(endpoint_id="ep-1").opt_out == "NONE"

    bounce = {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "TypeCode": 1, "Email": "ann@example.org"}
    assert webhook(live_server, common | bounce | {"BouncedAt": "2026-11-28T10:00:06Z", "Details": "smtp;550"}) == 200
    endpoint = Endpoint.objects.get(endpoint_id="ep-1")
    assert (endpoint.opt_out, endpoint.status) == ("ALL", "ACTIVE")
    assert not Event.objects.filter(event_type="_email.unsubscribe").exists()  # a bounce is no unsubscribe


def test_a_provider_unsubscribe_opts_the_endpoint_out(sent, postmark, live_server):
    payload = {"RecordType": "SubscriptionChange", "MessageID": postmark.ids[0], "Metadata": metadata(sent)}
    payload |= {"Recipient": "ann@example.org", "SuppressSending": True, "SuppressionReason": "ManualSuppression"}
    payload |= {"ChangedAt": "2026-11-28T10:01:00Z", "Origin": "Recipient"}

    status = webhook(live_server, payload)

    assert status == 200
    assert Endpoint.objects.get(key="ep-1").opt_out == "ALL"
    (event,) = Event.objects.filter(event_type="_email.unsubscribe")
    assert event.attributes["unsubscribe_method"] == "provider:Postmark"


def test_an_event_without_our_metadata_is_found_by_the_provider_message_id(sent, postmark, live_server):
    payload = {"RecordType": "Delivery", "MessageID": postmark.ids[0], "Recipient": "ann@example.org"}

    webhook(live_server, payload | {"DeliveredAt": "2026-11-28T10:00:05Z"})

    assert Event.objects.filter(event_type="_email.delivered", endpoint_key="ep-1").count() == 1


def test_an_event_for_an_unknown_message_is_accepted_and_ignored(sent, live_server):
    payload = {"RecordType": "Delivery", "MessageID": str(uuid.uuid4()), "Recipient": "x@example.org"}

    status = webhook(live_server, payload | {"DeliveredAt": "2026-11-28T10:00:05Z"})

    assert status == 200
    assert not Event.objects.filter(event_type="_email.delivered").exists()


def test_metadata_naming_another_project_finds_nothing(sent, postmark, live_server):
    forged = metadata(sent) | {"engage_project": "f" * 32}
    payload = {"RecordType": "Delivery", "Metadata": forged, "Recipient": "ann@example.org"}

    webhook(live_server, payload | {"DeliveredAt": "2026-11-28T10:00:05Z"})

    assert not Event.objects.filter(event_type="_email.delivered").exists()


def test_webhooks_with_wrong_basic_auth_are_refused(sent, postmark, live_server):
    payload = {"RecordType": "Delivery", "MessageID": postmark.ids[0], "Metadata": metadata(sent)}

    status = webhook(live_server, payload, auth="engage:wrong")

    assert status == 400
    assert not Event.objects.filter(event_type="_email.delivered").exists()


def test_webhooks_are_refused_while_no_webhook_secret_is_set(sent, postmark, live_server, settings):
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "WEBHOOK_SECRET"}
    payload = {"RecordType": "SubscriptionChange", "MessageID": postmark.ids[0], "Metadata": metadata(sent)}

    with pytest.warns(AnymailInsecureWebhookWarning):  # anymail's own warning, from the view
        status = webhook(live_server, payload | {"SuppressSending": True, "SuppressionReason": "ManualSuppression"})

    assert status == 400
    assert Endpoint.objects.get(key="ep-1").opt_out == "NONE"


def test_an_inactive_recipient_is_a_permanent_failure(pinpoint, project, email_on, postmark):
    inactive = "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: "
    inactive += "ann@example.org. Inactive recipients are ones that have generated a hard bounce or a complaint."
    postmark.reply = (422, {"ErrorCode": 406, "Message": inactive})

    result = send(pinpoint, project, addresses=["ann@example.org"])["Result"]["ann@example.org"]

    assert result["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert Delivery.objects.get().status == DeliveryStatus.FAILED_PERMANENT


@pytest.mark.parametrize(("status", "answer"), [(500, "TEMPORARY_FAILURE"), (429, "THROTTLED")])
def test_provider_faults_and_rate_limits_are_retried(pinpoint, project, email_on, postmark, status, answer):
    postmark.reply = (status, {"ErrorCode": 0, "Message": "Not now"})

    result = send(pinpoint, project, addresses=["ann@example.org"])["Result"]["ann@example.org"]

    assert (result["DeliveryStatus"], result["StatusCode"]) == (answer, status)
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED


def test_an_unreachable_provider_is_retried(pinpoint, project, email_on, postmark, settings):
    settings.ANYMAIL = settings.ANYMAIL | {"POSTMARK_API_URL": f"http://127.0.0.1:{free_port()}/"}

    result = send(pinpoint, project, addresses=["ann@example.org"])["Result"]["ann@example.org"]

    assert result["DeliveryStatus"] == "TEMPORARY_FAILURE"
    assert "unreachable" in result["StatusMessage"]
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED


def test_a_backend_missing_its_settings_keeps_the_email_queued(pinpoint, project, email_on, postmark, settings):
    settings.ANYMAIL = {"POSTMARK_API_URL": postmark.url}

    result = send(pinpoint, project, addresses=["ann@example.org"])["Result"]["ann@example.org"]

    assert result["DeliveryStatus"] == "TEMPORARY_FAILURE"
    assert "not configured" in result["StatusMessage"]
    assert postmark.requests == []
