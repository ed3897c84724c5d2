"""Message template pages: the list, the editor per type with a live preview, a test send, version
history with a diff and activate, and deletion.

Templates are account-level (see campaigns.templates): these pages show every template of the
installation to members of any project, and let owners and editors of any project change them. The
current project only supplies the endpoints and attribute names of the preview, and the channels
and outbox of a test send — which is why sending needs the owner or editor role in that project.
"""

import difflib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audience.api.serializers import endpoint_responses
from audience.models import AttributeDefinition, AttributeKind, Endpoint, endpoint_key
from campaigns import templates as service
from campaigns.handlebars import TemplateError, compile_template
from campaigns.messages import PUSH, MessageInvalid, MessageSpec, Recipient, messages_send
from campaigns.models import ChannelKind, TemplateType, TemplateVersion
from campaigns.transports import TRANSPORTS
from engage.api.errors import BadRequest
from engage.api.paging import paginate
from projects.forms import ProjectCreateForm
from projects.models import WRITE_ROLES, Project
from projects.scoping import role_check

PAGE_SIZE = 50
ENDPOINT_CHOICES = 50
SLUG_OF_TYPE = {
    TemplateType.EMAIL: "email",
    TemplateType.SMS: "sms",
    TemplateType.VOICE: "voice",
    TemplateType.PUSH: "push",
    TemplateType.INAPP: "inapp",
}
TYPE_OF_SLUG = {slug: kind for kind, slug in SLUG_OF_TYPE.items()}
TYPE_LABELS = {
    TemplateType.EMAIL: "Email",
    TemplateType.SMS: "SMS",
    TemplateType.VOICE: "Voice",
    TemplateType.PUSH: "Push notification",
    TemplateType.INAPP: "In-app",
}
# Channels a test send of each type can go out on (SendMessages' TemplateConfiguration member).
SEND_CHANNELS = {
    TemplateType.EMAIL: (ChannelKind.EMAIL,),
    TemplateType.SMS: (ChannelKind.SMS,),
    TemplateType.VOICE: (ChannelKind.VOICE,),
    TemplateType.PUSH: tuple(PUSH),  # GCM, APNS..., ADM, BAIDU
    TemplateType.INAPP: (),
}
TEMPLATE_MEMBER = {
    TemplateType.EMAIL: "EmailTemplate",
    TemplateType.SMS: "SMSTemplate",
    TemplateType.VOICE: "VoiceTemplate",
    TemplateType.PUSH: "PushTemplate",
}
STANDARD_VARIABLES = (
    "Address",
    "ChannelType",
    "Id",
    "EndpointStatus",
    "OptOut",
    "EffectiveDate",
    "Demographic.Locale",
    "Demographic.Platform",
    "Demographic.Timezone",
    "Location.City",
    "Location.Country",
    "User.UserId",
)


# --- form fields per type ------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One editor field: `key` is the request member ("Subject", "APNS.Title"); `kind` is text,
    textarea, select, headers ("Name: Value" lines) or json."""

    key: str
    label: str
    kind: str = "text"
    choices: tuple[str, ...] = ()
    help: str = ""


def _push_fields(part: str, members: tuple[str, ...]) -> list[Field]:
    return [
        Field(f"{part}.{m}", m, "select", ("", *service.PUSH_ACTIONS))
        if m == "Action"
        else Field(f"{part}.{m}", m, "textarea" if m in ("Body", "RawContent") else "text")
        for m in members
    ]


SUBSTITUTIONS = Field(
    "DefaultSubstitutions",
    "Default substitutions",
    "textarea",
    help='A JSON object of variable → default, e.g. {"User.UserAttributes.FirstName": "there"}.',
)
DESCRIPTION = Field("TemplateDescription", "Description")
RECOMMENDER = Field("RecommenderId", "Recommender id", help="Stored and returned; recommenders are not built.")

# (legend, fields) groups of each type's editor.
FIELDS: dict[str, list[tuple[str, list[Field]]]] = {
    TemplateType.EMAIL: [
        (
            "Message",
            [
                Field("Subject", "Subject"),
                Field("HtmlPart", "HTML part", "textarea"),
                Field("TextPart", "Text part", "textarea"),
                Field("Headers", "Headers", "headers", help="One header a line, as Name: Value (at most 15)."),
            ],
        ),
        ("Settings", [SUBSTITUTIONS, DESCRIPTION, RECOMMENDER]),
    ],
    TemplateType.SMS: [
        ("Message", [Field("Body", "Body", "textarea", help="At most 1,600 characters.")]),
        ("Settings", [SUBSTITUTIONS, DESCRIPTION, RECOMMENDER]),
    ],
    TemplateType.VOICE: [
        (
            "Message",
            [
                Field("Body", "Body", "textarea", help="The script read to the recipient."),
                Field("LanguageCode", "Language code", help="e.g. en-US"),
                Field("VoiceId", "Voice id", help="e.g. Joanna"),
            ],
        ),
        ("Settings", [SUBSTITUTIONS, DESCRIPTION]),
    ],
    TemplateType.PUSH: [
        *((f"{part} part", _push_fields(part, members)) for part, members in service.PUSH_PART_MEMBERS.items()),
        ("Settings", [SUBSTITUTIONS, DESCRIPTION, RECOMMENDER]),
    ],
    TemplateType.INAPP: [
        (
            "Message",
            [
                Field("Content", "Content", "json", help="A JSON list of up to 5 InAppMessageContent objects."),
                Field("Layout", "Layout", "select", ("", *service.INAPP_LAYOUTS)),
                Field("CustomConfig", "Custom config", "json", help="A JSON object of string values."),
            ],
        ),
        ("Settings", [DESCRIPTION]),
    ],
}


class FormInvalid(Exception):
    pass


def _headers_from(text: str) -> list[dict[str, str]]:
    headers = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise FormInvalid(f"Headers, line {number}: write Name: Value.")
        headers.append({"Name": name.strip(), "Value": value.strip()})
    return headers


def request_from_form(template_type: str, data: Mapping[str, str]) -> dict[str, Any]:
    """The type's request members from the editor's fields; empty fields are left out."""
    request: dict[str, Any] = {}
    for _legend, fields in FIELDS[template_type]:
        for field in fields:
            raw = data.get(field.key, "")
            if field.kind != "textarea" and field.kind != "json":
                raw = raw.strip()
            if raw == "" or (field.kind == "json" and not raw.strip()):
                continue
            if field.kind == "headers":
                value: Any = _headers_from(raw)
            elif field.kind == "json":
                try:
                    value = json.loads(raw)
                except ValueError as error:
                    raise FormInvalid(f"{field.label} is not valid JSON: {error}.") from None
            else:
                value = raw
            part, dot, member = field.key.partition(".")
            if dot:
                request.setdefault(part, {})[member] = value
            else:
                request[part] = value
    return request


def form_values(row: TemplateVersion | None) -> dict[str, str]:
    """The editor's field values for a stored version."""
    if row is None:
        return {}
    values: dict[str, str] = {}
    for key, value in row.content.items():
        if key == "Headers":
            values[key] = "\n".join(f"{h.get('Name', '')}: {h.get('Value', '')}" for h in value)
        elif isinstance(value, Mapping) and key in service.PUSH_PART_MEMBERS:
            values.update({f"{key}.{member}": text for member, text in value.items()})
        elif isinstance(value, str):
            values[key] = value
        else:
            values[key] = json.dumps(value, indent=2, ensure_ascii=False)
    values["DefaultSubstitutions"] = row.default_substitutions
    values["TemplateDescription"] = row.description
    return values


def _field_groups(template_type: str, values: Mapping[str, str]) -> list[dict]:
    return [
        {"legend": legend, "fields": [{"spec": f, "value": values.get(f.key, ""), "id": _id(f.key)} for f in fields]}
        for legend, fields in FIELDS[template_type]
    ]


def _id(key: str) -> str:
    return "field-" + key.replace(".", "-")


# --- preview -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedPart:
    label: str
    text: str
    error: str = ""
    is_html: bool = False


def _defaults(substitutions: str) -> dict[str, str]:
    try:
        parsed = json.loads(substitutions) if substitutions else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


def render_preview(
    template_type: str, content: Mapping[str, Any], substitutions: str, context: Mapping | None
) -> list[RenderedPart]:
    """Each personalised part rendered for `context` (an EndpointResponse), defaults applied."""
    defaults = _defaults(substitutions)
    parts = []
    for label, source in service.template_parts(template_type, content):
        try:
            text = compile_template(source).render(context or {}, defaults=defaults)
            parts.append(RenderedPart(label, text, is_html=label == "HtmlPart"))
        except TemplateError as error:
            parts.append(RenderedPart(label, "", error=str(error)))
    return parts


def _endpoint_context(project: Project, endpoint_id: str) -> tuple[dict | None, str]:
    """The endpoint's Pinpoint JSON (the render context) and its id; the first endpoint by default."""
    endpoints = Endpoint.objects.for_project(project)
    if endpoint_id and "\x00" not in endpoint_id:
        endpoint = endpoints.filter(key=endpoint_key(endpoint_id)).first()
    else:
        endpoint = endpoints.order_by("key").first()
    if endpoint is None:
        return None, ""
    return endpoint_responses(project, [endpoint])[0], endpoint.endpoint_id


def _variables(project: Project) -> list[tuple[str, list[str]]]:
    names: dict[str, list[str]] = {kind: [] for kind in AttributeKind.values}
    for kind, name in (
        AttributeDefinition.objects.filter(project=project, removed_at__isnull=True)
        .order_by("kind", "name")
        .values_list("kind", "name")
    ):
        names[kind].append(name)
    return [
        ("Endpoint attributes", [f"Attributes.{n}" for n in names[AttributeKind.CUSTOM]]),
        ("User attributes", [f"User.UserAttributes.{n}" for n in names[AttributeKind.USER]]),
        ("Metrics", [f"Metrics.{n}" for n in names[AttributeKind.METRIC]]),
        ("Standard", list(STANDARD_VARIABLES)),
    ]


# --- access --------------------------------------------------------------------------------------


def templates_page(view: Callable | None = None, *, post_writes: bool = True) -> Callable:
    """Signed-in pages on templates: a current project (for the preview), the sharing rule for
    reads and, when `post_writes`, the rule for writes on POST (PermissionDenied: 403)."""

    def decorate(view_func: Callable) -> Callable:
        @login_required
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if getattr(request, "project", None) is None:
                if request.method != "GET":
                    raise Http404("No project selected.")
                return render(request, "projects/no_project.html", {"create_form": ProjectCreateForm()})
            service.templates_access_check(request.user, write=post_writes and request.method == "POST")
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def _type(slug: str) -> str:
    if slug not in TYPE_OF_SLUG:
        raise Http404("No such template type.")
    return TYPE_OF_SLUG[slug]


def _version(template_type: str, name: str, version: str | None = None) -> TemplateVersion:
    try:
        return service.template_get(template_type, name, version)
    except (service.TemplateNotFound, service.TemplateInvalid):
        raise Http404("No such template or version.") from None


def _edit_url(template_type: str, name: str) -> str:
    return reverse("campaigns:template_edit", args=[SLUG_OF_TYPE[template_type], name])


# --- views ---------------------------------------------------------------------------------------


@require_GET
@templates_page
def template_list(request: HttpRequest) -> HttpResponse:
    prefix = request.GET.get("prefix", "").strip()
    chosen = request.GET.get("type", "")
    template_type = chosen if chosen in TemplateType.values else None
    try:
        items, next_token = paginate(
            service.templates_list(prefix=prefix, template_type=template_type),
            page_size=str(PAGE_SIZE),
            token=request.GET.get("after") or None,
            order=("name", "template_type"),
        )
    except BadRequest:
        items, next_token = [], None
    rows = [
        {"template": t, "slug": SLUG_OF_TYPE[t.template_type], "label": TYPE_LABELS[t.template_type]} for t in items
    ]
    return render(
        request,
        "campaigns/templates.html",
        {
            "project": request.project,
            "rows": rows,
            "prefix": prefix,
            "chosen_type": template_type or "",
            "types": [(kind, TYPE_LABELS[kind], SLUG_OF_TYPE[kind]) for kind in TemplateType.values],
            "next_token": next_token,
            "paged": bool(request.GET.get("after")),
            "can_write": service.templates_writable_by(request.user),
        },
    )


def _editor(
    request: HttpRequest,
    template_type: str,
    *,
    name: str = "",
    row: TemplateVersion | None = None,
    values: Mapping[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    values = form_values(row) if values is None else values
    endpoint_id = request.POST.get("endpoint") or request.GET.get("endpoint", "")
    preview = _preview_context(request, template_type, values, endpoint_id)
    versions = list(row.template.versions.order_by("-version")) if row is not None else []
    return render(
        request,
        "campaigns/template_editor.html",
        {
            "project": request.project,
            "template_type": template_type,
            "type_label": TYPE_LABELS[template_type],
            "slug": SLUG_OF_TYPE[template_type],
            "name": name,
            "row": row,
            "template": row.template if row is not None else None,
            "versions": versions,
            "latest": versions[0].version if versions else None,
            "groups": _field_groups(template_type, values),
            "error": error,
            "can_write": service.templates_writable_by(request.user),
            "variables": _variables(request.project),
            "endpoint_ids": list(
                Endpoint.objects.for_project(request.project)
                .order_by("key")
                .values_list("endpoint_id", flat=True)[:ENDPOINT_CHOICES]
            ),
            "can_send": request.project.role in WRITE_ROLES,
            "send_channels": [(c, c in TRANSPORTS) for c in SEND_CHANNELS[template_type]],
            **preview,
        },
        status=status,
    )


def _preview_context(request: HttpRequest, template_type: str, values: Mapping[str, str], endpoint_id: str) -> dict:
    context, chosen = _endpoint_context(request.project, endpoint_id)
    try:
        content = request_from_form(template_type, values)
        parts = render_preview(template_type, content, values.get("DefaultSubstitutions", ""), context)
        preview_error = ""
    except FormInvalid as problem:
        parts, preview_error = [], str(problem)
    return {
        "parts": parts,
        "preview_error": preview_error,
        "endpoint": chosen,
        "endpoint_missing": bool(endpoint_id) and not chosen,
        "has_endpoint": context is not None,
    }


@require_http_methods(["GET", "POST"])
@templates_page
def template_new(request: HttpRequest, type_slug: str) -> HttpResponse:
    template_type = _type(type_slug)
    if request.method == "GET":
        return _editor(request, template_type, values={})
    name = request.POST.get("name", "").strip()
    try:
        body = request_from_form(template_type, request.POST)
        service.template_create(template_type, name, body, by=request.user)
    except (FormInvalid, service.TemplateInvalid) as problem:
        return _editor(request, template_type, name=name, values=request.POST, error=str(problem), status=400)
    messages.success(request, f"Template {name} created as version 1, active.")
    return redirect(_edit_url(template_type, name))


@require_http_methods(["GET", "POST"])
@templates_page
def template_edit(request: HttpRequest, type_slug: str, name: str) -> HttpResponse:
    """GET shows the latest version (or ?version=N); POST saves: `save=new` adds a version, else
    the latest version is overwritten (`base` must still be the latest, or nothing is saved)."""
    template_type = _type(type_slug)
    template = _version(template_type, name).template
    latest = template.versions.order_by("-version").first()
    latest.template = template
    if request.method == "GET":
        row = _version(template_type, name, request.GET["version"]) if request.GET.get("version") else latest
        return _editor(request, template_type, name=name, row=row)
    create_new = request.POST.get("save") == "new"
    try:
        body = request_from_form(template_type, request.POST)
        saved = service.template_update(
            template_type,
            name,
            body,
            create_new_version=create_new,
            version=None if create_new else request.POST.get("base") or None,
        )
    except (FormInvalid, service.TemplateInvalid) as problem:
        return _editor(
            request, template_type, name=name, row=latest, values=request.POST, error=str(problem), status=400
        )
    except service.TemplateNotFound:
        raise Http404("No such template.") from None
    verb = "saved as new version" if create_new else "updated"
    messages.success(request, f"Version {saved.version} {verb}.")
    return redirect(_edit_url(template_type, name))


@require_POST
@templates_page(post_writes=False)
def template_preview(request: HttpRequest, type_slug: str) -> HttpResponse:
    """The preview fragment for the editor's current (unsaved) fields (htmx)."""
    template_type = _type(type_slug)
    preview = _preview_context(request, template_type, request.POST, request.POST.get("endpoint", ""))
    return render(request, "campaigns/template_preview.html", {"template_type": template_type, **preview})


def _send_target(project: Project, template_type: str, data: Mapping[str, str]) -> tuple[Recipient, str]:
    """The test send's recipient (the chosen endpoint, or an address on the chosen channel) and its
    channel; FormInvalid when it cannot receive this type of template."""
    channels = SEND_CHANNELS[template_type]
    if data.get("target") == "endpoint":
        endpoint_id = data.get("endpoint", "").strip()
        endpoint = (
            Endpoint.objects.for_project(project).filter(key=endpoint_key(endpoint_id)).first()
            if endpoint_id and "\x00" not in endpoint_id
            else None
        )
        if endpoint is None:
            raise FormInvalid(f"No endpoint with the id “{endpoint_id[:128]}” in {project.name}.")
        if endpoint.channel_type not in channels:
            raise FormInvalid(
                f"Endpoint {endpoint.endpoint_id} is a {endpoint.channel_type or 'channel-less'} endpoint: "
                f"{TYPE_LABELS[template_type].lower()} templates go to {', '.join(channels)} endpoints."
            )
        return Recipient(key=endpoint.endpoint_id, is_endpoint=True), endpoint.channel_type
    address = data.get("address", "").strip()
    channel = data.get("channel") or channels[0]
    if not address:
        raise FormInvalid("Write the address to send the test message to.")
    if channel not in channels:
        raise FormInvalid(f"{TYPE_LABELS[template_type]} templates are sent on {', '.join(channels)}.")
    return Recipient(key=address, is_endpoint=False, channel_type=channel), channel


@require_POST
@templates_page(post_writes=False)
def template_test_send(request: HttpRequest, type_slug: str, name: str) -> HttpResponse:
    """Send one version (`version`) through SendMessages' path — the project's channel and outbox —
    to an endpoint of the current project or to an address; the outcome is shown on the editor."""
    template_type = _type(type_slug)
    role_check(request.project.role, write=True)
    row = _version(template_type, name, request.POST.get("version") or None)
    back = f"{_edit_url(template_type, name)}?version={row.version}"
    if request.POST.get("endpoint"):
        back += "&" + urlencode({"endpoint": request.POST["endpoint"]})
    if not SEND_CHANNELS[template_type]:
        messages.error(request, "In-app templates are not sent: apps fetch in-app messages themselves.")
        return redirect(back)
    try:
        recipient, channel = _send_target(request.project, template_type, request.POST)
    except FormInvalid as problem:
        messages.error(request, f"Nothing was sent. {problem}")
        return redirect(back)
    if channel not in TRANSPORTS:
        messages.error(request, f"Nothing was sent: Engage has no transport for {channel} yet.")
        return redirect(back)
    spec = MessageSpec(templates={TEMPLATE_MEMBER[template_type]: (name, str(row.version))})
    try:
        result = messages_send(request.project, [recipient], spec, request_id=f"test-send-{uuid.uuid4().hex}")
    except MessageInvalid as problem:
        messages.error(request, f"Nothing was sent. {problem}")
        return redirect(back)
    outcome = result[(recipient.is_endpoint, recipient.key)]
    to = f"{outcome.address or recipient.key} ({channel})"
    if outcome.delivery_status == "SUCCESSFUL":
        messages.success(request, f"Version {row.version} sent to {to}. Message id: {outcome.message_id}.")
    elif outcome.delivery_status in ("TEMPORARY_FAILURE", "THROTTLED"):
        messages.warning(request, f"Not sent to {to} yet: {outcome.status_message}")
    else:
        messages.error(request, f"Not sent to {to}: {outcome.delivery_status}. {outcome.status_message}")
    return redirect(back)


def version_text(row: TemplateVersion) -> list[str]:
    """A version as lines for a diff: each member, then the substitutions and description."""
    lines: list[str] = []
    for key in sorted(row.content):
        value = row.content[key]
        text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
        lines += [f"── {key}", *text.splitlines()]
    if row.default_substitutions:
        lines += ["── DefaultSubstitutions", *row.default_substitutions.splitlines()]
    if row.description:
        lines += ["── TemplateDescription", *row.description.splitlines()]
    return lines


def version_diff(old: TemplateVersion, new: TemplateVersion) -> list[tuple[str, str]]:
    """(kind, line) of a unified diff from `old` to `new`; kind is add, del, hunk or same."""
    lines = difflib.unified_diff(
        version_text(old), version_text(new), f"version {old.version}", f"version {new.version}", lineterm=""
    )
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return [(kinds.get(line[:1], "same"), line) for line in list(lines)[2:]]


@require_http_methods(["GET", "POST"])
@templates_page
def template_history(request: HttpRequest, type_slug: str, name: str) -> HttpResponse:
    """Versions newest first; ?from=&to= shows their diff; POST `activate` makes a version active."""
    template_type = _type(type_slug)
    template = _version(template_type, name).template
    if request.method == "POST":
        try:
            service.template_activate(template_type, name, request.POST.get("activate", ""))
        except (service.TemplateInvalid, service.TemplateNotFound) as problem:
            messages.error(request, str(problem))
        else:
            messages.success(request, f"Version {request.POST['activate']} is now active.")
        return redirect(reverse("campaigns:template_history", args=[type_slug, name]))
    versions = list(template.versions.order_by("-version"))
    by_number = {str(v.version): v for v in versions}
    old = by_number.get(request.GET.get("from", ""))
    new = by_number.get(request.GET.get("to", ""))
    if old is None and new is None and len(versions) > 1:
        new, old = versions[0], versions[1]
    diff = version_diff(old, new) if old is not None and new is not None else None
    return render(
        request,
        "campaigns/template_history.html",
        {
            "project": request.project,
            "template": template,
            "slug": type_slug,
            "type_label": TYPE_LABELS[template_type],
            "versions": versions,
            "old": old,
            "new": new,
            "diff": diff,
            "can_write": service.templates_writable_by(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@templates_page
def template_delete_page(request: HttpRequest, type_slug: str, name: str) -> HttpResponse:
    template_type = _type(type_slug)
    template = _version(template_type, name).template
    if request.method == "POST":
        service.template_delete(template_type, name)
        messages.success(request, f"Template {name} and all its versions were deleted.")
        return redirect("campaigns:templates")
    return render(
        request,
        "campaigns/template_delete.html",
        {"project": request.project, "template": template, "slug": type_slug, "type_label": TYPE_LABELS[template_type]},
    )
