"""Message templates: Pinpoint's Create/Update/Get/Delete per type, versions and the active version.

Templates are account-level in Pinpoint; an Engage installation plays one AWS account, so its
templates are shared by all its projects (see campaigns.models). Who may use them is decided here,
once, by `templates_access_check`: any active user with a membership in at least one project reads;
owners and editors of at least one project (and superusers) write.

Versions (Pinpoint's semantics): the first version is 1 and active. An update overwrites the latest
existing version unless `create_new_version`, which adds max+1 (numbers are never reused, even after
a version is deleted). A `version` given to an update must name the latest version (optimistic
concurrency) and may not be combined with `create_new_version`. Get without a version answers the
active version; delete without a version removes the template with all its versions.

Deleting one version: Pinpoint does not document what happens to the active version, so Engage
refuses to delete the active version while others exist (activate another one first); deleting the
only remaining version deletes the template, since a template without versions cannot be used.
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.db.models.functions import Left
from django.utils import timezone

from campaigns.handlebars import TemplateError, compile_template
from campaigns.models import MessageTemplate, TemplateType, TemplateVersion
from projects.models import WRITE_ROLES, Membership
from projects.services import tags_validate

NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MAX_VERSIONS = 5000
MAX_TEMPLATES = 20000

# Character caps per type (Pinpoint's quotas), counted over the parts that carry the message.
EMAIL_CAP = 600_000
SMS_CAP = 1_600
VOICE_CAP = 10_000
INAPP_CAP = 200_000
PUSH_PART_CAPS = {"Default": 4_000, "APNS": 4_000, "GCM": 4_000, "Baidu": 4_000, "ADM": 6_000}


class TemplateInvalid(Exception):
    """The request breaks a rule of templates (Pinpoint answers 400 BadRequestException)."""


class TemplateNotFound(Exception):
    """No such template, or no such version of it (Pinpoint answers 404 NotFoundException)."""


# --- who may use templates -----------------------------------------------------------------------


def templates_readable_by(user) -> bool:
    """Active users with a membership in at least one project (superusers always) may read."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or Membership.objects.filter(user=user).exists()


def templates_writable_by(user) -> bool:
    """Owners or editors of at least one project (superusers always) may write."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or Membership.objects.filter(user=user, role__in=WRITE_ROLES).exists()


def templates_access_check(user, *, write: bool) -> None:
    """The one sharing rule of account-level templates; raises PermissionDenied."""
    if not templates_readable_by(user):
        raise PermissionDenied("Message templates are available to members of a project.")
    if write and not templates_writable_by(user):
        raise PermissionDenied("Changing message templates needs the owner or editor role in a project.")


# --- content of each type ------------------------------------------------------------------------

PUSH_ACTIONS = ("OPEN_APP", "DEEP_LINK", "URL")
INAPP_LAYOUTS = ("BOTTOM_BANNER", "TOP_BANNER", "OVERLAYS", "MOBILE_FEED", "MIDDLE_BANNER", "CAROUSEL")
ALIGNMENTS = ("LEFT", "CENTER", "RIGHT")
BUTTON_ACTIONS = ("LINK", "DEEP_LINK", "CLOSE")

_DEFAULT_PUSH = ("Action", "Body", "Sound", "Title", "Url")
_APNS_PUSH = ("Action", "Body", "MediaUrl", "RawContent", "Sound", "Title", "Url")
_ANDROID_PUSH = (
    "Action",
    "Body",
    "ImageIconUrl",
    "ImageUrl",
    "RawContent",
    "SmallImageIconUrl",
    "Sound",
    "Title",
    "Url",
)
PUSH_PART_MEMBERS = {
    "Default": _DEFAULT_PUSH,
    "APNS": _APNS_PUSH,
    "GCM": _ANDROID_PUSH,
    "ADM": _ANDROID_PUSH,
    "Baidu": _ANDROID_PUSH,
}


def _string(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise TemplateInvalid(f"{where} must be a string.")
    return value


def _strings(request: Mapping[str, Any], members: tuple[str, ...], prefix: str = "") -> dict[str, str]:
    return {m: _string(prefix + m, request[m]) for m in members if request.get(m) is not None}


def _enum(where: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise TemplateInvalid(f"{where} must be one of {', '.join(allowed)}.")
    return value  # type: ignore[return-value]


def _cap(what: str, size: int, cap: int) -> None:
    if size > cap:
        raise TemplateInvalid(f"{what} is {size} characters long; the limit is {cap}.")


def _email(request: Mapping[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = _strings(request, ("Subject", "HtmlPart", "TextPart", "RecommenderId"))
    if request.get("Headers") is not None:
        headers = request["Headers"]
        if not isinstance(headers, list) or not all(isinstance(h, Mapping) for h in headers):
            raise TemplateInvalid("Headers must be a list of {Name, Value} objects.")
        if len(headers) > 15:
            raise TemplateInvalid("An email template has at most 15 Headers.")
        content["Headers"] = [_strings(h, ("Name", "Value"), "Headers.") for h in headers]
    _cap("The email template", sum(len(content.get(p, "")) for p in ("Subject", "HtmlPart", "TextPart")), EMAIL_CAP)
    return content


def _sms(request: Mapping[str, Any]) -> dict[str, Any]:
    content = _strings(request, ("Body", "RecommenderId"))
    _cap("The SMS template's Body", len(content.get("Body", "")), SMS_CAP)
    return content


def _voice(request: Mapping[str, Any]) -> dict[str, Any]:
    content = _strings(request, ("Body", "LanguageCode", "VoiceId"))
    _cap("The voice template's Body", len(content.get("Body", "")), VOICE_CAP)
    return content


def _push(request: Mapping[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = _strings(request, ("RecommenderId",))
    for part, members in PUSH_PART_MEMBERS.items():
        given = request.get(part)
        if given is None:
            continue
        if not isinstance(given, Mapping):
            raise TemplateInvalid(f"{part} must be an object.")
        values = _strings(given, members, f"{part}.")
        if "Action" in values:
            _enum(f"{part}.Action", values["Action"], PUSH_ACTIONS)
        _cap(f"The {part} part", sum(len(v) for k, v in values.items() if k != "Action"), PUSH_PART_CAPS[part])
        content[part] = values
    return content


def _inapp_content(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise TemplateInvalid(f"{where} must be an object.")
    out: dict[str, Any] = _strings(item, ("BackgroundColor", "ImageUrl"), f"{where}.")
    for config, required in (
        ("HeaderConfig", ("Alignment", "Header", "TextColor")),
        ("BodyConfig", ("Alignment", "Body", "TextColor")),
    ):
        given = item.get(config)
        if given is None:
            continue
        if not isinstance(given, Mapping) or any(given.get(m) is None for m in required):
            raise TemplateInvalid(f"{where}.{config} needs {', '.join(required)}.")
        values = _strings(given, required, f"{where}.{config}.")
        _enum(f"{where}.{config}.Alignment", values["Alignment"], ALIGNMENTS)
        out[config] = values
    for button in ("PrimaryBtn", "SecondaryBtn"):
        given = item.get(button)
        if given is None:
            continue
        if not isinstance(given, Mapping):
            raise TemplateInvalid(f"{where}.{button} must be an object.")
        out[button] = _inapp_button(given, f"{where}.{button}")
    return out


def _inapp_button(button: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    default = button.get("DefaultConfig")
    if default is not None:
        if not isinstance(default, Mapping) or default.get("ButtonAction") is None or default.get("Text") is None:
            raise TemplateInvalid(f"{where}.DefaultConfig needs ButtonAction and Text.")
        values: dict[str, Any] = _strings(
            default, ("BackgroundColor", "ButtonAction", "Link", "Text", "TextColor"), f"{where}.DefaultConfig."
        )
        _enum(f"{where}.DefaultConfig.ButtonAction", values["ButtonAction"], BUTTON_ACTIONS)
        if default.get("BorderRadius") is not None:
            if not isinstance(default["BorderRadius"], int) or isinstance(default["BorderRadius"], bool):
                raise TemplateInvalid(f"{where}.DefaultConfig.BorderRadius must be a whole number.")
            values["BorderRadius"] = default["BorderRadius"]
        out["DefaultConfig"] = values
    for platform in ("Android", "IOS", "Web"):
        given = button.get(platform)
        if given is None:
            continue
        if not isinstance(given, Mapping) or given.get("ButtonAction") is None:
            raise TemplateInvalid(f"{where}.{platform} needs ButtonAction.")
        values = _strings(given, ("ButtonAction", "Link"), f"{where}.{platform}.")
        _enum(f"{where}.{platform}.ButtonAction", values["ButtonAction"], BUTTON_ACTIONS)
        out[platform] = values
    return out


def inapp_template_content(request: Mapping[str, Any]) -> dict[str, Any]:
    """The checked in-app content (Content, CustomConfig, Layout) of a request, as an in-app template
    stores it and an InAppMessage campaign sends it. Raises TemplateInvalid."""
    content: dict[str, Any] = {}
    if request.get("Content") is not None:
        items = request["Content"]
        if not isinstance(items, list):
            raise TemplateInvalid("Content must be a list of in-app message contents.")
        if len(items) > 5:
            raise TemplateInvalid("An in-app template has at most 5 Content items.")
        content["Content"] = [_inapp_content(item, f"Content[{i}]") for i, item in enumerate(items)]
    if request.get("CustomConfig") is not None:
        config = request["CustomConfig"]
        if not isinstance(config, Mapping) or not all(isinstance(v, str) for v in config.values()):
            raise TemplateInvalid("CustomConfig must be an object of string values.")
        content["CustomConfig"] = dict(config)
    if request.get("Layout") is not None:
        content["Layout"] = _enum("Layout", request["Layout"], INAPP_LAYOUTS)
    _cap("The in-app template", len(json.dumps(content, ensure_ascii=False)), INAPP_CAP)
    return content


CONTENT_OF: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    TemplateType.EMAIL: _email,
    TemplateType.SMS: _sms,
    TemplateType.VOICE: _voice,
    TemplateType.PUSH: _push,
    TemplateType.INAPP: inapp_template_content,
}


def template_parts(template_type: str, content: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, source) of each part that carries Handlebars personalisation, in reading order.

    In-app templates have none: Pinpoint does not support variables in them."""
    if template_type == TemplateType.PUSH:
        return [
            (f"{part}.{member}", content[part][member])
            for part, members in PUSH_PART_MEMBERS.items()
            if isinstance(content.get(part), Mapping)
            for member in members
            if member != "Action" and content[part].get(member)
        ]
    members = {
        TemplateType.EMAIL: ("Subject", "HtmlPart", "TextPart"),
        TemplateType.SMS: ("Body",),
        TemplateType.VOICE: ("Body",),
    }.get(template_type, ())
    parts = [(m, content[m]) for m in members if content.get(m)]
    if template_type == TemplateType.EMAIL:
        parts += [
            (f"Headers[{i}].Value", h["Value"]) for i, h in enumerate(content.get("Headers", [])) if h.get("Value")
        ]
    return parts


def _check_syntax(template_type: str, content: Mapping[str, Any]) -> None:
    """Every personalised part must compile; the error names the part, line and column."""
    for label, source in template_parts(template_type, content):
        try:
            compile_template(source)
        except TemplateError as problem:
            where = f" at line {problem.line}, column {problem.column}" if problem.line is not None else ""
            raise TemplateInvalid(f"{label} does not parse{where}: {problem.message}") from None


@dataclass(frozen=True)
class VersionData:
    """A version's parsed request: the type's members, DefaultSubstitutions and description."""

    content: dict[str, Any]
    default_substitutions: str
    description: str


def _parse(template_type: str, request: Mapping[str, Any]) -> VersionData:
    if template_type not in CONTENT_OF:
        raise TemplateInvalid(f"Template type must be one of {', '.join(TemplateType.values)}.")
    if not isinstance(request, Mapping):
        raise TemplateInvalid("The template request must be a JSON object.")
    content = CONTENT_OF[template_type](request)
    description = _string("TemplateDescription", request.get("TemplateDescription") or "")
    substitutions = ""
    if template_type != TemplateType.INAPP and request.get("DefaultSubstitutions") not in (None, ""):
        substitutions = _string("DefaultSubstitutions", request["DefaultSubstitutions"])
        try:
            parsed = json.loads(substitutions)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise TemplateInvalid(
                'DefaultSubstitutions must be a JSON object as a string, e.g. "{\\"Name\\": \\"there\\"}".'
            )
    _check_syntax(template_type, content)
    return VersionData(content, substitutions, description)


def _version_number(raw: str | int) -> int:
    text = str(raw)
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise TemplateInvalid(f"version must be a version number such as 1, not '{text[:40]}'.")
    return int(text)


# --- reads ---------------------------------------------------------------------------------------


def _template(template_type: str, name: str) -> MessageTemplate:
    template = MessageTemplate.objects.filter(name=name, template_type=template_type).first()
    if template is None:
        raise TemplateNotFound(f"Template {name} of type {template_type} not found.")
    return template


def _latest(template: MessageTemplate) -> TemplateVersion:
    return template.versions.order_by("-version").first()  # a template always has a version


def template_get(template_type: str, name: str, version: str | None = None) -> TemplateVersion:
    """The active version, or the given one (with its template); raises TemplateNotFound/Invalid."""
    template = _template(template_type, name)
    number = template.active_version if version in (None, "") else _version_number(version)
    row = template.versions.filter(version=number).first()
    if row is None:
        raise TemplateNotFound(f"Template {name} of type {template_type} has no version {number}.")
    row.template = template
    return row


def templates_list(*, prefix: str = "", template_type: str | None = None) -> QuerySet[MessageTemplate]:
    """Templates whose name starts with `prefix` (case-sensitive), of one type or all."""
    templates = MessageTemplate.objects.all()
    if template_type:
        if template_type not in TemplateType.values:
            raise TemplateInvalid(f"template-type must be one of {', '.join(TemplateType.values)}.")
        templates = templates.filter(template_type=template_type)
    if prefix:
        # LIKE is case-insensitive on SQLite; comparing the leading characters is exact everywhere.
        templates = templates.annotate(name_head=Left("name", len(prefix))).filter(name_head=prefix)
    return templates


def template_versions(template_type: str, name: str) -> QuerySet[TemplateVersion]:
    """The template's versions, newest first; raises TemplateNotFound."""
    template = _template(template_type, name)
    return template.versions.order_by("-version").select_related("template")


# --- writes --------------------------------------------------------------------------------------


def template_create(
    template_type: str, name: str, request: Mapping[str, Any], *, tags: Mapping[str, str] | None = None, by=None
) -> MessageTemplate:
    """Create a template with version 1, active; raises TemplateInvalid (bad name or content, name
    already used for this type, too many templates) or ValidationError (tags)."""
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise TemplateInvalid(
            "A template name starts with a letter or digit and has at most 128 letters, digits, _ and -."
        )
    data = _parse(template_type, request)
    tags = tags_validate(tags) if tags is not None else {}
    now = timezone.now()
    try:
        with transaction.atomic():
            if MessageTemplate.objects.filter(name=name, template_type=template_type).exists():
                raise TemplateInvalid("Template already exists.")
            if MessageTemplate.objects.count() >= MAX_TEMPLATES:
                raise TemplateInvalid(f"An account has at most {MAX_TEMPLATES} templates.")
            template = MessageTemplate.objects.create(
                name=name,
                template_type=template_type,
                tags=tags,
                creation_date=now,
                last_modified_date=now,
                created_by=by if by is not None and by.is_authenticated else None,
            )
            TemplateVersion.objects.create(
                template=template,
                version=1,
                content=data.content,
                default_substitutions=data.default_substitutions,
                description=data.description,
                creation_date=now,
                last_modified_date=now,
            )
    except IntegrityError:
        raise TemplateInvalid("Template already exists.") from None
    return template


def template_update(
    template_type: str,
    name: str,
    request: Mapping[str, Any],
    *,
    create_new_version: bool = False,
    version: str | None = None,
) -> TemplateVersion:
    """Overwrite the latest version, or add version max+1 when `create_new_version`; the new version
    is not activated. Raises TemplateNotFound, or TemplateInvalid (bad content, `version` with
    `create_new_version`, `version` not the latest, too many versions)."""
    if create_new_version and version not in (None, ""):
        raise TemplateInvalid("Don't pass version together with create-new-version.")
    data = _parse(template_type, request)
    now = timezone.now()
    with transaction.atomic():
        template = _template(template_type, name)
        template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        latest = _latest(template)
        if create_new_version:
            if template.versions.count() >= MAX_VERSIONS:
                raise TemplateInvalid(f"A template has at most {MAX_VERSIONS} versions.")
            number = max(template.latest_version, latest.version) + 1
            row = TemplateVersion.objects.create(
                template=template,
                version=number,
                content=data.content,
                default_substitutions=data.default_substitutions,
                description=data.description,
                creation_date=now,
                last_modified_date=now,
            )
            template.latest_version = number
        else:
            if version not in (None, "") and _version_number(version) != latest.version:
                raise TemplateInvalid(
                    f"version {version} is not the latest version ({latest.version}) of the template; "
                    "only the latest version can be updated."
                )
            row = latest
            row.content = data.content
            row.default_substitutions = data.default_substitutions
            row.description = data.description
            row.last_modified_date = now
            row.save(update_fields=["content", "default_substitutions", "description", "last_modified_date"])
        template.last_modified_date = now
        template.save(update_fields=["latest_version", "last_modified_date"])
    row.template = template
    return row


def template_delete(template_type: str, name: str, version: str | None = None) -> None:
    """Delete the template with all its versions, or one version (see the module docstring for the
    active and the last version); raises TemplateNotFound or TemplateInvalid."""
    with transaction.atomic():
        template = _template(template_type, name)
        template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        if version in (None, ""):
            template.delete()
            return
        number = _version_number(version)
        row = template.versions.filter(version=number).first()
        if row is None:
            raise TemplateNotFound(f"Template {name} of type {template_type} has no version {number}.")
        if template.versions.count() == 1:
            template.delete()
            return
        if number == template.active_version:
            raise TemplateInvalid(
                f"Version {number} is the active version; activate another version before deleting it."
            )
        row.delete()
        template.last_modified_date = timezone.now()
        template.save(update_fields=["last_modified_date"])


def template_activate(template_type: str, name: str, version: str) -> MessageTemplate:
    """Make `version` ("latest" or a number) the active version; idempotent; raises
    TemplateNotFound or TemplateInvalid."""
    if not isinstance(version, str) or version == "":
        raise TemplateInvalid('Version is required: "latest" or a version number.')
    with transaction.atomic():
        template = _template(template_type, name)
        template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        if version.lower() == "latest":
            number = template.versions.aggregate(latest=Max("version"))["latest"]
        else:
            number = _version_number(version)
            if not template.versions.filter(version=number).exists():
                raise TemplateNotFound(f"Template {name} of type {template_type} has no version {number}.")
        template.active_version = number
        template.last_modified_date = timezone.now()
        template.save(update_fields=["active_version", "last_modified_date"])
    return template


def template_for_tagging(user, resource_path: str, write: bool) -> MessageTemplate | None:
    """The template a `templates/{name}/{TYPE}` ARN names, for projects.tagging; raises
    PermissionDenied under the sharing rule."""
    name, _, template_type = resource_path.partition("/")
    templates_access_check(user, write=write)
    return MessageTemplate.objects.filter(name=name, template_type=template_type).first()


def template_reference_problem(template_type: str, name: str, version: str | None) -> tuple[str, str] | None:
    """Why a campaign's or journey's reference to a template (name, and version or None for the active
    one) names none: ("name" | "version", message) — or None when the template exists."""
    template = MessageTemplate.objects.filter(name=name, template_type=template_type).first()
    if template is None:
        other = MessageTemplate.objects.filter(name=name).values_list("template_type", flat=True).first()
        kind = f" ({name[:128]} is a {other} template)" if other else ""
        return "name", f"there is no {template_type} template named {name[:128]}{kind}."
    if version is not None and not (
        version.isascii() and version.isdigit() and template.versions.filter(version=int(version)).exists()
    ):
        return "version", f"template {name[:128]} has no version {version[:40]}."
    return None
