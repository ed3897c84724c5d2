"""One batch of a campaign activity: every endpoint's decision, the Delivery rows, the `_campaign.send`
events and the activity's counters — set-based, a fixed number of queries per batch whatever its size.

Decisions, in order (the first that applies):
  HOLDOUT (cohort in the holdout; recorded by treatment "0"'s activity, metric TREATMENT_HOLDOUT) ·
  ENDPOINT_INACTIVE · ENDPOINT_OPT_OUT · ENDPOINT_CHANNEL_MISMATCH (no message for its channel, or the
  channel is not enabled) · ENDPOINT_MISSING_ADDRESS · DUPLICATE_ADDRESS (one message per channel and
  address per run: the address goes to the lowest endpoint id among the run's reachable endpoints) ·
  CAMPAIGN_CAP (Limits.Total) · DAILY_CAP (Limits.Daily for this campaign, and the project's Daily
  across every source, over the last 24 h) · QUIET_TIME (at the endpoint's send instant) ·
  HOOK_FAILURE / FILTERED_OUT_BY_HOOK (the hook's answer left it out) · FAILURE (rendering failed) ·
  EXPIRED (MessagesPerSecond spacing would send it after MaximumDuration or `expires_at`) · SUCCESS
  (a Delivery row). The four ENDPOINT_* and FILTERED_OUT_BY_HOOK are execution metrics only (Pinpoint
  sends no event for them); the others are campaign_send_status values with an event each.

Idempotent per (activity, endpoint, occurrence): an endpoint whose `_campaign.send` event for the
activity (and occurrence) exists is not decided again (one indexed lookup per batch); a Delivery's
message_id is derived from (activity, endpoint[, occurrence]) and rows are inserted with ON CONFLICT
DO NOTHING; event ids are "<activity id>:<endpoint key>" (scheduled runs: occurrence "") or
"<activity id>:<endpoint key>:<occurrence>" (see `send_event_id`). Metric-only decisions have no
event: a second call counts them again.

Occurrences (event-triggered campaigns): an activity sends to an endpoint once per occurrence — the
triggering event's id — so each matching event gets its message while a retried trigger of the same
event writes nothing twice. With occurrences, the Total and Daily caps count the activity's own
earlier messages too (a scheduled run's activity sends an endpoint one message, and its caps count
the campaign's other activities only).
"""

import hashlib
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet

from audience.api.serializers import endpoint_responses
from audience.models import Endpoint, EndpointStatus, Event, OptOut
from audience.services import SystemEvent, events_record
from campaigns.deliveries import BATCH_SIZE, OutgoingMessage, delivery_row
from campaigns.handlebars import TemplateError
from campaigns.messages import E164, message_render
from campaigns.models import Campaign, CampaignActivity, Delivery, DeliverySource, DeliveryStatus
from campaigns.runs.hook import hook_filter, scheduled_time
from campaigns.runs.plan import Plan, TreatmentPlan, goes_custom, plan_for
from campaigns.runs.rate import RateSlots
from campaigns.schedule import endpoint_zone, in_quiet_time, local_instant
from campaigns.treatments import HOLDOUT, treatment_of
from engage.queue import enqueue_on_commit

SEND_EVENT = "_campaign.send"
# Decisions that are execution metrics only (no campaign_send_status, no event).
METRIC_ONLY = frozenset(
    {
        "ENDPOINT_INACTIVE",
        "ENDPOINT_OPT_OUT",
        "ENDPOINT_CHANNEL_MISMATCH",
        "ENDPOINT_MISSING_ADDRESS",
        "FILTERED_OUT_BY_HOOK",
    }
)
METRIC_NAME = {"HOLDOUT": "TREATMENT_HOLDOUT"}
DAY = timedelta(hours=24)
EVENT_ID_LENGTH = 128  # audience.Event.client_event_id
OVERRIDDEN = frozenset({"SMS", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU"})


def delivery_key(activity_id: str, key: str, occurrence: str = "") -> str:
    """The Delivery key of an activity's message to an endpoint (for an occurrence), the same on
    every retry."""
    ident = f"{activity_id}:{key}:{occurrence}" if occurrence else f"{activity_id}:{key}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def send_event_id(activity_id: str, key: str, occurrence: str = "") -> str:
    """The `_campaign.send` event id of an activity's decision for an endpoint (and occurrence):
    "<activity>:<key>[:<occurrence>]"; one too long for the column (128: a key over 95 characters, or
    a long occurrence id) is "<activity>:<sha256 of key[:occurrence], 32 hex>" (the event row
    carries the endpoint anyway)."""
    ident = f"{activity_id}:{key}:{occurrence}" if occurrence else f"{activity_id}:{key}"
    if len(ident) <= EVENT_ID_LENGTH:
        return ident
    hashed = f"{key}:{occurrence}" if occurrence else key
    return f"{activity_id}:{hashlib.sha256(hashed.encode()).hexdigest()[:32]}"


def campaign_send_to(
    campaign: Campaign,
    activity: CampaignActivity,
    endpoint_keys: Sequence[str],
    *,
    now: datetime,
    expires_at: datetime | None = None,
    members: QuerySet | None = None,
    occurrence: str | Mapping[str, str] = "",
    start: datetime | None = None,
) -> dict[str, str]:
    """Decide, write and count one batch of `activity` (see the module doc); returns endpoint key →
    campaign_send_status or metric name, for the endpoints of this activity's treatment (and, for
    treatment "0", the holdout); other keys are left out. `members`, the run's audience, widens
    DUPLICATE_ADDRESS to the whole run (without it: within the batch). `occurrence` — one id for
    every key, or endpoint key → id — is what the message is for (an event trigger: the triggering
    event's id); "" (scheduled runs): the activity's one message to the endpoint. `start` is the
    instant the batch's send times, MaximumDuration, quiet time and the hook's ScheduledTime are
    measured from (default: the activity's scheduled_start; a trigger: the event's arrival).
    Idempotent per (activity, endpoint, occurrence); raises RunInvalid when a template the campaign
    names is gone."""
    plan = plan_for(campaign, activity.run.campaign_version)
    return send_batch(
        plan,
        activity,
        endpoint_keys,
        now=now,
        expires_at=expires_at,
        members=members,
        occurrence=occurrence,
        start=start,
    )


def send_batch(
    plan: Plan,
    activity: CampaignActivity,
    endpoint_keys: Sequence[str],
    *,
    now: datetime,
    expires_at: datetime | None = None,
    members: QuerySet | None = None,
    occurrence: str | Mapping[str, str] = "",
    start: datetime | None = None,
) -> dict[str, str]:
    """campaign_send_to with the plan worked out already: decide, then write in one transaction."""
    batch = batch_decide(
        plan,
        activity,
        endpoint_keys,
        now=now,
        expires_at=expires_at,
        members=members,
        occurrence=occurrence,
        start=start,
    )
    if batch is None:
        return {}
    with transaction.atomic(savepoint=False):
        batch.write()
    return batch.result


def batch_decide(
    plan: Plan,
    activity: CampaignActivity,
    endpoint_keys: Sequence[str],
    *,
    now: datetime,
    expires_at: datetime | None = None,
    members: QuerySet | None = None,
    occurrence: str | Mapping[str, str] = "",
    start: datetime | None = None,
) -> "Batch | None":
    """One batch's decisions — reads and the hook's calls, outside any transaction — ready for
    `Batch.write()` in the transaction that records them; None when the activity has nothing here."""
    treatment = plan.treatments.get(activity.treatment_id)
    if treatment is None or not endpoint_keys:
        return None
    batch = Batch(plan, treatment, activity, now=now, expires_at=expires_at, occurrence=occurrence, start=start)
    batch.decide(list(endpoint_keys), members)
    return batch


class Batch:
    """One activity's share of a batch: decided by `decide`, recorded by `write`."""

    def __init__(
        self,
        plan: Plan,
        treatment: TreatmentPlan,
        activity: CampaignActivity,
        *,
        now: datetime,
        expires_at: datetime | None,
        occurrence: str | Mapping[str, str] = "",
        start: datetime | None = None,
    ) -> None:
        self.plan, self.treatment, self.activity = plan, treatment, activity
        self.now, self.expires_at = now, expires_at
        # A scheduled run's treatment with its own later StartTime sends that much after the run's start.
        self.start = start or activity.scheduled_start + treatment.delay
        self.occurrence = occurrence
        # With occurrences an activity sends an endpoint more than once: its own rows count in the caps.
        self.repeating = bool(occurrence if isinstance(occurrence, str) else any(occurrence.values()))
        self.decided: dict[str, str] = {}
        self.before: dict[str, str] = {}
        self.delivery_type: dict[str, str] = {}
        self.rows: list[Delivery] = []
        self.zones: dict[str, datetime] = {}  # zone name → its send instant (CampaignActivity.timezones)

    def occurrence_of(self, key: str) -> str:
        return self.occurrence if isinstance(self.occurrence, str) else self.occurrence.get(key, "")

    def event_id(self, key: str) -> str:
        return send_event_id(self.activity.id, key, self.occurrence_of(key))

    @property
    def result(self) -> dict[str, str]:
        """Endpoint key → campaign_send_status or metric name (decided now, or before)."""
        return {**self.before, **self.decided}

    def decide(self, keys: list[str], members: QuerySet | None) -> None:
        plan, treatment = self.plan, self.treatment
        keys = self._undecided(keys)
        endpoints = list(Endpoint.objects.for_project(plan.project).filter(key__in=keys).order_by("key"))
        candidates: list[tuple[Endpoint, bool]] = []  # (endpoint, goes custom)
        for e in endpoints:
            allocated = treatment_of(e.cohort_id, plan.allocation)
            if allocated == HOLDOUT:
                if treatment.id == "0":
                    self.delivery_type[e.key] = e.channel_type or ""
                    self._set(e, "HOLDOUT")
                continue
            if allocated != treatment.id:
                continue
            custom = goes_custom(treatment, e)
            self._zone(e)
            self.delivery_type[e.key] = "CUSTOM" if custom else (e.channel_type or "")
            if e.status != EndpointStatus.ACTIVE:
                self._set(e, "ENDPOINT_INACTIVE")
            elif e.opt_out == OptOut.ALL:
                self._set(e, "ENDPOINT_OPT_OUT")
            elif not custom and plan.message(treatment, e.channel_type) is None:
                self._set(e, "ENDPOINT_CHANNEL_MISMATCH")
            elif not e.address and not custom:
                self._set(e, "ENDPOINT_MISSING_ADDRESS")
            elif not custom and e.channel_type == "SMS" and not E164.fullmatch(e.address):
                self._set(e, "FAILURE")
            else:
                candidates.append((e, custom))
        candidates = self._deduplicate(candidates, members)
        candidates = self._caps(candidates)
        timed = self._quiet_time(candidates)
        documents = self._documents([e for e, _, _ in timed])
        timed = self._hook(timed, documents)
        self._rows(timed, documents)

    def _undecided(self, keys: list[str]) -> list[str]:
        """`keys` without the endpoints this activity has decided already for their occurrence (their
        `_campaign.send` event exists: a retried trigger, a batch written again), whose stored
        status is returned as it was and counted once."""
        ids = {key: self.event_id(key) for key in keys}
        stored = Event.objects.filter(
            project=self.plan.project, endpoint_key__in=keys, client_event_id__in=ids.values(), event_type=SEND_EVENT
        ).values_list("endpoint_key", "client_event_id", "attributes")
        self.before = {
            key: str((attributes or {}).get("campaign_send_status") or "")
            for key, event_id, attributes in stored
            if ids.get(key) == event_id
        }
        return [key for key in keys if key not in self.before]

    def _set(self, e: Endpoint, status: str) -> None:
        self.decided[e.key] = status

    def _instant(self, zone: zoneinfo.ZoneInfo | None) -> datetime:
        """The send instant of an endpoint in `zone`: the start, or with IsLocalTime the start's
        wall-clock time in that zone (endpoints without a valid zone: the start)."""
        if zone is None or not self.treatment.schedule.get("IsLocalTime"):
            return self.start
        return local_instant(self.start, self.plan.schedule_tz(self.treatment), zone)

    def _zone(self, e: Endpoint) -> None:
        zone = endpoint_zone(e.timezone)
        name = zone.key if zone is not None else (self.treatment.schedule.get("Timezone") or "UTC")
        if name not in self.zones:
            self.zones[name] = self._instant(zone)

    def _deduplicate(
        self, candidates: list[tuple[Endpoint, bool]], members: QuerySet | None
    ) -> list[tuple[Endpoint, bool]]:
        addresses = {e.address for e, _ in candidates if e.address}
        first: dict[tuple[str, str], str] = {}
        if members is not None and addresses:
            holdout = self.plan.allocation[0]["Cohorts"][0]
            rows = (
                members.filter(address__in=addresses, cohort_id__gte=holdout)
                .exclude(opt_out=OptOut.ALL)
                .values("channel_type", "address")
                .annotate(first=Min("key"))
                .order_by()
            )
            first = {(r["channel_type"], r["address"]): r["first"] for r in rows}
        kept, seen = [], set()
        for e, custom in candidates:
            pair = (e.channel_type, e.address)
            if e.address and (pair in seen or first.get(pair, e.key) < e.key):
                self._set(e, "DUPLICATE_ADDRESS")
                continue
            seen.add(pair)
            kept.append((e, custom))
        return kept

    def _caps(self, candidates: list[tuple[Endpoint, bool]]) -> list[tuple[Endpoint, bool]]:
        plan, keys = self.plan, [e.key for e, _ in candidates]
        campaign_id, activity_id = plan.campaign.id, self.activity.id
        total, daily, project_daily = plan.limit("Total"), plan.limit("Daily"), plan.project_daily
        totals: dict[str, int] = {}
        if total and keys:
            rows = Delivery.objects.filter(campaign_id=campaign_id, endpoint_key__in=keys)
            if not self.repeating:
                rows = rows.exclude(campaign_activity_id=activity_id)
            rows = rows.values("endpoint_key").annotate(n=Count("id")).order_by()
            totals = {r["endpoint_key"]: r["n"] for r in rows}
        days: dict[str, tuple[int, int]] = {}
        if (daily or project_daily) and keys:
            rows = Delivery.objects.filter(project=plan.project, endpoint_key__in=keys, created_at__gt=self.now - DAY)
            if not self.repeating:
                rows = rows.exclude(campaign_activity_id=activity_id)
            rows = (
                rows.values("endpoint_key")
                .annotate(n=Count("id"), mine=Count("id", filter=Q(campaign_id=campaign_id)))
                .order_by()
            )
            days = {r["endpoint_key"]: (r["n"], r["mine"]) for r in rows}
        kept = []
        for e, custom in candidates:
            every, mine = days.get(e.key, (0, 0))
            if total and totals.get(e.key, 0) >= total:
                self._set(e, "CAMPAIGN_CAP")
            elif (daily and mine >= daily) or (project_daily and every >= project_daily):
                self._set(e, "DAILY_CAP")
            else:
                kept.append((e, custom))
        return kept

    def _quiet_time(self, candidates: list[tuple[Endpoint, bool]]) -> list[tuple[Endpoint, bool, datetime]]:
        """Each endpoint's send instant: the start, or with IsLocalTime the start's wall-clock time in
        the endpoint's zone (endpoints without a valid zone: the start); never before now."""
        quiet = self.plan.quiet_time(self.treatment)
        kept = []
        for e, custom in candidates:
            zone = endpoint_zone(e.timezone)
            instant = self._instant(zone)
            if quiet is not None and in_quiet_time(max(instant, self.now), zone, *quiet):
                self._set(e, "QUIET_TIME")
                continue
            kept.append((e, custom, instant))
        return kept

    def _documents(self, endpoints: list[Endpoint]) -> dict[str, dict[str, Any]]:
        if not endpoints:
            return {}
        return dict(zip((e.key for e in endpoints), endpoint_responses(self.plan.project, endpoints), strict=True))

    def _hook(
        self, timed: list[tuple[Endpoint, bool, datetime]], documents: dict[str, dict[str, Any]]
    ) -> list[tuple[Endpoint, bool, datetime]]:
        hook = self.plan.hook()
        if hook is None or not timed:
            return timed
        base = {
            "MessageConfiguration": dict(self.treatment.spec.config),
            "ApplicationId": self.plan.project.id,
            "CampaignId": self.plan.campaign.id,
            "TreatmentId": self.treatment.id,
            "ActivityId": self.activity.id,
            "ScheduledTime": scheduled_time(self.start),
        }
        answer = hook_filter(
            hook,
            project_id=self.plan.project.id,
            base=base,
            endpoints={e.key: (e.endpoint_id, documents[e.key]) for e, _, _ in timed},
        )
        kept = []
        for e, custom, instant in timed:
            if e.key in answer.failed:
                self._set(e, "HOOK_FAILURE")
            elif e.key not in answer.kept:
                self._set(e, "FILTERED_OUT_BY_HOOK")
            else:
                documents[e.key] = answer.kept[e.key]
                kept.append((e, custom, instant))
        return kept

    def _outgoing(self, e: Endpoint, custom: bool, document: dict[str, Any]) -> OutgoingMessage:
        if custom:
            config = self.treatment.custom or {}
            payload = {
                "Data": self.treatment.custom_data,
                "DeliveryUri": config.get("DeliveryUri", ""),
                "CampaignId": self.plan.campaign.id,
                "TreatmentId": self.treatment.id,
                "ActivityId": self.activity.id,
                "ScheduledTime": scheduled_time(self.start),
            }
            return OutgoingMessage(
                channel="CUSTOM", address=e.address, payload=payload, endpoint_key=e.key, user_id=e.user_id
            )
        overrides = {}
        if e.channel_type in OVERRIDDEN:
            overrides = {
                "title_override": str(document.get("TitleOverride") or ""),
                "body_override": str(document.get("BodyOverride") or ""),
            }
        message = self.plan.message(self.treatment, e.channel_type)
        return message_render(
            message,
            document,
            self.treatment.spec,
            address=e.address,
            endpoint_key=e.key,
            user_id=e.user_id,
            **overrides,
        )

    def _rows(self, timed: list[tuple[Endpoint, bool, datetime]], documents: dict[str, dict[str, Any]]) -> None:
        limit = self.plan.maximum_duration()
        mps = self.plan.limit("MessagesPerSecond")
        slots = RateSlots(self.plan, mps, self.now, local=bool(self.treatment.schedule.get("IsLocalTime")))
        for e, custom, instant in timed:
            try:
                outgoing = self._outgoing(e, custom, documents[e.key])
            except TemplateError:
                self._set(e, "FAILURE")
                continue
            ends = [t for t in (self.expires_at, instant + limit if limit else None) if t is not None]
            expiry = min(ends) if ends else None
            send_at = slots.take(instant, expiry)
            if send_at is None:
                self._set(e, "EXPIRED")
                continue
            row = delivery_row(
                self.plan.project,
                outgoing,
                source=DeliverySource.CAMPAIGN,
                key=delivery_key(self.activity.id, e.key, self.occurrence_of(e.key)),
                now=self.now,
            )
            row.next_attempt_at = send_at
            row.campaign_id = self.plan.campaign.id
            row.campaign_activity_id = self.activity.id
            row.treatment_id = self.treatment.id
            row.expires_at = expiry
            self.rows.append(row)
            self._set(e, "SUCCESS")

    def write(self) -> None:
        """The rows, the events, the counters, and the send tasks of the rows due now."""
        if self.rows:
            Delivery.objects.bulk_create(self.rows, batch_size=1000, ignore_conflicts=True)
        events = [
            SystemEvent(
                project_id=self.plan.project.id,
                endpoint_key=key,
                event_id=self.event_id(key),
                event_type=SEND_EVENT,
                timestamp=self.now,
                attributes={
                    "campaign_id": self.plan.campaign.id,
                    "campaign_activity_id": self.activity.id,
                    "treatment_id": self.treatment.id,
                    "delivery_type": self.delivery_type.get(key, ""),
                    "campaign_send_status": status,
                },
            )
            for key, status in self.decided.items()
            if status not in METRIC_ONLY
        ]
        if events:
            events_record(events)
        self._count()
        due = [row.message_id for row in self.rows if row.next_attempt_at <= self.now]
        if due:
            ids = list(
                Delivery.objects.filter(message_id__in=due, status=DeliveryStatus.QUEUED).values_list("id", flat=True)
            )
            from campaigns.tasks import deliveries_send

            for start in range(0, len(ids), BATCH_SIZE):
                enqueue_on_commit(deliveries_send, *ids[start : start + BATCH_SIZE])

    def _count(self) -> None:
        if not self.decided:
            return
        activity = CampaignActivity.objects.select_for_update().get(pk=self.activity.pk)
        metrics = dict(activity.execution_metrics or {})
        for status in self.decided.values():
            name = METRIC_NAME.get(status, status)
            metrics[name] = int(metrics.get(name, 0)) + 1
        statuses = [s for s in self.decided.values() if s not in METRIC_ONLY and s != "HOLDOUT"]
        activity.total_endpoint_count += len(statuses)
        activity.successful_endpoint_count += statuses.count("SUCCESS")
        activity.execution_metrics = metrics
        zones = dict(activity.timezones or {})
        for name, instant in self.zones.items():  # a trigger's later instant replaces an earlier one
            if name not in zones or datetime.fromisoformat(zones[name]) < instant:
                zones[name] = instant.isoformat()
        activity.timezones = zones
        fields = ["total_endpoint_count", "successful_endpoint_count", "execution_metrics", "timezones"]
        if activity.start is None:
            activity.start, activity.state = self.now, "RUNNING"
            fields += ["start", "state"]
        activity.save(update_fields=fields)
        self.activity.total_endpoint_count = activity.total_endpoint_count
        self.activity.successful_endpoint_count = activity.successful_endpoint_count
        self.activity.execution_metrics = metrics
        self.activity.timezones = zones
