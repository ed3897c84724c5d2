"""Channels pages: the ten channel resources of the current project, a form per kind, enable,
disable, delete, and send a test message.

Forms are built from the kind's dataclass (campaigns.channels). Secret members render as inputs
that never show a stored value; left blank, the stored secret is kept. Engage's extension members
(the SMS/voice provider) are set here only, never through the Pinpoint API. Every lookup starts from
`request.project`; viewers see the pages without forms, and their POSTs are refused (403).
"""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.channel_checks import ADDRESS_HELP, PUSH_ADDRESS_HELP, SendCheckInvalid, can_test, channel_test_send
from campaigns.channels import (
    CHANNELS,
    ChannelInvalid,
    ChannelSettings,
    channel_delete,
    channel_get,
    channel_update,
    channels_list,
)
from campaigns.models import ChannelKind
from campaigns.transports import DeliveryError
from campaigns.transports.phone import provider_for
from engage.api.errors import NotFound
from projects.middleware import project_required
from projects.models import WRITE_ROLES

KEEP_SECRET = "Leave blank to keep the stored secret."


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value: multi-line secrets (PEM keys, service JSON)."""

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        return super().get_context(name, None, attrs)


def _field(member, *, stored: bool) -> forms.Field:
    help_text = member.help
    if member.secret and stored:
        help_text = f"{help_text} A value is stored. {KEEP_SECRET}"
    attrs = {"autocomplete": "off", "spellcheck": "false"}
    if member.choices:
        blank = "The server's default" if member.extension else "Choose from the credentials given"
        choices = [("", blank), *((c, c) for c in member.choices)]
        return forms.ChoiceField(label=member.label, choices=choices, required=False, help_text=help_text)
    if member.secret:
        widget = SecretTextarea(attrs={**attrs, "rows": 4}) if member.multiline else forms.PasswordInput(attrs)
    else:
        widget = forms.Textarea(attrs={**attrs, "rows": 4}) if member.multiline else forms.TextInput(attrs)
    return forms.CharField(label=member.label, required=False, strip=False, widget=widget, help_text=help_text)


def channel_form(spec: type[ChannelSettings], data=None, *, initial: ChannelSettings | None = None) -> forms.Form:
    """A form of the kind's request members (plus Enabled); secrets never get an initial value."""
    form = forms.Form(data, initial=_initial(spec, initial))
    form.fields["Enabled"] = forms.BooleanField(
        label="Enabled", required=False, help_text="Only enabled channels deliver messages."
    )
    for member in spec.members():
        form.fields[member.name] = _field(member, stored=bool(initial and getattr(initial, member.name)))
    return form


def _initial(spec: type[ChannelSettings], settings: ChannelSettings | None) -> dict[str, Any]:
    if settings is None:
        return {"Enabled": True}
    return {m.name: getattr(settings, m.name) for m in spec.members() if not m.secret}


def _request_from(spec: type[ChannelSettings], form: forms.Form) -> dict[str, Any]:
    """The Pinpoint request the form stands for: blank secrets are not sent, so they are kept."""
    data: dict[str, Any] = {"Enabled": form.cleaned_data["Enabled"]}
    for member in spec.members():
        value = form.cleaned_data[member.name]
        if member.secret and not value.strip():
            continue
        data[member.name] = value
    return data


class TestMessageForm(forms.Form):
    address = forms.CharField(label="Send to", max_length=512)
    text = forms.CharField(
        label="Message",
        required=False,
        max_length=1600,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional. Default: “This is a test message from Engage.”",
    )

    def __init__(self, kind: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].help_text = ADDRESS_HELP.get(kind, PUSH_ADDRESS_HELP)


def provider_in_use(project, kind: str) -> str:
    """Which provider SMS or voice messages of this project go to, in words."""
    try:
        provider = provider_for(project.id, kind)
    except DeliveryError as error:
        return str(error)
    if provider is None:
        return f"None: {kind} deliveries fail until you choose a provider below (or the server sets one)."
    name = {"TWILIO": "Twilio", "WEBHOOK": "your webhook"}[provider.name]
    where = "set on this channel" if provider.origin == "channel" else "the server's default"
    return f"{name}, {where}."


def _kind(slug: str) -> str:
    kind = slug.upper()
    if kind not in CHANNELS:
        raise Http404("No such channel.")
    return kind


@login_required
@require_http_methods(["GET"])
@project_required
def channels(request: HttpRequest) -> HttpResponse:
    project = request.project
    configured = {channel.kind: channel for channel in channels_list(project)}
    rows = [{"kind": kind, "spec": spec, "channel": configured.get(kind)} for kind, spec in CHANNELS.items()]
    context = {
        "project": project,
        "rows": rows,
        "can_edit": project.role in WRITE_ROLES,
        "account_id": settings.ENGAGE_ACCOUNT_ID,
    }
    return render(request, "campaigns/channels.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def channel_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = request.project
    kind = _kind(slug)
    spec = CHANNELS[kind]
    channel = channel_get(project, kind)
    stored = spec.load(channel) if channel is not None else None
    form = channel_form(spec, request.POST or None, initial=stored)
    if request.method == "POST" and form.is_valid():
        try:
            channel_update(project, kind, _request_from(spec, form), by=request.user.get_username(), extensions=True)
        except ChannelInvalid as error:
            if error.member in form.fields:
                form.add_error(error.member, str(error))
            else:
                form.add_error(None, str(error))
        else:
            messages.success(request, f"{spec.title} channel saved.")
            return redirect("campaigns:channel", slug=kind.lower())
    writer = project.role in WRITE_ROLES
    extension_names = {m.name for m in spec.members() if m.extension}
    context = {
        "project": project,
        "kind": kind,
        "spec": spec,
        "channel": channel,
        "settings": stored,
        "form": form if writer else None,
        "pinpoint_fields": [form[name] for name in form.fields if name not in extension_names],
        "provider_fields": [form[name] for name in form.fields if name in extension_names],
        "provider_in_use": provider_in_use(project, kind) if kind in (ChannelKind.SMS, ChannelKind.VOICE) else "",
        "can_test": can_test(kind),
        "test_form": TestMessageForm(kind) if writer and channel is not None and channel.enabled else None,
        "values": [(m, getattr(stored, m.name) if stored else None) for m in spec.members() if not m.secret],
        "secrets": [(m, bool(stored and getattr(stored, m.name))) for m in spec.members() if m.secret],
        "delivery_planned": not can_test(kind),
    }
    return render(request, "campaigns/channel_detail.html", context)


@login_required
@require_POST
@project_required
def channel_enable(request: HttpRequest, slug: str) -> HttpResponse:
    kind = _kind(slug)
    if channel_get(request.project, kind) is None:
        raise Http404("This channel is not configured.")
    enabled = request.POST.get("enabled") == "1"
    try:
        channel_update(request.project, kind, {"Enabled": enabled}, by=request.user.get_username())
    except ChannelInvalid as error:  # stored settings that today's rules refuse: say so, change nothing
        messages.error(request, f"Nothing changed: {error} Correct the channel's settings below.")
    else:
        messages.success(request, f"{CHANNELS[kind].title} channel {'enabled' if enabled else 'disabled'}.")
    return redirect("campaigns:channel", slug=kind.lower())


@login_required
@require_POST
@project_required
def channel_delete_view(request: HttpRequest, slug: str) -> HttpResponse:
    kind = _kind(slug)
    try:
        channel_delete(request.project, kind)
    except NotFound:
        raise Http404("This channel is not configured.") from None
    messages.success(request, f"{CHANNELS[kind].title} channel deleted with its stored credentials.")
    return redirect("campaigns:channels")


@login_required
@require_POST
@project_required
def channel_test(request: HttpRequest, slug: str) -> HttpResponse:
    """Send one test message through the channel now and say what the provider answered."""
    kind = _kind(slug)
    form = TestMessageForm(kind, request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was sent: enter an address to send the test message to.")
        return redirect("campaigns:channel", slug=kind.lower())
    address = form.cleaned_data["address"].strip()
    try:
        result = channel_test_send(request.project, kind, address, form.cleaned_data["text"])
    except SendCheckInvalid as error:
        messages.error(request, f"Nothing was sent: {error}")
    else:
        if result.sent:
            messages.success(request, f"Test message sent to {address}. Provider message id: {result.detail}")
        elif result.retrying:
            messages.warning(
                request, f"The provider could not take the test message now; Engage retries it: {result.detail}"
            )
        else:
            messages.error(request, f"The test message to {address} failed: {result.detail}")
    return redirect("campaigns:channel", slug=kind.lower())
