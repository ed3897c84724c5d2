"""Messaging: channels of a project and message templates (with versions).

Channel settings are stored as sent (validated per kind by the channel's dataclass, see
campaigns/channels.py once built); secrets (API keys, certificates, service JSON, token keys) are
kept apart, encrypted with engage.crypto, and never returned.

Message templates are account-level in Pinpoint (`/v1/templates/...` names no application). An
Engage installation plays the part of one AWS account: templates are shared by its projects.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from projects.models import Project


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
            # Provider webhooks (anymail tracking, later SMS receipts) name the provider's message id.
            models.Index(
                fields=["provider_message_id"], name="delivery_provider_id", condition=~models.Q(provider_message_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.address} ({self.status})"


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
