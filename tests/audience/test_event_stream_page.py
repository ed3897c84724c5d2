"""The Event stream page: status of the project's stream, the form that sets or removes it, and the
signing secret on the settings page — scoped to the current project, read-only for viewers."""

import pytest
from django.urls import reverse
from django.utils import timezone

from audience.models import Event, EventStream
from audience.services import SystemEvent, events_record
from audience.streams.services import event_stream_put, stream_ship
from engage.webhooks import project_secret
from projects.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

PAGE = reverse("audience:event_stream")
KINESIS = "arn:aws:kinesis:us-east-1:123456789012:stream/engage"


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    return client


def test_an_editor_sets_the_stream_from_the_page(signed_in, project):
    response = signed_in.post(PAGE, {"action": "save", "destination": KINESIS, "role_arn": "arn:aws:iam::1:role/r"})

    assert response.status_code == 302
    stream = EventStream.objects.get(project=project)
    assert (stream.destination_stream_arn, stream.role_arn) == (KINESIS, "arn:aws:iam::1:role/r")
    assert stream.last_updated_by == "arn:aws:iam::000000000000:user/alice"


def test_a_destination_engage_cannot_ship_to_is_refused_with_the_reason(signed_in, project):
    response = signed_in.post(PAGE, {"action": "save", "destination": "http://example.com/x", "role_arn": ""})

    assert response.status_code == 200
    assert "plain http://" in response.content.decode()
    assert not EventStream.objects.exists()


def test_the_page_shows_a_failing_stream_with_its_error_and_waiting_events(signed_in, project):
    event_stream_put(project, destination="http://127.0.0.1:9/down", role_arn="", updated_by="x")
    events_record(
        [
            SystemEvent(
                project_id=project.id,
                endpoint_key="a",
                event_id="1",
                event_type="_email.send",
                timestamp=timezone.now(),
            )
        ]
    )
    stream_ship(project.id)  # what the task enqueued after commit does

    page = signed_in.get(PAGE).content.decode()

    assert "Shipping is failing (1 attempt in a row)" in page
    assert "cannot be reached" in page
    assert "<dt>Waiting</dt><dd>1 event</dd>" in page
    assert project_secret(project.id) in page  # a webhook destination: how to verify its calls


def test_stop_streaming_removes_the_stream_and_its_waiting_events(signed_in, project):
    event_stream_put(project, destination="http://127.0.0.1:9/down", role_arn="", updated_by="x")
    events_record(
        [SystemEvent(project_id=project.id, endpoint_key="a", event_id="1", event_type="x", timestamp=timezone.now())]
    )

    response = signed_in.post(PAGE, {"action": "delete"})

    assert response.status_code == 302
    assert not EventStream.objects.exists()
    assert not Event.objects.filter(stream_pending=True).exists()


def test_a_viewer_sees_the_status_but_neither_form_nor_secret(client, project):
    viewer = UserFactory(username="vera")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    event_stream_put(project, destination="https://hooks.example.com/x", role_arn="", updated_by="x")
    client.force_login(viewer)

    page = client.get(PAGE).content.decode()
    refused = client.post(PAGE, {"action": "delete"})

    assert "https://hooks.example.com/x" in page
    assert project_secret(project.id) not in page
    assert 'value="delete"' not in page
    assert refused.status_code == 403
    assert EventStream.objects.exists()


def test_the_page_shows_only_the_current_projects_stream(signed_in, project):
    other = ProjectFactory()
    event_stream_put(other, destination="https://other.example.com/x", role_arn="", updated_by="x")

    page = signed_in.get(PAGE).content.decode()

    assert "other.example.com" not in page
    assert "Stream this project's events" in page


def test_the_settings_page_shows_the_signing_secret_to_editors_only(client, user, project):
    viewer = UserFactory(username="vera")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)

    client.force_login(user)
    as_owner = client.get(reverse("project_settings")).content.decode()
    client.force_login(viewer)
    as_viewer = client.get(reverse("project_settings")).content.decode()

    assert project_secret(project.id) in as_owner
    assert project_secret(project.id) not in as_viewer
    assert project_secret(project.id) != project_secret(ProjectFactory().id)
