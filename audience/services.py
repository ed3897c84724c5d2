"""The verbs of the audience: writing endpoints and users, deleting them, events, attributes."""

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from audience import bulk
from audience.models import (
    PUSH_CHANNELS,
    AttributeDefinition,
    AttributeKind,
    AudienceUser,
    ChannelType,
    Endpoint,
    EndpointStatus,
    Event,
    EventKey,
    EventKeyKind,
    OptOut,
    cohort_of,
    endpoint_key,
)
from audience.signals import ENDPOINT, SYSTEM, events_stored_announce
from audience.streams.services import events_insert
from audience.validation import EndpointInvalid, EndpointWrite, EventWrite
from projects.models import Project

MAX_ATTRIBUTES_PER_PROJECT = 250
MAX_ENDPOINTS_PER_USER = 15


@dataclass
class WriteOutcome:
    """What happened to a chunk of endpoint writes: positions rejected (with reasons), how many
    were written, and the keys of the endpoints the writes created."""

    rejected: dict[int, str] = field(default_factory=dict)
    written: int = 0
    created: set[str] = field(default_factory=set)


def _collapse(writes: Sequence[EndpointWrite]) -> tuple[list[EndpointWrite], list[list[int]]]:
    """Merge writes to the same endpoint (ids are case-insensitive) in order; later members win.
    The writes are never modified: merged ones are copies."""
    keys = [write.key for write in writes]
    if len(set(keys)) == len(keys):
        return list(writes), [[position] for position in range(len(writes))]
    merged: dict[str, EndpointWrite] = {}
    positions: dict[str, list[int]] = defaultdict(list)
    for position, write in enumerate(writes):
        positions[write.key].append(position)
        current = merged.get(write.key)
        if current is None:
            merged[write.key] = _copy(write)
            continue
        current.endpoint_id = write.endpoint_id
        current.columns.update(write.columns)
        current.attributes.update(write.attributes)
        current.metrics.update(write.metrics)
        current.user_attributes.update(write.user_attributes)
        if write.user_id is not None:
            current.user_id = write.user_id
    return list(merged.values()), [positions[key] for key in merged]


def _copy(write: EndpointWrite) -> EndpointWrite:
    return EndpointWrite(
        endpoint_id=write.endpoint_id,
        columns=dict(write.columns),
        attributes=dict(write.attributes),
        metrics=dict(write.metrics),
        user_id=write.user_id,
        user_attributes=dict(write.user_attributes),
    )


NEW_ENDPOINT_NEEDS = "a new endpoint needs ChannelType and Address"


class _Rules:
    """The checks that need the database, evaluated for a whole chunk with a handful of queries."""

    def __init__(self, project: Project, writes: list[EndpointWrite]) -> None:
        self.project = project
        definitions = AttributeDefinition.objects.filter(project=project)
        self.removed = {(d.kind, d.name) for d in definitions if d.removed_at}
        self.live = {(d.kind, d.name) for d in definitions if not d.removed_at}
        self.new_names: set[tuple[str, str]] = set()
        self.names_checked = False
        self.existing = bulk.existing_endpoints(project.pk, [w.key for w in writes])
        self.displaced: list[int] = []
        # Endpoints per user, for the users the writes attach endpoints to (one grouped query).
        joining = {self.final_user(w) for w in writes if self.joins_user(w)}
        self.user_counts = bulk.user_endpoint_counts(project.pk, joining)

    def drop_removed_names(self, write: EndpointWrite) -> EndpointWrite:
        """The write without values of attributes removed with RemoveAttributes (Pinpoint stops
        capturing them); the write itself when it has none."""
        if not self.removed or not any((kind, n) in self.removed for kind, values in self._maps(write) for n in values):
            return write
        write = _copy(write)
        for kind, values in self._maps(write):
            for name in [n for n in values if (kind, n) in self.removed]:
                del values[name]
        return write

    @staticmethod
    def _maps(write: EndpointWrite):
        yield AttributeKind.CUSTOM, write.attributes
        yield AttributeKind.METRIC, write.metrics
        yield AttributeKind.USER, write.user_attributes

    def admit_all_names(self, writes: list[EndpointWrite]) -> bool:
        """Admit every name of the chunk at once when together they fit the project's budget (the
        common case); False when some write may break it, to be checked write by write."""
        names: dict[str, set[str]] = {kind: set() for kind in AttributeKind.values}
        for write in writes:
            for kind, values in self._maps(write):
                if values:
                    names[kind].update(values)
        wanted = {(kind, name) for kind, kind_names in names.items() for name in kind_names}
        fresh = wanted - self.live
        if len(self.live) + len(fresh) > MAX_ATTRIBUTES_PER_PROJECT:
            return False
        self.new_names = fresh
        self.names_checked = True
        return True

    def admit_names(self, write: EndpointWrite) -> None:
        if self.names_checked:
            return
        wanted = {(kind, name) for kind, values in self._maps(write) for name in values}
        fresh = wanted - self.live - self.new_names
        if len(self.live) + len(self.new_names) + len(fresh) > MAX_ATTRIBUTES_PER_PROJECT:
            raise EndpointInvalid(
                f"A project can have at most {MAX_ATTRIBUTES_PER_PROJECT} attributes across Attributes, Metrics "
                "and UserAttributes; remove unused ones with RemoveAttributes."
            )
        self.new_names |= fresh

    def check_new(self, write: EndpointWrite) -> None:
        """For imports: an endpoint that does not exist yet needs ChannelType and Address."""
        if write.key not in self.existing and not (write.columns.get("channel_type") and write.columns.get("address")):
            raise EndpointInvalid(f"Endpoint {write.endpoint_id} does not exist: {NEW_ENDPOINT_NEEDS}.")

    def final_user(self, write: EndpointWrite) -> str:
        if write.user_id is not None:
            return write.user_id
        existing = self.existing.get(write.key)
        return existing.user_id if existing else ""

    def joins_user(self, write: EndpointWrite) -> bool:
        user_id = self.final_user(write)
        existing = self.existing.get(write.key)
        return bool(user_id) and not (existing and existing.user_id == user_id)

    def check_user(self, write: EndpointWrite) -> None:
        user_id = self.final_user(write)
        if write.user_attributes and not user_id:
            raise EndpointInvalid("User.UserAttributes need a User.UserId on the endpoint.")
        if not self.joins_user(write):
            return
        if self.user_counts.get(user_id, 0) < MAX_ENDPOINTS_PER_USER:
            self.user_counts[user_id] = self.user_counts.get(user_id, 0) + 1
            return
        existing = self.existing.get(write.key)
        channel = write.columns.get("channel_type") or (existing.channel_type if existing else "")
        if channel in PUSH_CHANNELS:
            oldest = (
                Endpoint.objects.filter(project=self.project, user_id=user_id, channel_type__in=PUSH_CHANNELS)
                .exclude(pk__in=self.displaced)
                .order_by("effective_date", "pk")
                .values_list("pk", flat=True)
                .first()
            )
            if oldest is not None:
                self.displaced.append(oldest)
                return
        raise EndpointInvalid(
            f"User {user_id} already has {MAX_ENDPOINTS_PER_USER} endpoints, the most a user can have."
        )

    def record_definitions(self) -> None:
        if self.new_names:
            AttributeDefinition.objects.bulk_create(
                [AttributeDefinition(project=self.project, kind=k, name=n) for k, n in sorted(self.new_names)],
                ignore_conflicts=True,
            )


def _staged(write: EndpointWrite, request_id: str) -> bulk.StagedEndpoint:
    values = {k: v for k, v in write.columns.items() if k != "status"}
    if request_id and "request_id" not in values:
        values["request_id"] = request_id
    if write.user_id is not None:
        values["user_id"] = write.user_id
    return bulk.StagedEndpoint(
        key=write.key,
        endpoint_id=write.endpoint_id,
        values=values,
        attributes=write.attributes or None,
        metrics=write.metrics or None,
        # Pinpoint makes an endpoint ACTIVE on every create and update unless told otherwise.
        status=write.columns.get("status", EndpointStatus.ACTIVE),
        cohort_id=cohort_of(write.endpoint_id),
    )


def email_inboxes_opt_out(
    project: Project, addresses: Iterable[str], *, endpoint_keys: Iterable[str] = (), now: datetime | None = None
) -> list[Endpoint]:
    """Opt out (OptOut ALL) the project's EMAIL endpoints at these addresses (any case), and the
    endpoints named by key — an inbox that unsubscribed or hard-bounced — through endpoints_write,
    keeping their status. Returns every endpoint matched (opted out before or now), by key."""
    addresses = {a for address in addresses if address for a in (address, address.lower())}
    keys = {key for key in endpoint_keys if key}
    if not addresses and not keys:
        return []
    inbox = Q(channel_type=ChannelType.EMAIL, address__in=addresses) | Q(key__in=keys)
    endpoints = list(Endpoint.objects.for_project(project).filter(inbox).order_by("key"))
    writes = [
        # The status is written as it is: an update would otherwise make the endpoint ACTIVE.
        EndpointWrite(endpoint_id=e.endpoint_id, columns={"opt_out": OptOut.ALL, "status": e.status})
        for e in endpoints
        if e.opt_out != OptOut.ALL
    ]
    if writes:
        endpoints_write(project, writes, now=now)
    return endpoints


def endpoints_write(
    project: Project,
    writes: Sequence[EndpointWrite],
    *,
    request_id: str = "",
    strict: bool = True,
    new_need_address: bool = False,
    now: datetime | None = None,
) -> WriteOutcome:
    """Upsert endpoints with Pinpoint's rules, set-based.

    strict=True (the API): any rule broken raises EndpointInvalid and nothing is written.
    strict=False (imports): rows breaking a rule are reported in `rejected`; the rest are written.
    new_need_address=True (imports): an endpoint that does not exist yet needs ChannelType and Address.
    Idempotent: repeating the same writes leaves the same state (EffectiveDate moves on).
    """
    now = now or timezone.now()
    collapsed, positions = _collapse(writes)
    outcome = WriteOutcome()
    with transaction.atomic():
        rules = _Rules(project, collapsed)
        collapsed = [rules.drop_removed_names(write) for write in collapsed]
        rules.admit_all_names(collapsed)
        accepted: list[EndpointWrite] = []
        accepted_indexes: list[int] = []
        for index, write in enumerate(collapsed):
            try:
                if new_need_address:
                    rules.check_new(write)
                rules.admit_names(write)
                rules.check_user(write)
            except EndpointInvalid as error:
                if strict:
                    raise
                for position in positions[index]:
                    outcome.rejected[position] = str(error)
                continue
            accepted.append(write)
            accepted_indexes.append(index)
        if not accepted:
            return outcome
        rules.record_definitions()
        if rules.displaced:
            Endpoint.objects.filter(pk__in=rules.displaced).update(status=EndpointStatus.INACTIVE, user_id="")
        users: dict[str, dict[str, list[str]]] = defaultdict(dict)
        for write in accepted:
            if write.user_attributes:
                users[rules.final_user(write)].update(write.user_attributes)
            elif write.user_id:
                users.setdefault(write.user_id, {})
        bulk.upsert_user_attributes(project.pk, dict(users))
        # The upsert also deactivates other ACTIVE endpoints with a just-written address.
        bulk.upsert_endpoints(project.pk, [_staged(w, request_id) for w in accepted], now=now)
    outcome.written = sum(len(positions[i]) for i in accepted_indexes)
    outcome.created = {w.key for w in accepted if w.key not in rules.existing}
    return outcome


def endpoint_delete(endpoint: Endpoint) -> None:
    """Delete one endpoint (its user keeps its attributes while other endpoints use it)."""
    with transaction.atomic():
        endpoint.delete()
        _forget_unused_users(endpoint.project, [endpoint.user_id])


def user_endpoints_delete(project: Project, user_id: str) -> list[Endpoint]:
    """Delete every endpoint of a user and the user; returns the deleted endpoints."""
    with transaction.atomic():
        endpoints = list(Endpoint.objects.filter(project=project, user_id=user_id).order_by("key"))
        Endpoint.objects.filter(pk__in=[e.pk for e in endpoints]).delete()
        _forget_unused_users(project, [user_id])
    return endpoints


def _forget_unused_users(project: Project, user_ids: Iterable[str]) -> None:
    ids = [u for u in user_ids if u]
    still_used = set(
        Endpoint.objects.filter(project=project, user_id__in=ids).values_list("user_id", flat=True).distinct()
    )
    AudienceUser.objects.filter(project=project, user_id__in=[u for u in ids if u not in still_used]).delete()


def attributes_remove(project: Project, *, kind: str, patterns: Sequence[str]) -> list[str]:
    """RemoveAttributes: mark matching names (exact or glob) of one kind removed; returns them.

    Endpoints keep their values; new values for removed names are no longer captured, and the
    names no longer count towards the project's 250.
    """
    with transaction.atomic():
        live = AttributeDefinition.objects.select_for_update().filter(
            project=project, kind=kind, removed_at__isnull=True
        )
        names = sorted(d.name for d in live if any(fnmatch.fnmatchcase(d.name, p) for p in patterns))
        live.filter(name__in=names).update(removed_at=timezone.now())
    return names


MAX_CUSTOM_EVENT_TYPES = 1500


class _EventTypes:
    """Pinpoint's 1,500 custom event types per project: an event of a type the project has not
    stored yet is admitted while there is room (standard `_` types are not counted)."""

    def __init__(self, project: Project, events: Iterable[EventWrite]) -> None:
        wanted = {e.event_type for e in events if not e.event_type.startswith("_")}
        self.new = wanted - bulk.event_types_present(project.pk, wanted)
        self.room = 0
        if self.new:
            # Serialize requests bringing new types, so two cannot both take the last place.
            Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
            self.room = MAX_CUSTOM_EVENT_TYPES - bulk.custom_event_type_count(project.pk)

    def refusal(self, event: EventWrite) -> str | None:
        """None when the event's type may be stored (a new one then takes its place), else why not."""
        if event.event_type not in self.new:
            return None
        if self.room <= 0:
            return (
                f"The project already has {MAX_CUSTOM_EVENT_TYPES} custom event types, the most it can have; "
                f"event type '{event.event_type}' would be a new one."
            )
        self.room -= 1
        self.new.discard(event.event_type)
        return None


MAX_EVENT_KEYS_PER_KIND = 500


class _EventKeys:
    """Pinpoint's 500 custom event attribute names and 500 event metric names per project: an event
    bringing names the project has not used yet is admitted while there is room for all of them
    (`_`-prefixed reserved names are not counted)."""

    def __init__(self, project: Project, events: Iterable[EventWrite]) -> None:
        events = list(events)
        wanted = {
            (kind, name)
            for e in events
            for kind, names in ((EventKeyKind.ATTRIBUTE, e.attributes), (EventKeyKind.METRIC, e.metrics))
            for name in names
            if not name.startswith("_")
        }
        known = set(
            EventKey.objects.filter(project=project, name__in={name for _, name in wanted}).values_list("kind", "name")
        )
        self.new = wanted - known
        self.admitted: set[tuple[str, str]] = set()
        self.room = {kind: 0 for kind in EventKeyKind.values}
        if self.new:
            # Serialize requests bringing new names, so two cannot both take the last place.
            Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
            counts = dict(
                EventKey.objects.filter(project=project).values("kind").annotate(n=Count("id")).values_list("kind", "n")
            )
            self.room = {kind: MAX_EVENT_KEYS_PER_KIND - counts.get(kind, 0) for kind in EventKeyKind.values}

    def _brings(self, event: EventWrite) -> dict[str, list[str]]:
        return {
            kind: [n for n in names if (kind, n) in self.new and (kind, n) not in self.admitted]
            for kind, names in ((EventKeyKind.ATTRIBUTE, event.attributes), (EventKeyKind.METRIC, event.metrics))
        }

    def refusal(self, event: EventWrite) -> str | None:
        """None when all the event's names fit (call admit() once it is stored), else why not."""
        for kind, names in self._brings(event).items():
            if len(names) > self.room[kind]:
                label = "attribute" if kind == EventKeyKind.ATTRIBUTE else "metric"
                return (
                    f"The project has {MAX_EVENT_KEYS_PER_KIND - self.room[kind]} event {label} names and may have "
                    f"at most {MAX_EVENT_KEYS_PER_KIND}; this event would add {len(names)} new: "
                    f"{', '.join(sorted(names)[:5])}."
                )
        return None

    def admit(self, event: EventWrite) -> None:
        for kind, names in self._brings(event).items():
            self.room[kind] -= len(names)
            self.admitted.update((kind, n) for n in names)

    def register(self, project: Project) -> None:
        EventKey.objects.bulk_create(
            [EventKey(project=project, kind=kind, name=name) for kind, name in self.admitted], ignore_conflicts=True
        )


@dataclass
class EventBatchResult:
    """PutEvents' answer for one endpoint: its own status and one per event (202 or 400)."""

    endpoint: tuple[int, str]
    events: dict[str, tuple[int, str]]


def events_put(
    project: Project,
    batches: dict[str, tuple[EndpointWrite | EndpointInvalid, dict[str, EventWrite | EndpointInvalid]]],
    *,
    request_id: str = "",
    now: datetime | None = None,
) -> dict[str, EventBatchResult]:
    """PutEvents: upsert each batch's endpoint, store its valid events, record endpoint activity.

    Each endpoint and event succeeds or fails on its own (202/400 with the reason), as Pinpoint
    answers. Storing is idempotent per (endpoint, event id): a retried request adds nothing.
    """
    now = now or timezone.now()
    results: dict[str, EventBatchResult] = {}
    rows: list[Event] = []
    activity: dict[str, datetime] = {}
    with transaction.atomic():
        writes = [e for _, es in batches.values() for e in es.values() if isinstance(e, EventWrite)]
        types = _EventTypes(project, writes)
        keys = _EventKeys(project, writes)
        for endpoint_id, (endpoint, events) in batches.items():
            endpoint_status = _put_event_endpoint(project, endpoint, request_id=request_id, now=now)
            event_results = {}
            for event_id, event in events.items():
                if isinstance(event, EventWrite) and (refusal := keys.refusal(event) or types.refusal(event)):
                    event = EndpointInvalid(refusal)
                if isinstance(event, EndpointInvalid):
                    event_results[event_id] = (400, str(event))
                    continue
                keys.admit(event)
                key = endpoint_key(endpoint_id)
                rows.append(
                    Event(
                        project=project,
                        endpoint_key=key,
                        client_event_id=event.client_event_id,
                        event_type=event.event_type,
                        timestamp=event.timestamp,
                        attributes=event.attributes,
                        metrics=event.metrics,
                        **event.session,
                        **event.app,
                    )
                )
                activity[key] = max(activity.get(key, event.timestamp), min(event.timestamp, now))
                event_results[event_id] = (202, "Accepted")
            results[endpoint_id] = EventBatchResult(endpoint=endpoint_status, events=event_results)
        events_insert(rows)  # also marks them for the project's event stream, if any
        events_stored_announce(rows, source=ENDPOINT)  # after commit: event-triggered campaigns
        keys.register(project)
        for key, moment in activity.items():
            Endpoint.objects.filter(project=project, key=key).filter(
                Q(last_active_at__isnull=True) | Q(last_active_at__lt=moment)
            ).update(last_active_at=moment)
    return results


def _put_event_endpoint(
    project: Project, endpoint: EndpointWrite | EndpointInvalid, *, request_id: str, now: datetime
) -> tuple[int, str]:
    if isinstance(endpoint, EndpointInvalid):
        return 400, str(endpoint)
    empty = not (endpoint.columns or endpoint.attributes or endpoint.metrics or endpoint.user_attributes)
    if empty and endpoint.user_id is None and Endpoint.objects.filter(project=project, key=endpoint.key).exists():
        return 202, "Accepted"  # `{}` leaves a known endpoint as it is
    try:
        with transaction.atomic():
            endpoints_write(project, [endpoint], request_id=request_id, now=now)
    except EndpointInvalid as error:
        return 400, str(error)
    return 202, "Accepted"


@dataclass(frozen=True)
class SystemEvent:
    """An event Engage itself reports about an endpoint (`_email.send`, `_campaign.send`...)."""

    project_id: str
    endpoint_key: str
    event_id: str
    event_type: str
    timestamp: datetime
    attributes: dict[str, str] = field(default_factory=dict)


def events_record(events: Sequence[SystemEvent]) -> None:
    """Store system events; idempotent per (project, endpoint, event id), like PutEvents."""
    rows = [
        Event(
            project_id=e.project_id,
            endpoint_key=e.endpoint_key,
            client_event_id=e.event_id,
            event_type=e.event_type,
            timestamp=e.timestamp,
            attributes=e.attributes,
        )
        for e in events
    ]
    events_insert(rows)
    events_stored_announce(rows, source=SYSTEM)
