"""The audience of a project: endpoints, the users they belong to, events, attribute definitions.

Storage choices (see ARCHITECTURE.md "Audience storage"): the fixed Pinpoint fields are columns
(indexable, typed); the open-ended maps (Attributes, Metrics, UserAttributes) are JSON columns,
with GIN indexes on PostgreSQL so segment dimensions compile to indexed containment tests.
User attributes live once per user (AudienceUser), so every endpoint of a user shows the same.
"""

import hashlib

from django.db import models

from projects.models import Project


class ChannelType(models.TextChoices):
    PUSH = "PUSH"
    GCM = "GCM"
    APNS = "APNS"
    APNS_SANDBOX = "APNS_SANDBOX"
    APNS_VOIP = "APNS_VOIP"
    APNS_VOIP_SANDBOX = "APNS_VOIP_SANDBOX"
    ADM = "ADM"
    SMS = "SMS"
    VOICE = "VOICE"
    EMAIL = "EMAIL"
    BAIDU = "BAIDU"
    CUSTOM = "CUSTOM"
    IN_APP = "IN_APP"


# Channels whose 16th endpoint of a user displaces the user's oldest push endpoint (Pinpoint's rule).
PUSH_CHANNELS = frozenset(
    {
        ChannelType.ADM,
        ChannelType.GCM,
        ChannelType.APNS,
        ChannelType.APNS_SANDBOX,
        ChannelType.APNS_VOIP,
        ChannelType.APNS_VOIP_SANDBOX,
        ChannelType.BAIDU,
    }
)


class EndpointStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class OptOut(models.TextChoices):
    ALL = "ALL"
    NONE = "NONE"


def endpoint_key(endpoint_id: str) -> str:
    """Endpoint ids are case-insensitive in Pinpoint: the key they are unique by."""
    return endpoint_id.lower()


def cohort_of(endpoint_id: str) -> int:
    """A stable bucket 0-99 from the endpoint id (Pinpoint's CohortId), used for A/B splits."""
    digest = hashlib.sha256(endpoint_key(endpoint_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


class AudienceUser(models.Model):
    """Pinpoint's User: endpoints sharing a UserId share its UserAttributes."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audience_users")
    user_id = models.CharField(max_length=256)
    attributes = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user_id"], name="audience_user_unique")]

    def __str__(self) -> str:
        return self.user_id


class EndpointQuerySet(models.QuerySet):
    def for_project(self, project: Project) -> "EndpointQuerySet":
        return self.filter(project=project)

    def active(self) -> "EndpointQuerySet":
        return self.filter(status=EndpointStatus.ACTIVE)


class Endpoint(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="endpoints")
    endpoint_id = models.CharField(max_length=128, help_text="The id as the client wrote it.")
    key = models.CharField(max_length=128, help_text="The id lower-cased: endpoint ids are case-insensitive.")
    channel_type = models.CharField(max_length=20, choices=ChannelType.choices, blank=True)
    address = models.CharField(max_length=512, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    user_id = models.CharField(max_length=256, blank=True, help_text="User.UserId; attributes in AudienceUser.")

    app_version = models.CharField(max_length=100, blank=True)
    locale = models.CharField(max_length=50, blank=True)
    make = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=100, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    platform = models.CharField(max_length=100, blank=True)
    platform_version = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, blank=True)

    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    postal_code = models.CharField(max_length=50, blank=True)
    region = models.CharField(max_length=100, blank=True)

    opt_out = models.CharField(max_length=8, default=OptOut.NONE)
    status = models.CharField(max_length=8, choices=EndpointStatus.choices, default=EndpointStatus.ACTIVE)
    effective_date = models.DateTimeField()
    creation_date = models.DateTimeField()
    request_id = models.CharField(max_length=64, blank=True)
    cohort_id = models.PositiveSmallIntegerField()
    last_active_at = models.DateTimeField(null=True, blank=True, help_text="Latest event or update (Recency).")

    objects = EndpointQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="endpoint_unique_key")]
        indexes = [
            models.Index(fields=["project", "address"], name="endpoint_address"),
            models.Index(fields=["project", "user_id"], name="endpoint_user"),
            models.Index(fields=["project", "channel_type", "status"], name="endpoint_channel_status"),
            models.Index(fields=["project", "last_active_at"], name="endpoint_recency"),
            models.Index(fields=["project", "country"], name="endpoint_country"),
        ]

    def __str__(self) -> str:
        return self.endpoint_id


class AttributeKind(models.TextChoices):
    """The three attribute families, named as RemoveAttributes' {attribute-type} path parameter."""

    CUSTOM = "endpoint-custom-attributes", "Endpoint attribute"
    METRIC = "endpoint-metric-attributes", "Endpoint metric"
    USER = "endpoint-user-attributes", "User attribute"


class AttributeDefinition(models.Model):
    """An attribute name a project has used; at most 250 live ones per project.

    RemoveAttributes marks names removed: endpoints keep their values, new values are not captured.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="attribute_definitions")
    kind = models.CharField(max_length=32, choices=AttributeKind.choices)
    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "kind", "name"], name="attribute_definition_unique")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class Event(models.Model):
    """An event reported through PutEvents (or generated by Engage: `_campaign.send`, `_email.open`...)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    endpoint_key = models.CharField(max_length=128)
    client_event_id = models.CharField(max_length=128, help_text="The event's key in the PutEvents request.")
    event_type = models.CharField(max_length=100)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    attributes = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    session_id = models.CharField(max_length=128, blank=True)
    session_start = models.DateTimeField(null=True, blank=True)
    session_stop = models.DateTimeField(null=True, blank=True)
    session_duration = models.BigIntegerField(null=True, blank=True)
    app_package_name = models.CharField(max_length=256, blank=True)
    app_title = models.CharField(max_length=256, blank=True)
    app_version_code = models.CharField(max_length=64, blank=True)
    client_sdk_version = models.CharField(max_length=64, blank=True)
    sdk_name = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            # A client retrying the same PutEvents call does not store the event twice.
            models.UniqueConstraint(fields=["project", "endpoint_key", "client_event_id"], name="event_unique")
        ]
        indexes = [
            models.Index(fields=["project", "event_type", "timestamp"], name="event_type_time"),
            models.Index(fields=["project", "endpoint_key", "timestamp"], name="event_endpoint_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.timestamp:%Y-%m-%d %H:%M}"
