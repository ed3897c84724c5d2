"""The audience of a project: endpoints, the users they belong to, events, attribute definitions.

Storage choices (see ARCHITECTURE.md "Audience storage"): the fixed Pinpoint fields are columns
(indexable, typed); the open-ended maps (Attributes, Metrics, UserAttributes) are JSON columns,
with GIN indexes on PostgreSQL so segment dimensions compile to indexed containment tests.
User attributes live once per user (AudienceUser), so every endpoint of a user shows the same.
"""

import hashlib
from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from projects.models import Project, new_resource_id


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
    # No separate project index: the unique (project, key) constraint leads with the project.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="endpoints", db_index=False)
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
            models.Index(fields=["project", "channel_type", "status", "opt_out"], name="endpoint_channel_status"),
            models.Index(fields=["project", "last_active_at"], name="endpoint_recency"),
            models.Index(fields=["project", "creation_date"], name="endpoint_created"),  # new endpoints a day
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


class EventKeyKind(models.TextChoices):
    ATTRIBUTE = "ATTRIBUTE", "Event attribute"
    METRIC = "METRIC", "Event metric"


class EventKey(models.Model):
    """A custom (not `_`-prefixed) attribute or metric name of a project's events.

    PutEvents admits at most 500 of each kind per project (Pinpoint's quotas); known names always
    pass. Registered as PutEvents stores events; migration 0009 backfilled the names of stored events
    of custom types.
    """

    # No separate project index: the unique constraint's leading column is the project.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="event_keys", db_index=False)
    kind = models.CharField(max_length=9, choices=EventKeyKind.choices)
    name = models.CharField(max_length=50)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "kind", "name"], name="event_key_unique")]

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
    # True while the event waits for the project's event stream; NULL otherwise (the project had no
    # stream when it was stored, or it was shipped). Only waiting rows are in the partial index.
    stream_pending = models.BooleanField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            # A client retrying the same PutEvents call does not store the event twice.
            models.UniqueConstraint(fields=["project", "endpoint_key", "client_event_id"], name="event_unique")
        ]
        indexes = [
            models.Index(fields=["project", "event_type", "timestamp"], name="event_type_time"),
            models.Index(fields=["project", "endpoint_key", "timestamp"], name="event_endpoint_time"),
            models.Index(fields=["project", "id"], name="event_stream_pending", condition=Q(stream_pending=True)),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.timestamp:%Y-%m-%d %H:%M}"


class SegmentType(models.TextChoices):
    DIMENSIONAL = "DIMENSIONAL"
    IMPORT = "IMPORT"


class ImportFormat(models.TextChoices):
    CSV = "CSV"
    JSON = "JSON"


class Segment(models.Model):
    """A Pinpoint segment. Imported (static) segments list their members in SegmentMember; dynamic
    (DIMENSIONAL) ones will carry their criteria and be compiled to SQL (issue 4)."""

    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=256, blank=True)
    segment_type = models.CharField(max_length=16, choices=SegmentType.choices)
    version = models.PositiveIntegerField(default=1, help_text="Plus one on every change.")
    creation_date = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)
    tags = models.JSONField(default=dict, blank=True)
    # A DIMENSIONAL segment's definition, as the API writes it (compiled by audience.compiler).
    dimensions = models.JSONField(null=True, blank=True, help_text="SegmentDimensions, or null.")
    segment_groups = models.JSONField(null=True, blank=True, help_text="SegmentGroupList, or null.")

    # SegmentImportResource: how an IMPORT segment was made.
    import_format = models.CharField(max_length=4, choices=ImportFormat.choices, blank=True)
    import_s3_url = models.CharField(max_length=1024, blank=True)
    import_role_arn = models.CharField(max_length=2048, blank=True)
    import_external_id = models.CharField(max_length=256, blank=True)
    import_size = models.PositiveIntegerField(default=0, help_text="Members of an imported segment.")
    import_channel_counts = models.JSONField(default=dict, blank=True, help_text="Members per ChannelType.")

    class Meta:
        indexes = [models.Index(fields=["project", "creation_date", "id"], name="segment_listing")]

    def __str__(self) -> str:
        return self.name or self.id

    @property
    def arn(self) -> str:
        return f"{self.project.arn}/segments/{self.id}"


class SegmentVersion(models.Model):
    """Every version a segment had (GetSegmentVersion(s)); source references may pin one."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=256, blank=True)
    definition = models.JSONField(default=dict, blank=True, help_text="Dimensions or SegmentGroups of the version.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "version"], name="segment_version_unique")]
        ordering = ["segment", "version"]

    def __str__(self) -> str:
        return f"{self.segment_id} v{self.version}"


class SegmentMember(models.Model):
    """One endpoint of an imported segment, by endpoint key (see ARCHITECTURE.md "Segments").

    Keyed by the key rather than a foreign key to Endpoint so membership is written set-based from
    the same keys the import stages, survives an endpoint being deleted and written again, and joins
    to Endpoint through its unique (project, key) index.
    """

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    endpoint_key = models.CharField(max_length=128)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "endpoint_key"], name="segment_member_unique")]

    def __str__(self) -> str:
        return self.endpoint_key


class JobStatus(models.TextChoices):
    CREATED = "CREATED"
    PREPARING_FOR_INITIALIZATION = "PREPARING_FOR_INITIALIZATION"
    INITIALIZING = "INITIALIZING"
    PROCESSING = "PROCESSING"
    PENDING_JOB = "PENDING_JOB"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"
    FAILING = "FAILING"
    FAILED = "FAILED"


FINISHED_JOB_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})
MAX_JOB_FAILURES = 100  # Pinpoint's Failures lists the first 100


class JobQuerySet(models.QuerySet):
    def for_project(self, project: Project) -> "JobQuerySet":
        return self.filter(project=project)

    def unfinished(self) -> "JobQuerySet":
        return self.exclude(status__in=FINISHED_JOB_STATUSES)


class Job(models.Model):
    """What import and export jobs share: Pinpoint's job fields and the worker's claim on the row."""

    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    status = models.CharField(max_length=32, choices=JobStatus.choices, default=JobStatus.CREATED)
    creation_date = models.DateTimeField(default=timezone.now)
    completion_date = models.DateTimeField(null=True, blank=True)
    total_pieces = models.PositiveIntegerField(default=0)
    completed_pieces = models.PositiveIntegerField(default=0)
    failed_pieces = models.PositiveIntegerField(default=0)
    total_processed = models.PositiveIntegerField(default=0)
    total_failures = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True, help_text="The first 100 failures: file, line, reason.")
    # A worker holds the job while `claimed_until` is in the future; a dead worker's claim lapses.
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES


class ImportSource(models.TextChoices):
    S3 = "S3", "S3 (CreateImportJob)"
    UPLOAD = "UPLOAD", "Upload (Audience page)"


class ImportJob(Job):
    """CreateImportJob, or an upload from the browser. Progress (file, byte offset, line) is saved
    with each committed chunk, so a worker that dies resumes after the last chunk it committed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    source = models.CharField(max_length=8, choices=ImportSource.choices, default=ImportSource.S3)
    format = models.CharField(max_length=4, choices=ImportFormat.choices)
    s3_url = models.CharField(max_length=1024, help_text="s3://bucket/key-or-prefix; upload://name for uploads.")
    role_arn = models.CharField(max_length=2048, blank=True)
    external_id = models.CharField(max_length=256, blank=True)
    register_endpoints = models.BooleanField(default=True)
    define_segment = models.BooleanField(default=False)
    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="import_jobs")
    segment_name = models.CharField(max_length=256, blank=True)
    upload = models.CharField(max_length=512, blank=True, help_text="Name of the uploaded file in storage.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    # Browser uploads are checked first (a dry run that writes nothing) and run once confirmed.
    preview = models.JSONField(null=True, blank=True, help_text="Dry-run summary: new, updated, invalid, reasons.")
    confirmed = models.BooleanField(default=True)

    # Resumable progress: files[file_index] is read from byte `file_offset` (line `file_line` done).
    files = models.JSONField(default=list, blank=True, help_text="The files of the job, fixed when it starts.")
    file_index = models.PositiveIntegerField(default=0)
    file_offset = models.BigIntegerField(default=0)
    file_line = models.PositiveIntegerField(default=0)
    file_header = models.JSONField(default=list, blank=True, help_text="The CSV header of the current file.")
    new_endpoints = models.PositiveIntegerField(default=0)
    updated_endpoints = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["project", "creation_date", "id"], name="import_job_listing")]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class ImportFailure(models.Model):
    """Every row an import could not take, for the failed-rows download (the job keeps the first 100)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="failed_rows")
    file = models.CharField(max_length=1024)
    line = models.PositiveIntegerField()
    reason = models.TextField()
    row = models.TextField(blank=True, help_text="The row as it was in the file (cut at 16 KB).")

    class Meta:
        indexes = [models.Index(fields=["job", "id"], name="import_failure_job")]

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class ExportJob(Job):
    """CreateExportJob: gzip newline-delimited EndpointResponse JSON under S3UrlPrefix. Progress is
    the last endpoint key written and the files written, so a resumed export continues there."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    s3_url_prefix = models.CharField(max_length=1024, help_text="s3://bucket/folder/")
    role_arn = models.CharField(max_length=2048, blank=True)
    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="export_jobs")
    segment_version = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_key = models.CharField(max_length=128, blank=True, help_text="Endpoints up to this key are written.")
    written_files = models.JSONField(default=list, blank=True, help_text="Objects written so far.")

    class Meta:
        indexes = [models.Index(fields=["project", "creation_date", "id"], name="export_job_listing")]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class EventStream(models.Model):
    """PutEventStream: where a project's events are shipped (Kinesis, Firehose or an HTTPS webhook),
    and how shipping goes. One per project. Events stored while it exists carry `stream_pending`;
    a worker holding the lease ships them in batches (audience.streams)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="event_stream")
    destination_stream_arn = models.CharField(max_length=2048, help_text="Kinesis or Firehose ARN, or webhook URL.")
    role_arn = models.CharField(max_length=2048, blank=True, help_text="Stored and echoed; never assumed.")
    created_at = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)
    last_updated_by = models.CharField(max_length=512, blank=True)

    # Shipping: one worker at a time holds the lease; failures back off; errors are kept for the page.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    wake_queued = models.BooleanField(default=False, help_text="A shipping task is queued (coalesces wake-ups).")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts in a row.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    records_sent = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.destination_stream_arn


class MetricSource(models.TextChoices):
    APP = "APP"
    CAMPAIGN = "CAMPAIGN"
    JOURNEY = "JOURNEY"
    TRANSACTIONAL = "TRANSACTIONAL"


class MetricDay(models.Model):
    """The analytics rollup: how many events of a kind (`metric`, see audience.analytics.rollups) a
    project stored for one UTC day, source, channel and campaign/journey activity. Kept current in the
    transaction that inserts the events; `analytics_rebuild` recomputes it from the events."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="metric_days")
    day = models.DateField()
    source = models.CharField(max_length=16, choices=MetricSource.choices)
    channel = models.CharField(max_length=20, blank=True)
    campaign_id = models.CharField(max_length=32, blank=True)
    campaign_activity_id = models.CharField(max_length=32, blank=True)
    treatment_id = models.CharField(max_length=8, blank=True)
    journey_id = models.CharField(max_length=32, blank=True)
    journey_activity_id = models.CharField(max_length=128, blank=True)
    metric = models.CharField(max_length=160)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "project",
                    "day",
                    "source",
                    "channel",
                    "campaign_id",
                    "campaign_activity_id",
                    "treatment_id",
                    "journey_id",
                    "journey_activity_id",
                    "metric",
                ],
                name="metric_day_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["project", "campaign_id", "day"], name="metric_day_campaign", condition=~Q(campaign_id="")
            ),
            models.Index(
                fields=["project", "journey_id", "day"], name="metric_day_journey", condition=~Q(journey_id="")
            ),
            # /metrics reads today's delivery outcomes across every project.
            models.Index(fields=["day", "metric"], name="metric_day_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.source} {self.metric} = {self.value}"


class AnalyticsSeen(models.Model):
    """First-ness for counts a daily sum cannot give: an endpoint's first app event of a day (scope
    "active", key = endpoint key), a message's first open or click ever (scope "open" or "click",
    key = message id, day = ANY_DAY)."""

    ANY_DAY = date(1970, 1, 1)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16)
    key = models.CharField(max_length=255)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "scope", "key", "day"], name="analytics_seen_unique")]
        indexes = [models.Index(fields=["project", "scope", "day"], name="analytics_seen_day")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} {self.day}"
