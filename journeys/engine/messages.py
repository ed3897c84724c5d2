"""A message activity (EMAIL, SMS, PUSH, CUSTOM) for a group of participants: each one's decision,
rendered outbox rows and `_journey.send` events — a fixed number of queries per group.

Decisions, in order (the first that applies; the participant then goes on to NextActivity, sent or
not, as in Pinpoint):
  ENDPOINT_INACTIVE (deleted or INACTIVE endpoint) · ENDPOINT_OPT_OUT · UNSUPPORTED_CHANNEL (the
  endpoint's channel is not the activity's: EMAIL → EMAIL, SMS → SMS, PUSH → GCM/APNS*/ADM/BAIDU,
  CUSTOM → EndpointTypes or every channel) · ENDPOINT_MISSING_ADDRESS · TOTAL_CAP (Limits.TotalCap,
  else the project's journey TotalCap: this journey's / every journey's messages to the endpoint) ·
  TIMEFRAME_CAP (the same with TimeframeCap {Cap, Days}) · DAILY_CAP (Limits.DailyCap, else the
  project's journey DailyCap, over 24 h; and the project's campaign/all-sources daily limit
  `limits_daily`) · QUIET_TIME (the journey's QuietTime, else the project's, in the endpoint's
  Demographic.Timezone; endpoints without a valid zone have none) — with WaitForQuietTime the
  participant is held in the activity until quiet time ends instead; outside the SendingSchedule's
  open hours or on its closed days (journeys.engine.sending) it is held until they open. When a
  held participant is decided again and not held anew, a `_journey.send` event with
  journey_send_status QUIET_TIME_WAIT_FINISHED (no journey_activity_type) comes before its
  decision's event · FAILURE (the channel is not
  enabled, the template is gone, rendering failed, an SMS address not in E.164) · SUCCESS (a
  Delivery row, source JOURNEY).
ENDPOINT_* are execution metrics only; the others are journey_send_status values, with an event.
TIMEFRAME_CAP and TOTAL_CAP are Engage's names: Pinpoint's documented journey_send_status values
name only the daily cap.
"""

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q

from audience.models import Endpoint, EndpointStatus, OptOut
from campaigns.deliveries import OutgoingMessage, delivery_row
from campaigns.handlebars import TemplateError
from campaigns.messages import (
    CHANNEL_MESSAGE,
    E164,
    PUSH,
    ChannelMessage,
    MessageInvalid,
    MessageSpec,
    channel_message,
    message_render,
)
from campaigns.models import Delivery, DeliverySource
from campaigns.schedule import endpoint_zone, in_quiet_time, quiet_window_end

if TYPE_CHECKING:
    from journeys.engine.advance import Pass

METRIC_ONLY = frozenset({"ENDPOINT_INACTIVE", "ENDPOINT_OPT_OUT", "ENDPOINT_MISSING_ADDRESS"})
TEMPLATE_MEMBER = {"EMAIL": "EmailTemplate", "SMS": "SMSTemplate", "PUSH": "PushTemplate"}
SMS_MEMBERS = ("MessageType", "OriginationNumber", "SenderId", "EntityId", "TemplateId")
DAY = timedelta(hours=24)
QUIET_MARGIN = timedelta(minutes=1)  # quiet time includes its End minute (campaigns.schedule.in_quiet_time)


def delivery_key(participant_id: int, activity_id: str) -> str:
    """The design's deterministic Delivery key of a participant's message of an activity."""
    return hashlib.sha256(f"{participant_id}:{activity_id}".encode()).hexdigest()[:32]


def channels_of(kind: str, body: Mapping[str, Any]) -> frozenset[str] | None:
    """The endpoint channels the activity sends to (None: every channel — CUSTOM without EndpointTypes)."""
    if kind == "EMAIL":
        return frozenset({"EMAIL"})
    if kind == "SMS":
        return frozenset({"SMS"})
    if kind == "PUSH":
        return frozenset(PUSH)
    types = body.get("EndpointTypes") or []
    return frozenset(types) if types else None


def message_spec(kind: str, body: Mapping[str, Any], channel: str) -> MessageSpec:
    """The activity's MessageConfig and template, in SendMessages' terms (campaigns.messages)."""
    config: dict[str, Any] = {}
    message_config = body.get("MessageConfig") or {}
    if kind == "EMAIL" and message_config.get("FromAddress"):
        config["EmailMessage"] = {"FromAddress": message_config["FromAddress"]}
    elif kind == "SMS":
        sms = {k: message_config[k] for k in SMS_MEMBERS if message_config.get(k)}
        if sms:
            config["SMSMessage"] = sms
    elif kind == "PUSH" and str(message_config.get("TimeToLive") or "").isdigit():
        config[CHANNEL_MESSAGE[channel]] = {"TimeToLive": int(message_config["TimeToLive"])}
    templates = {}
    if body.get("TemplateName") and kind in TEMPLATE_MEMBER:
        templates[TEMPLATE_MEMBER[kind]] = (str(body["TemplateName"]), str(body.get("TemplateVersion") or ""))
    return MessageSpec(config=config, templates=templates)


class MessageStep:
    """One message activity's decisions for a group of participants of one pass."""

    def __init__(self, run: "Pass", activity_id: str, kind: str, body: Mapping[str, Any]) -> None:
        self.run, self.activity_id, self.kind, self.body = run, activity_id, kind, body
        self.channels = channels_of(kind, body)

    def message(self, channel: str) -> ChannelMessage | str:
        """The activity's message for `channel` (cached for the whole advance), or why there is none."""
        cache = self.run.plan.messages
        key = (self.activity_id, channel)
        if key not in cache:
            try:
                cache[key] = channel_message(self.run.project, message_spec(self.kind, self.body, channel), channel)
            except MessageInvalid as error:
                cache[key] = str(error)
        return cache[key]

    def decide(self, group: list, resumed: set[int]) -> None:
        """Decide every participant of `group` (JourneyParticipant rows at this activity); the pass
        records steps, rows and events, and moves or holds them."""
        run, now = self.run, self.run.now
        endpoints = run.endpoints()
        released = [p for p in group if p.id in resumed and p.context.get("held")]
        mark = len(run.events)
        candidates: list[tuple[Any, Endpoint]] = []
        for p in group:
            e = endpoints.get(p.endpoint_key)
            if e is None or e.status != EndpointStatus.ACTIVE:
                self.leave(p, "ENDPOINT_INACTIVE", e)
            elif e.opt_out == OptOut.ALL:
                self.leave(p, "ENDPOINT_OPT_OUT", e)
            elif self.channels is not None and e.channel_type not in self.channels:
                self.leave(p, "UNSUPPORTED_CHANNEL", e)
            elif not e.address:
                self.leave(p, "ENDPOINT_MISSING_ADDRESS", e)
            else:
                candidates.append((p, e))
        candidates = self._caps(candidates)
        quiet, sending = run.plan.quiet_time, run.plan.sending
        scheduled = sending.applies(self.kind)
        timed = []
        for p, e in candidates:
            zone = endpoint_zone(e.timezone)
            if quiet is not None and in_quiet_time(now, zone, *quiet):
                if run.plan.definition.raw.get("WaitForQuietTime"):
                    until = quiet_window_end(now, zone, quiet[1]) + QUIET_MARGIN
                    run.hold(p, self.activity_id, until, held="QUIET_TIME")
                else:
                    self.leave(p, "QUIET_TIME", e)
                continue
            if scheduled:
                opens, reason = sending.next_open(self.kind, now, sending.zone(e.timezone))
                if opens is None:
                    self.leave(p, "QUIET_TIME", e, f"The journey's OpenHours.{self.kind} have no open range.")
                    continue
                if opens > now:
                    run.hold(p, self.activity_id, opens, held=reason)
                    continue
            timed.append((p, e))
        self._rows(timed)
        for p in reversed(released):  # held for quiet time, now decided (not held again)
            if p.context.get("wait") != self.activity_id:
                run.send_event(p, self.activity_id, self.kind, "QUIET_TIME_WAIT_FINISHED", at=mark)

    def leave(self, p: Any, status: str, e: Endpoint | None, message: str = "") -> None:
        run = self.run
        if status not in METRIC_ONLY:
            run.send_event(p, self.activity_id, self.kind, status, message)
        run.leave(p, self.activity_id, status, str(self.body.get("NextActivity") or ""))

    def _caps(self, candidates: list[tuple[Any, Endpoint]]) -> list[tuple[Any, Endpoint]]:
        if not candidates:
            return []
        run, plan = self.run, self.run.plan
        counts = run.cap_counts()
        kept = []
        for p, e in candidates:
            c = counts.get(e.key) or {}
            extra = run.sent_now.get(e.key, 0)  # messages this pass already made for the endpoint
            reason = cap_reason(plan, c, extra)
            if reason:
                self.leave(p, reason, e)
            else:
                kept.append((p, e))
        return kept

    def _rows(self, timed: list[tuple[Any, Endpoint]]) -> None:
        run = self.run
        if not timed:
            return
        documents = run.documents([e for _, e in timed])
        for p, e in timed:
            channel = "CUSTOM" if self.kind == "CUSTOM" else e.channel_type
            if self.kind != "CUSTOM" and channel == "SMS" and not E164.fullmatch(e.address):
                self.leave(p, "FAILURE", e, f"{e.address} is not a phone number in E.164 form.")
                continue
            try:
                outgoing = self._outgoing(p, e, channel, documents[e.key])
            except TemplateError as error:
                self.leave(p, "FAILURE", e, f"Rendering failed: {error}"[:200])
                continue
            if isinstance(outgoing, str):
                self.leave(p, "FAILURE", e, outgoing[:200])
                continue
            row = delivery_row(
                run.project,
                outgoing,
                source=DeliverySource.JOURNEY,
                key=delivery_key(p.id, self.activity_id),
                now=run.now,
            )
            row.journey_id = run.journey.id
            row.journey_activity_id = self.activity_id
            row.journey_run_id = p.run_id
            run.rows.append(row)
            run.sent_now[e.key] = run.sent_now.get(e.key, 0) + 1
            self.leave(p, "SUCCESS", e)

    def _outgoing(self, p: Any, e: Endpoint, channel: str, document: Mapping[str, Any]) -> OutgoingMessage | str:
        if self.kind == "CUSTOM":
            payload = {
                "Data": str((self.body.get("MessageConfig") or {}).get("Data") or ""),
                "DeliveryUri": str(self.body.get("DeliveryUri") or ""),
                "JourneyId": self.run.journey.id,
                "ActivityId": self.activity_id,
                "ScheduledTime": self.run.now.isoformat(),
            }
            return OutgoingMessage(
                channel="CUSTOM", address=e.address, payload=payload, endpoint_key=e.key, user_id=e.user_id
            )
        message = self.message(channel)
        if isinstance(message, str):
            return message
        spec = message_spec(self.kind, self.body, channel)
        return message_render(message, document, spec, address=e.address, endpoint_key=e.key, user_id=e.user_id)


def cap_reason(plan: Any, c: Mapping[str, int], extra: int) -> str:
    """The cap an endpoint with Delivery counts `c` (and `extra` messages of this pass) has reached, or ""."""
    checks = (
        ("TOTAL_CAP", plan.total_cap, "journey_total"),
        ("TOTAL_CAP", plan.project_total_cap, "journeys_total"),
        ("TIMEFRAME_CAP", plan.timeframe[0], "journey_frame"),
        ("TIMEFRAME_CAP", plan.project_timeframe[0], "journeys_frame"),
        ("DAILY_CAP", plan.daily_cap, "journey_day"),
        ("DAILY_CAP", plan.project_journey_daily, "journeys_day"),
        ("DAILY_CAP", plan.project_daily, "all_day"),
    )
    for reason, cap, counted in checks:
        if cap and c.get(counted, 0) + extra >= cap:
            return reason
    return ""


def cap_counts(
    project_id: str, journey_id: str, keys: list[str], *, now: datetime, frame_days: int, totals: bool
) -> dict[str, dict[str, int]]:
    """Per endpoint key, the Delivery counts the caps compare: this journey's and every journey's
    messages of the last 24 h, of the last `frame_days` days and ever (`totals`), and every source's
    of the last 24 h. One or two grouped queries on the (project, endpoint_key, created_at) index."""
    counts: dict[str, dict[str, int]] = {}
    if not keys:
        return counts
    window = now - max(DAY, timedelta(days=frame_days))
    frame = now - timedelta(days=frame_days) if frame_days else now
    day = now - DAY
    mine, journeys = Q(journey_id=journey_id), Q(source=DeliverySource.JOURNEY)
    rows = (
        Delivery.objects.filter(project_id=project_id, endpoint_key__in=keys, created_at__gt=window)
        .values("endpoint_key")
        .annotate(
            all_day=Count("id", filter=Q(created_at__gt=day)),
            journeys_day=Count("id", filter=Q(created_at__gt=day) & journeys),
            journey_day=Count("id", filter=Q(created_at__gt=day) & mine),
            journeys_frame=Count("id", filter=Q(created_at__gt=frame) & journeys),
            journey_frame=Count("id", filter=Q(created_at__gt=frame) & mine),
        )
        .order_by()
    )
    for r in rows:
        counts[r.pop("endpoint_key")] = r
    if totals:
        rows = (
            Delivery.objects.filter(project_id=project_id, endpoint_key__in=keys, source=DeliverySource.JOURNEY)
            .values("endpoint_key")
            .annotate(journeys_total=Count("id"), journey_total=Count("id", filter=mine))
            .order_by()
        )
        for r in rows:
            counts.setdefault(r.pop("endpoint_key"), {}).update(r)
    return counts
