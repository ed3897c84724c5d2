"""Messaging: channels of a project and message templates (with versions).

Channel settings are stored as sent (validated per kind by the channel's dataclass, see
campaigns/channels.py once built); secrets (API keys, certificates, service JSON, token keys) are
kept apart, encrypted with engage.crypto, and never returned.

Message templates are account-level in Pinpoint (`/v1/templates/...` names no application). An
Engage installation plays the part of one AWS account: templates are shared by its projects.
"""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from projects.models import Project, new_resource_id


class ChannelKind(models.TextChoices):
    """Channel resources a project can configure (IN_APP and CUSTOM have none)."""

    EMAIL = "EMAIL"
    SMS = "SMS"
    VOICE = "VOICE"
    GCM = "GCM"
    APNS = "APNS"
    APNS_SANDBOX = "APNS_SANDBOX"
    APNS_VOIP = "APNS_VOIP"
    APNS_VOIP_SANDBOX = "APNS_VOIP_SANDBOX"
    ADM = "ADM"
    BAIDU = "BAIDU"


class Channel(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="channels")
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=False)
    settings = models.JSONField(default=dict, blank=True, help_text="Non-secret request members, as sent.")
    secrets_encrypted = models.TextField(blank=True, help_text="engage.crypto of the JSON of secret members.")
    version = models.PositiveIntegerField(default=1)
    creation_date = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)
    last_modified_by = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "kind"], name="channel_unique_kind")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.project_id}"


class TemplateType(models.TextChoices):
    EMAIL = "EMAIL"
    SMS = "SMS"
    VOICE = "VOICE"
    PUSH = "PUSH"
    INAPP = "INAPP"


class MessageTemplate(models.Model):
    """A named template of one type; its content lives in versions, one of them active."""

    name = models.CharField(max_length=128)
    template_type = models.CharField(max_length=8, choices=TemplateType.choices)
    active_version = models.PositiveIntegerField(default=1)
    latest_version = models.PositiveIntegerField(default=1, help_text="Version numbers are never reused.")
    tags = models.JSONField(default=dict, blank=True)
    creation_date = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "template_type"], name="template_unique_name")]
        indexes = [models.Index(fields=["template_type", "name"], name="template_listing")]

    def __str__(self) -> str:
        return f"{self.name} ({self.template_type})"

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:mobiletargeting:{settings.ENGAGE_REGION}:{settings.ENGAGE_ACCOUNT_ID}:"
            f"templates/{self.name}/{self.template_type}"
        )


class TemplateVersion(models.Model):
    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    content = models.JSONField(default=dict, blank=True, help_text="The type's request members (Subject, HtmlPart…).")
    default_substitutions = models.TextField(blank=True, help_text="Pinpoint's JSON string of variable → default.")
    description = models.TextField(blank=True)
    creation_date = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")]
        ordering = ["template", "-version"]

    def __str__(self) -> str:
        return f"{self.template} v{self.version}"


# What a Delivery goes out through: the configurable channels, and CUSTOM (a webhook the campaign or
# journey names). IN_APP messages are fetched by apps (GetInAppMessages), never delivered.
DeliveryChannel = models.TextChoices("DeliveryChannel", [*ChannelKind.names, "CUSTOM"])


class DeliverySource(models.TextChoices):
    TRANSACTIONAL = "TRANSACTIONAL"
    CAMPAIGN = "CAMPAIGN"
    JOURNEY = "JOURNEY"


class DeliveryStatus(models.TextChoices):
    """QUEUED → SENDING (claimed, leased) → SENT | QUEUED again (transient failure, retry at
    next_attempt_at) | FAILED_PERMANENT | UNKNOWN (the lease ran out too often: the outcome is unknown)."""

    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED_PERMANENT = "FAILED_PERMANENT"
    UNKNOWN = "UNKNOWN"


class DeliveryQuerySet(models.QuerySet):
    def for_project(self, project: Project) -> "DeliveryQuerySet":
        return self.filter(project=project)

    def due(self, now) -> "DeliveryQuerySet":
        return self.filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)

    def lease_expired(self, now) -> "DeliveryQuerySet":
        return self.filter(status=DeliveryStatus.SENDING, lease_until__lt=now)


class Delivery(models.Model):
    """One message to one address: the outbox row. Its state is the truth; queues carry its id only.

    `message_id` is fixed when the row is made and sent on every attempt (email: the Message-ID header;
    other channels: a 32-hex idempotency key a transport passes to its provider where it can), so a copy
    sent again after a crash (the provider accepted, the worker died before recording it) is
    recognisable. `provider_message_id` is what the transport's send() returned (SMTP: the Message-ID;
    Twilio: the message SID; FCM: the message name...).

    Email uses the subject/text/html/headers columns. Every other channel keeps its rendered message in
    `payload`, with Pinpoint's member names, so a transport reads what the API was sent:
    - SMS: Body, OriginationNumber, SenderId, MessageType (TRANSACTIONAL|PROMOTIONAL), Keyword,
      EntityId, TemplateId; `address` is the E.164 phone number.
    - VOICE: Body, OriginationNumber, LanguageCode, VoiceId; `address` is the phone number.
    - GCM, APNS*, ADM, BAIDU (push): Action (OPEN_APP|DEEP_LINK|URL), Title, Body, Url, ImageUrl,
      ImageIconUrl, SmallImageIconUrl, Sound, Data (string → string), SilentPush, RawContent,
      TimeToLive (seconds), Priority, Badge, Category, ThreadId, MediaUrl, PreferredAuthenticationMethod,
      APNSPushType, CollapseKey/CollapseId, Context (string → string: the request's Context, for
      data.pinpoint); `address` is the device token.
    - CUSTOM: Data (the message string), DeliveryUri; `address` is the endpoint's address.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=20, choices=DeliveryChannel.choices)
    address = models.CharField(max_length=512)
    endpoint_key = models.CharField(max_length=128, blank=True)
    user_id = models.CharField(max_length=256, blank=True)
    source = models.CharField(max_length=16, choices=DeliverySource.choices, default=DeliverySource.TRANSACTIONAL)
    request_id = models.CharField(max_length=64, blank=True)
    from_address = models.CharField(max_length=512, blank=True)
    subject = models.TextField(blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    headers = models.JSONField(default=list, blank=True, help_text="Extra [{Name, Value}] headers.")
    payload = models.JSONField(
        default=dict, blank=True, help_text="The rendered message of a non-email channel (see Delivery)."
    )
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, help_text="Whose claim the SENDING row is.")
    message_id = models.CharField(max_length=255, unique=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What sent it, for caps and analytics (ids, not foreign keys: a deleted campaign's deliveries stay).
    campaign_id = models.CharField(max_length=32, blank=True)
    campaign_activity_id = models.CharField(max_length=32, blank=True)
    treatment_id = models.CharField(max_length=8, blank=True)
    journey_id = models.CharField(max_length=32, blank=True)
    journey_activity_id = models.CharField(max_length=128, blank=True)
    journey_run_id = models.CharField(max_length=32, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Not sent after this (event-triggered campaigns: 5 minutes)."
    )

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        indexes = [
            # The sweeper's two questions, each answered from a small partial index.
            models.Index(
                fields=["next_attempt_at"], name="delivery_due", condition=models.Q(status=DeliveryStatus.QUEUED)
            ),
            models.Index(
                fields=["lease_until"], name="delivery_leased", condition=models.Q(status=DeliveryStatus.SENDING)
            ),
            models.Index(fields=["project", "created_at"], name="delivery_project_time"),
            # Caps: an endpoint's messages of a day (all campaigns and journeys) and of one campaign.
            models.Index(
                fields=["project", "endpoint_key", "created_at"],
                name="delivery_endpoint_time",
                condition=~models.Q(endpoint_key=""),
            ),
            models.Index(
                fields=["campaign_id", "endpoint_key"], name="delivery_campaign", condition=~models.Q(campaign_id="")
            ),
            # Journey activity metrics: a journey's message activities and their rows.
            models.Index(
                fields=["journey_id", "journey_activity_id"],
                name="delivery_journey",
                condition=~models.Q(journey_id=""),
            ),
            # Provider webhooks (anymail tracking, later SMS receipts) name the provider's message id.
            models.Index(
                fields=["provider_message_id"], name="delivery_provider_id", condition=~models.Q(provider_message_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.address} ({self.status})"

    def source_attributes(self) -> dict[str, str]:
        """The campaign's or journey's ids, which the channel events of its messages carry in Pinpoint
        (the campaign pages, journey splits and metrics count by them); {} for other messages."""
        attributes = {}
        if self.campaign_id:
            attributes |= {
                "campaign_id": self.campaign_id,
                "campaign_activity_id": self.campaign_activity_id,
                "treatment_id": self.treatment_id,
            }
        if self.journey_id:
            attributes |= {
                "journey_id": self.journey_id,
                "journey_activity_id": self.journey_activity_id,
                "journey_run_id": self.journey_run_id,
            }
        return attributes


class OneTimePassword(models.Model):
    """The active SendOTPMessage code of one (project, destination, reference id): a new send replaces it.

    Only an HMAC of the code is kept (campaigns.otp). `attempts` counts verifications tried; a
    successful one deletes the row, so a code verifies once.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="one_time_passwords")
    destination = models.CharField(max_length=32, help_text="E.164 phone number.")
    reference_id = models.CharField(max_length=48)
    code_hash = models.CharField(max_length=64)
    allowed_attempts = models.PositiveSmallIntegerField()
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    delivery = models.ForeignKey(Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "destination", "reference_id"], name="otp_one_active_code")
        ]
        indexes = [models.Index(fields=["expires_at"], name="otp_expiry")]

    def __str__(self) -> str:
        return f"OTP for {self.destination} ({self.reference_id})"


class CampaignState(models.TextChoices):
    """CampaignState.CampaignStatus in Pinpoint's model."""

    SCHEDULED = "SCHEDULED"
    EXECUTING = "EXECUTING"
    PENDING_NEXT_RUN = "PENDING_NEXT_RUN"
    COMPLETED = "COMPLETED"
    PAUSED = "PAUSED"
    DELETED = "DELETED"
    INVALID = "INVALID"


class Frequency(models.TextChoices):
    ONCE = "ONCE"
    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    EVENT = "EVENT"
    IN_APP_EVENT = "IN_APP_EVENT"


class Campaign(models.Model):
    """A campaign: its current definition (the WriteCampaignRequest members, as Pinpoint answers them)
    plus the columns the scheduler and listings query. Every change adds a CampaignVersion."""

    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=256, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Plus one on every update.")
    state = models.CharField(max_length=16, choices=CampaignState.choices, default=CampaignState.SCHEDULED)
    is_paused = models.BooleanField(default=False)
    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.ONCE)
    segment = models.ForeignKey(
        "audience.Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns"
    )
    segment_version = models.PositiveIntegerField(null=True, blank=True, help_text="Pinned, or null: latest.")
    priority = models.PositiveSmallIntegerField(null=True, blank=True, help_text="In-app: 1 is highest.")
    definition = models.JSONField(default=dict, help_text="The current version's WriteCampaignRequest members.")
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="When the scheduler starts the next run.")
    tags = models.JSONField(default=dict, blank=True)
    creation_date = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["project", "creation_date", "id"], name="campaign_listing"),
            models.Index(fields=["next_run_at"], name="campaign_due", condition=models.Q(next_run_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.name or self.id


class CampaignVersion(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField(default=dict)
    creation_date = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "version"], name="campaign_version_unique")]

    def __str__(self) -> str:
        return f"{self.campaign_id} v{self.version}"


class RunState(models.TextChoices):
    PENDING = "PENDING"  # made by the scheduler, not started
    EXECUTING = "EXECUTING"  # being written in batches (cursor says how far)
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"  # paused or deleted before it started
    FAILED = "FAILED"  # could not run (segment gone, invalid message...): `result` says why


class CampaignRun(models.Model):
    """One scheduled start of a campaign. Written in batches by keyset over the segment's endpoint keys;
    `cursor` is the last key whose decision is committed, so a run interrupted anywhere resumes after
    it. Unique per (campaign, scheduled_start): the scheduler cannot start the same run twice."""

    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    campaign_version = models.PositiveIntegerField()
    scheduled_start = models.DateTimeField()
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    result = models.CharField(max_length=512, blank=True)
    cursor = models.CharField(max_length=128, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "scheduled_start"], name="campaign_run_once_per_start")
        ]
        indexes = [
            models.Index(
                fields=["lease_until"],
                name="campaign_run_open",
                condition=models.Q(state__in=["PENDING", "EXECUTING"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} run at {self.scheduled_start:%Y-%m-%d %H:%M}"


class CampaignRunLane(models.Model):
    """A range of a large run's endpoint keys, (`after`, `upto`], written by a worker of its own, so
    several workers write one run at once (campaigns.runs.engine). Cursor and lease work as the run's
    do; `ended_at` is set once the lane's last batch is committed."""

    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="lanes")
    number = models.PositiveSmallIntegerField()
    after = models.CharField(max_length=128, blank=True, help_text='Exclusive lower bound; "": from the first key.')
    upto = models.CharField(max_length=128, blank=True, help_text='Inclusive upper bound; "": to the last key.')
    cursor = models.CharField(max_length=128, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="campaign_run_lane_unique")]

    def __str__(self) -> str:
        return f"lane {self.number} of {self.run_id}"


class ActivityState(models.TextChoices):
    """ActivityResponse.State, as Pinpoint names them."""

    PENDING = "PENDING"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


class CampaignActivity(models.Model):
    """Pinpoint's ActivityResponse: one treatment's share of one run (treatment "0" is the default)."""

    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="activities")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="activities")
    treatment_id = models.CharField(max_length=8, default="0")
    state = models.CharField(max_length=16, choices=ActivityState.choices, default=ActivityState.PENDING)
    result = models.CharField(max_length=8, blank=True, help_text="SUCCESS or FAIL once ended.")
    scheduled_start = models.DateTimeField()
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    total_endpoint_count = models.PositiveIntegerField(default=0)
    successful_endpoint_count = models.PositiveIntegerField(default=0)
    timezones = models.JSONField(
        default=dict,
        blank=True,
        help_text="Time zone → the instant its endpoints are sent to (the run's start, or with IsLocalTime "
        "its wall-clock time in that zone); endpoints without a valid zone count under the schedule's zone.",
    )
    execution_metrics = models.JSONField(default=dict, blank=True, help_text="Send status → endpoints.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "treatment_id"], name="campaign_activity_unique")]
        indexes = [models.Index(fields=["campaign", "scheduled_start"], name="campaign_activity_time")]

    def __str__(self) -> str:
        return f"{self.campaign_id} treatment {self.treatment_id} ({self.state})"

    def timezones_completed(self, now: datetime) -> int:
        """Pinpoint's TimezonesCompletedCount: the zones whose send instant has come, once the run has
        written all of its endpoints (the activity is COMPLETED)."""
        if self.state != ActivityState.COMPLETED:
            return 0
        return sum(1 for instant in (self.timezones or {}).values() if datetime.fromisoformat(instant) <= now)
