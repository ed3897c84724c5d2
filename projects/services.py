"""The verbs of the projects app: every write with rules or side effects."""

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from engage import crypto
from projects.models import AccessKey, ApplicationSettings, Membership, Project, Role

MAX_TAGS = 50
_TAG_CHARS = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)


def tags_validate(tags: object) -> dict[str, str]:
    """Check a tag map against Pinpoint's rules; returns it or raises ValidationError."""
    if not isinstance(tags, Mapping):
        raise ValidationError("tags must be an object of string keys to string values.")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValidationError("tags must be an object of string keys to string values.")
        if not 1 <= len(key) <= 128:
            raise ValidationError(f"Tag key '{key[:140]}' must be 1 to 128 characters long.")
        if len(value) > 256:
            raise ValidationError(f"The value of tag '{key}' is longer than 256 characters.")
        if key.lower().startswith("aws:"):
            raise ValidationError(f"Tag key '{key}' uses the reserved prefix 'aws:'.")
        if not _TAG_CHARS.match(key) or not _TAG_CHARS.match(value):
            raise ValidationError(f"Tag '{key}' may contain only letters, digits, whitespace and _ . : / = + - @.")
    return dict(tags)


def tags_merge(current: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """Add or replace tags, keeping Pinpoint's limit of 50 per resource; raises ValidationError."""
    merged = {**current, **tags_validate(new)}
    if len(merged) > MAX_TAGS:
        raise ValidationError(f"A resource can have at most {MAX_TAGS} tags; this would make {len(merged)}.")
    return merged


@transaction.atomic
def project_create(*, name: str, owner: AbstractBaseUser, tags: Mapping[str, str] | None = None) -> Project:
    """Create a project with default settings and its creator as owner; raises ValidationError."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Name is required.")
    if len(name) > 256:
        raise ValidationError("Name must be at most 256 characters long.")
    valid_tags = tags_validate(tags or {})
    if len(valid_tags) > MAX_TAGS:
        raise ValidationError(f"A resource can have at most {MAX_TAGS} tags.")
    project = Project.objects.create(name=name, tags=valid_tags)
    ApplicationSettings.objects.create(project=project)
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    return project


@transaction.atomic
def project_rename(project: Project, *, name: str) -> Project:
    """Change a project's display name; raises ValidationError for an empty or long name."""
    name = (name or "").strip()
    if not name or len(name) > 256:
        raise ValidationError("Name must be 1 to 256 characters long.")
    project.name = name
    project.save(update_fields=["name"])
    return project


def project_delete(project: Project) -> None:
    """Delete a project and every row that belongs to it (cascades through the tenant key)."""
    with transaction.atomic():
        project.delete()


def tags_apply(row: Model, *, add: Mapping[str, str] | None = None, remove: Iterable[str] = ()) -> Model:
    """Add/replace and remove tags on any taggable row (a `tags` JSON field); raises ValidationError."""
    with transaction.atomic():
        locked = type(row).objects.select_for_update().get(pk=row.pk)
        tags = tags_merge(locked.tags, add or {})
        for key in remove:
            tags.pop(key, None)
        locked.tags = tags
        locked.save(update_fields=["tags"])
    row.tags = locked.tags
    return row


@dataclass(frozen=True)
class SettingsChange:
    """Parsed WriteApplicationSettingsRequest members. None means "not sent, keep"."""

    campaign_hook: Mapping[str, str] | None = None
    limits: Mapping[str, int] | None = None
    quiet_time: Mapping[str, str] | None = None
    journey_limits: Mapping[str, object] | None = None
    cloudwatch_metrics_enabled: bool | None = None
    event_tagging_enabled: bool | None = None


_HOOK_FIELDS = {"LambdaFunctionName": "hook_lambda_function_name", "Mode": "hook_mode", "WebUrl": "hook_web_url"}
_LIMIT_FIELDS = {
    "Daily": "limits_daily",
    "MaximumDuration": "limits_maximum_duration",
    "MessagesPerSecond": "limits_messages_per_second",
    "Total": "limits_total",
    "Session": "limits_session",
}
_QUIET_FIELDS = {"Start": "quiet_time_start", "End": "quiet_time_end"}
_JOURNEY_FIELDS = {"DailyCap": "journey_daily_cap", "TotalCap": "journey_total_cap"}
_TIMEFRAME_FIELDS = {"Cap": "journey_timeframe_cap", "Days": "journey_timeframe_days"}


def _assign(target: ApplicationSettings, mapping: Mapping[str, str], values: Mapping, blank: object) -> None:
    # A sent object replaces the whole group, as Pinpoint does: members not sent become unset.
    for member, field in mapping.items():
        value = values.get(member)
        setattr(target, field, blank if value is None else value)


def application_settings_for(project: Project) -> ApplicationSettings:
    """The project's settings row, created with defaults if missing (e.g. after an admin import)."""
    current, _ = ApplicationSettings.objects.get_or_create(project=project)
    return current


@transaction.atomic
def application_settings_update(project: Project, change: SettingsChange) -> ApplicationSettings:
    """Apply a settings change; groups sent replace the stored group. Raises ValidationError."""
    application_settings_for(project)
    current = ApplicationSettings.objects.select_for_update().get(project=project)
    if change.campaign_hook is not None:
        _assign(current, _HOOK_FIELDS, change.campaign_hook, "")
    if change.limits is not None:
        _assign(current, _LIMIT_FIELDS, change.limits, None)
    if change.quiet_time is not None:
        _assign(current, _QUIET_FIELDS, change.quiet_time, "")
    if change.journey_limits is not None:
        _assign(current, _JOURNEY_FIELDS, change.journey_limits, None)
        timeframe = change.journey_limits.get("TimeframeCap") or {}
        _assign(current, _TIMEFRAME_FIELDS, timeframe, None)
    if change.cloudwatch_metrics_enabled is not None:
        current.cloudwatch_metrics_enabled = change.cloudwatch_metrics_enabled
    if change.event_tagging_enabled is not None:
        current.event_tagging_enabled = change.event_tagging_enabled
    if bool(current.quiet_time_start) != bool(current.quiet_time_end):
        raise ValidationError("QuietTime needs both Start and End.")
    current.full_clean(exclude=["project"])
    current.save()
    return current


@transaction.atomic
def membership_set(project: Project, *, user: AbstractBaseUser, role: str) -> Membership:
    """Give a user a role in a project (adding or changing the membership); raises ValidationError."""
    if role not in Role.values:
        raise ValidationError(f"Role must be one of {', '.join(Role.values)}.")
    existing = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if existing and existing.role == Role.OWNER and role != Role.OWNER:
        _keep_an_owner(project, leaving=existing)
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def membership_add(project: Project, *, user: AbstractBaseUser, role: str) -> Membership:
    """Make a user a member; raises ValidationError if they already are or the role is unknown."""
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError(f"{user.get_username()} is already a member; change their role instead.")
    return membership_set(project, user=user, role=role)


@transaction.atomic
def membership_remove(membership: Membership) -> None:
    """Remove a member; the last owner cannot be removed (raises ValidationError)."""
    if membership.role == Role.OWNER:
        _keep_an_owner(membership.project, leaving=membership)
    membership.delete()


def _keep_an_owner(project: Project, *, leaving: Membership) -> None:
    owners = project.memberships.select_for_update().filter(role=Role.OWNER).exclude(pk=leaving.pk)
    if not owners.exists():
        raise ValidationError("A project needs at least one owner.")


_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"


@dataclass(frozen=True)
class IssuedKey:
    key: AccessKey
    secret: str


def access_key_create(user: AbstractBaseUser, *, description: str = "") -> IssuedKey:
    """Issue a new access key; the plain secret is returned here once and never stored."""
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    key = AccessKey.objects.create(user=user, description=description[:200], secret_encrypted=crypto.encrypt(secret))
    return IssuedKey(key=key, secret=secret)


def access_key_revoke(key: AccessKey) -> AccessKey:
    """Revoke a key; idempotent (revoking twice keeps the first revocation time)."""
    AccessKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    return key


LAST_USED_RESOLUTION = timedelta(minutes=1)


def access_key_mark_used(key: AccessKey, *, now: datetime | None = None) -> None:
    """Record use of a key, writing at most once a minute per key (no write per request)."""
    now = now or timezone.now()
    if key.last_used_at and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
