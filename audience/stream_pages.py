"""The Event stream page: where the project's events go, how shipping goes (records sent, events
waiting, the last error and the next attempt), and a form to set or remove the destination.

The same service as PutEventStream/DeleteEventStream; writing needs an editor or owner
(project_required turns a viewer's POST into 403).
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audience.models import EventStream
from audience.streams.destinations import WEBHOOK, parse_destination
from audience.streams.services import (
    StreamInvalid,
    event_stream_delete,
    event_stream_put,
    stream_waiting_count,
    updated_by,
)
from engage.webhooks import project_secret
from projects.middleware import project_required
from projects.models import WRITE_ROLES


class EventStreamForm(forms.Form):
    destination = forms.CharField(
        label="Destination",
        max_length=2048,
        help_text="A Kinesis data stream ARN (arn:aws:kinesis:region:account-id:stream/name), a Firehose delivery "
        "stream ARN (arn:aws:firehose:region:account-id:deliverystream/name), or an https:// webhook URL.",
    )
    role_arn = forms.CharField(
        label="Role ARN",
        max_length=2048,
        required=False,
        help_text="Pinpoint's RoleArn. Stored and shown to API clients; Engage ships with its own AWS credentials.",
    )


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def event_stream(request: HttpRequest) -> HttpResponse:
    project = request.project
    stream = EventStream.objects.filter(project=project).first()
    form = EventStreamForm(
        request.POST or None,
        initial={"destination": stream.destination_stream_arn, "role_arn": stream.role_arn} if stream else None,
    )
    if request.method == "POST" and request.POST.get("action") == "delete":
        event_stream_delete(project)
        messages.success(request, "The event stream is removed: new events are no longer shipped.")
        return redirect("audience:event_stream")
    if request.method == "POST" and form.is_valid():
        try:
            event_stream_put(
                project,
                destination=form.cleaned_data["destination"],
                role_arn=form.cleaned_data["role_arn"],
                updated_by=updated_by(request.user.get_username()),
            )
        except StreamInvalid as error:
            form.add_error("destination", str(error))
        else:
            messages.success(request, "Saved: events stored from now on are shipped to this destination.")
            return redirect("audience:event_stream")
    can_write = project.role in WRITE_ROLES
    is_webhook = bool(stream) and _kind(stream) == WEBHOOK
    return render(
        request,
        "audience/event_stream.html",
        {
            "project": project,
            "stream": stream,
            "form": form,
            "can_write": can_write,
            "waiting": stream_waiting_count(project) if stream else 0,
            "is_webhook": is_webhook,
            "secret": project_secret(project.pk) if can_write and is_webhook else "",
        },
    )


def _kind(stream: EventStream) -> str:
    try:
        return parse_destination(stream.destination_stream_arn).kind
    except StreamInvalid:
        return ""  # a URL allowed when it was saved, refused now (settings changed): shown as it is
