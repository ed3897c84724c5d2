import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


def new_resource_id() -> str:
    """A Pinpoint-style resource id: 32 lowercase hex characters."""
    return uuid.uuid4().hex


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


WRITE_ROLES = frozenset({Role.OWNER, Role.EDITOR})


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ProjectQuerySet":
        """Projects the user is a member of (every project for superusers)."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(memberships__user=user)


class Project(models.Model):
    """A Pinpoint application: the tenant every other row belongs to."""

    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    name = models.CharField(max_length=256)
    creation_date = models.DateTimeField(auto_now_add=True)
    tags = models.JSONField(default=dict, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["creation_date", "id"]
        indexes = [models.Index(fields=["creation_date", "id"], name="project_listing")]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def arn(self) -> str:
        return f"arn:aws:mobiletargeting:{settings.ENGAGE_REGION}:{settings.ENGAGE_ACCOUNT_ID}:apps/{self.id}"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]
        ordering = ["project", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project.name}"

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


MAX_INT32 = 2**31 - 1  # the largest count an integer column holds on PostgreSQL

hh_mm = RegexValidator(r"^([01]\d|2[0-3]):[0-5]\d$", "Use 24-hour HH:MM, for example 22:00.")


class HookMode(models.TextChoices):
    FILTER = "FILTER", "Filter"
    DELIVERY = "DELIVERY", "Delivery (deprecated)"


class ApplicationSettings(models.Model):
    """A project's defaults for campaigns and journeys (Pinpoint's ApplicationSettingsResource).

    An empty value means "not set"; Pinpoint omits unset members from the response.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="settings", primary_key=True)
    last_modified_date = models.DateTimeField(auto_now=True)

    hook_lambda_function_name = models.CharField(max_length=256, blank=True)
    hook_mode = models.CharField(max_length=16, choices=HookMode.choices, blank=True)
    hook_web_url = models.URLField(max_length=2048, blank=True)

    limits_daily = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    limits_maximum_duration = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(60), MaxValueValidator(MAX_INT32)]
    )
    limits_messages_per_second = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(20000)]
    )
    limits_total = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    limits_session = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(MAX_INT32)])

    quiet_time_start = models.CharField(max_length=5, blank=True, validators=[hh_mm])
    quiet_time_end = models.CharField(max_length=5, blank=True, validators=[hh_mm])

    journey_daily_cap = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    journey_timeframe_cap = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    journey_timeframe_days = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(30)])
    journey_total_cap = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])

    cloudwatch_metrics_enabled = models.BooleanField(default=False)
    event_tagging_enabled = models.BooleanField(default=False)

    class Meta:
        verbose_name = "application settings"
        verbose_name_plural = "application settings"

    def __str__(self) -> str:
        return f"Settings of {self.project_id}"


def new_access_key_id() -> str:
    # 20 characters like AWS key ids; the EK prefix tells Engage keys apart from AWS ones.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "EKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


class AccessKeyQuerySet(models.QuerySet):
    def active(self) -> "AccessKeyQuerySet":
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class AccessKey(models.Model):
    """An API credential of a user. The secret is stored encrypted (engage.crypto), never in plain text."""

    access_key_id = models.CharField(max_length=20, unique=True, default=new_access_key_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys")
    description = models.CharField(max_length=200, blank=True)
    secret_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = AccessKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
