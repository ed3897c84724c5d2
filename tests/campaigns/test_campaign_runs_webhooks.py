"""The campaign engine's outside calls: the hook in FILTER mode and custom delivery, against a real
HTTP server on loopback."""
# ruff: noqa: F811 - pytest fixtures imported from test_deliveries are parameters here

import json
import socket
import threading

import pytest
import time_machine

from audience.models import Event
from campaigns.models import CampaignActivity, Delivery, DeliveryStatus
from campaigns.runs import campaigns_start_due
from engage.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, project_secret, signature
from tests.campaigns.provider_server import ProviderServer
from tests.campaigns.test_campaign_runs import NOW, PRO, endpoint, make_campaign, run_all, statuses
from tests.campaigns.test_deliveries import email_channel  # noqa: F401 - a fixture


@pytest.fixture
def server():
    provider = ProviderServer()
    yield provider
    provider.stop()


@pytest.fixture
def pro(project):
    from audience.segments import segment_create

    return segment_create(project, name="pro", dimensions=PRO)


def test_hook_filter_drops_the_endpoints_it_leaves_out_and_its_documents_personalise(
    project, pro, email_channel, server
):
    endpoint(project, "ann")
    endpoint(project, "bob")
    server.answer((200, None, {"Endpoints": {"ann": {"Attributes": {"FirstName": ["Annie"]}}}}))
    campaign = make_campaign(project, pro, Hook={"WebUrl": f"{server.url}/hook", "Mode": "FILTER"})

    run_all(campaign, NOW)

    assert list(Delivery.objects.values_list("endpoint_key", "subject")) == [("ann", "Hi Annie")]
    assert statuses(project) == {"ann": "SUCCESS"}
    activity = CampaignActivity.objects.get()
    assert activity.execution_metrics == {"SUCCESS": 1, "FILTERED_OUT_BY_HOOK": 1}
    (call,) = server.received
    body = call.json()
    assert sorted(body["Endpoints"]) == ["ann", "bob"]
    assert (body["CampaignId"], body["TreatmentId"], body["ActivityId"]) == (campaign.id, "0", activity.id)
    assert body["ApplicationId"] == project.id
    assert body["MessageConfiguration"]["EmailMessage"]["SimpleEmail"]["Subject"] == {
        "Data": "Hi {{Attributes.FirstName}}"
    }
    assert call.headers[SIGNATURE_HEADER] == signature(
        project_secret(project.id), call.headers[TIMESTAMP_HEADER], call.body
    )


def test_a_failing_hook_is_tried_three_times_then_its_endpoints_end_hook_failure(project, pro, email_channel, server):
    endpoint(project, "ann")
    endpoint(project, "bob")
    server.answer((500, None, "broken"))
    campaign = make_campaign(project, pro, Hook={"WebUrl": f"{server.url}/hook", "Mode": "FILTER"})

    run_all(campaign, NOW)

    assert len(server.received) == 3
    assert statuses(project) == {"ann": "HOOK_FAILURE", "bob": "HOOK_FAILURE"}
    assert not Delivery.objects.exists()
    assert CampaignActivity.objects.get().execution_metrics == {"HOOK_FAILURE": 2}


def test_the_projects_default_hook_filters_campaigns_without_their_own(project, pro, email_channel, server):
    project.settings.hook_web_url = f"{server.url}/default-hook"
    project.settings.hook_mode = "FILTER"
    project.settings.save()
    endpoint(project, "ann")
    server.answer((200, None, {}))
    campaign = make_campaign(project, pro)

    run_all(campaign, NOW)

    assert [r.path for r in server.received] == ["/default-hook"]
    assert not Delivery.objects.exists()


def test_a_lambda_hook_is_unsupported_and_says_so(project, pro, email_channel):
    endpoint(project, "ann")
    campaign = make_campaign(project, pro, Hook={"LambdaFunctionName": "filter", "Mode": "FILTER"})

    run_all(campaign, NOW)

    assert statuses(project) == {"ann": "HOOK_FAILURE"}
    assert not Delivery.objects.exists()


def test_custom_delivery_posts_the_endpoints_of_its_types_to_the_delivery_uri(
    project, pro, email_channel, server, django_capture_on_commit_callbacks
):
    endpoint(project, "dev1", "device-1", channel_type="CUSTOM")
    endpoint(project, "ann")
    data = json.dumps({"coupon": "X1"})
    campaign = make_campaign(
        project,
        pro,
        message={"CustomMessage": {"Data": data}},
        CustomDeliveryConfiguration={"DeliveryUri": f"{server.url}/custom", "EndpointTypes": ["CUSTOM"]},
    )

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        campaigns_start_due(NOW)

    (call,) = server.received
    body = call.json()
    activity = CampaignActivity.objects.get()
    assert call.path == "/custom"
    assert body["Data"] == data
    assert (body["CampaignId"], body["TreatmentId"], body["ActivityId"]) == (campaign.id, "0", activity.id)
    assert list(body["Endpoints"]) == ["dev1"]
    assert body["Endpoints"]["dev1"]["Address"] == "device-1"
    row = Delivery.objects.get()
    assert (row.channel, row.status, row.endpoint_key) == ("CUSTOM", DeliveryStatus.SENT, "dev1")
    event = Event.objects.get(event_type="_campaign.send")
    assert (event.endpoint_key, event.attributes["delivery_type"]) == ("dev1", "CUSTOM")
    assert activity.execution_metrics == {"SUCCESS": 1, "ENDPOINT_CHANNEL_MISMATCH": 1}


def test_a_hook_that_does_not_answer_fails_the_batch_after_three_attempts_of_one_call(project, pro, email_channel):
    for n in range(60):  # two calls' worth
        endpoint(project, f"e{n:02d}")
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def hang_up() -> None:  # accepts each connection and closes it unanswered
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    campaign = make_campaign(project, pro, Hook={"WebUrl": url, "Mode": "FILTER"})
    try:
        run_all(campaign, NOW)
    finally:
        listener.close()

    assert len(accepted) == 3
    assert set(statuses(project).values()) == {"HOOK_FAILURE"} and len(statuses(project)) == 60
