"""The events explorer pages: events per type and UTC day (from the rollup, or from the events when
filtered by an attribute), a funnel across 2 to 5 event types, and a CSV download of each table.

Every page and download is a GET whose query string is the form: a link to the page is a link to
the same numbers. The numbers come from audience.analytics.explorer, always for request.project.
"""

from collections.abc import Iterable
from datetime import date, timedelta
from itertools import pairwise

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audience.analytics.explorer import (
    MAX_DAYS,
    MAX_STEPS,
    MIN_STEPS,
    EventCounts,
    ExplorerError,
    Funnel,
    check_range,
    counts_by_day,
    counts_by_day_where,
    event_attribute_names,
    event_type_metrics,
    funnel,
)
from audience.validation import MAX_ATTRIBUTE_NAME, MAX_EVENT_ATTRIBUTE_VALUE
from engage.csv_export import csv_response
from projects.middleware import project_required

DEFAULT_DAYS = 30
MAX_CHART_TYPES = 10  # lines in one chart; the per-type table lists every type
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def default_range(today: date) -> tuple[date, date]:
    return today - timedelta(days=DEFAULT_DAYS - 1), today


class RangeForm(forms.Form):
    start = forms.DateField(label="From", widget=DATE_WIDGET, help_text="First day (UTC), included.")
    end = forms.DateField(
        label="To", widget=DATE_WIDGET, help_text=f"Last day (UTC), included; at most {MAX_DAYS} days in all."
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            try:
                check_range(start, end)
            except ExplorerError as error:
                raise ValidationError(str(error)) from None
        return cleaned


class ExplorerForm(RangeForm):
    types = forms.MultipleChoiceField(
        label="Event types",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=f"Up to {MAX_CHART_TYPES}. None chosen: every type, the {MAX_CHART_TYPES} most frequent charted.",
    )
    attribute = forms.CharField(
        label="Attribute name",
        required=False,
        max_length=MAX_ATTRIBUTE_NAME,
        widget=forms.TextInput(attrs={"list": "event-attribute-names", "autocomplete": "off"}),
        help_text="Optional: count only the events that have this attribute (a key of the event's Attributes)…",
    )
    value = forms.CharField(
        label="Attribute value",
        required=False,
        max_length=MAX_EVENT_ATTRIBUTE_VALUE,
        strip=False,
        help_text="… with exactly this value (case-sensitive).",
    )

    def __init__(self, *args, event_types: Iterable[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["types"].choices = [(kind, kind) for kind in event_types]

    def clean_types(self) -> list[str]:
        types = self.cleaned_data["types"]
        if len(types) > MAX_CHART_TYPES:
            raise ValidationError(f"Choose at most {MAX_CHART_TYPES} event types ({len(types)} chosen).")
        return types

    def clean(self) -> dict:
        cleaned = super().clean()
        attribute, value = cleaned.get("attribute", ""), cleaned.get("value", "")
        if attribute and not value:
            self.add_error("value", "Give the value the attribute must have, or clear the attribute name.")
        elif value and not attribute:
            self.add_error("attribute", "Give the attribute's name, or clear the value.")
        return cleaned


class FunnelForm(RangeForm):
    window_days = forms.IntegerField(
        label="Conversion window (days)",
        required=False,
        min_value=1,
        max_value=MAX_DAYS,
        help_text="Optional: every step must happen within this many days of the endpoint's first step-1 event.",
    )

    def __init__(self, *args, event_types: Iterable[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *((kind, kind) for kind in event_types)]
        for number in range(1, MAX_STEPS + 1):
            self.fields[f"step_{number}"] = forms.ChoiceField(label=f"Step {number}", required=False, choices=choices)
        self.order_fields(["start", "end", *self.step_names, "window_days"])

    @property
    def step_names(self) -> list[str]:
        return [f"step_{number}" for number in range(1, MAX_STEPS + 1)]

    @property
    def step_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.step_names]

    def clean(self) -> dict:
        cleaned = super().clean()
        chosen = [cleaned.get(name, "") for name in self.step_names]
        if any(name in self.errors for name in self.step_names):
            return cleaned
        last = max((index for index, kind in enumerate(chosen) if kind), default=-1)
        steps = chosen[: last + 1]
        if "" in steps:
            self.add_error(f"step_{steps.index('') + 1}", "Choose this step's event type: steps follow each other.")
        elif len(steps) < MIN_STEPS:
            raise ValidationError(f"Choose at least {MIN_STEPS} steps (event types in the order endpoints do them).")
        else:
            for number, (before, after) in enumerate(pairwise(steps), start=2):
                if before == after:
                    self.add_error(f"step_{number}", "The same event type as the step before: choose another one.")
        cleaned["steps"] = steps
        return cleaned


def _today() -> date:
    return timezone.now().date()  # TIME_ZONE is UTC


def _range_data(request: HttpRequest) -> QueryDict:
    """The query string, with the default range when it names no day."""
    data = request.GET.copy()
    if not data.get("start") and not data.get("end"):
        start, end = default_range(_today())
        data["start"], data["end"] = start.isoformat(), end.isoformat()
    return data


def _explore(request: HttpRequest) -> tuple[ExplorerForm, EventCounts | None, list[str]]:
    """The explorer's form and its counts (None when the form is invalid), and the charted types."""
    project = request.project
    known = event_type_metrics(project.pk)
    form = ExplorerForm(_range_data(request), event_types=known)
    if not form.is_valid():
        return form, None, []
    data = form.cleaned_data
    try:
        if data["attribute"]:
            counts = counts_by_day_where(
                project.pk,
                data["start"],
                data["end"],
                attribute=data["attribute"],
                value=data["value"],
                types=data["types"],
            )
        else:
            counts = counts_by_day(project.pk, data["start"], data["end"], types=data["types"], known=known)
    except ExplorerError as error:
        form.add_error(None, str(error))
        return form, None, []
    charted = data["types"] or list(counts.totals)[:MAX_CHART_TYPES]
    return form, counts, charted


def _type_rows(form: ExplorerForm, counts: EventCounts) -> list[tuple[str, int]]:
    """(event type, events) for the per-type table: the chosen types (0 included), else every type
    with events in the range, most frequent first."""
    chosen = form.cleaned_data["types"]
    if chosen:
        return sorted(((kind, counts.totals.get(kind, 0)) for kind in chosen), key=lambda row: (-row[1], row[0]))
    return list(counts.totals.items())


def _day_rows(counts: EventCounts, charted: list[str]) -> list[tuple[date, list[int]]]:
    """(day, the charted types' counts that day) for the per-day table."""
    series = [counts.series(kind) for kind in charted]
    return [(day, [values[index] for values in series]) for index, day in enumerate(counts.days)]


@login_required
@require_GET
@project_required
def events_explorer(request: HttpRequest) -> HttpResponse:
    project = request.project
    form, counts, charted = _explore(request)
    context = {
        "project": project,
        "form": form,
        "has_types": bool(form.fields["types"].choices),
        "attribute_names": event_attribute_names(project.pk),
        "counts": counts,
        "max_days": MAX_DAYS,
        "max_chart_types": MAX_CHART_TYPES,
    }
    if counts is not None:
        context |= {
            "charted": charted,
            "day_rows": _day_rows(counts, charted),
            "type_rows": _type_rows(form, counts),
            "filtered": bool(form.cleaned_data["attribute"]),
            "chart_data": {
                "labels": [day.isoformat() for day in counts.days],
                "datasets": [{"label": kind, "data": counts.series(kind)} for kind in charted],
            },
            "query": request.GET.urlencode(),
        }
    return render(request, "audience/events_explorer.html", context)


def _form_problem(form: forms.Form) -> HttpResponse:
    """400 with the form's errors, one line each, for a download asked with a bad query string."""
    lines = []
    for name, errors in form.errors.items():
        text = " ".join(errors)
        lines.append(text if name == "__all__" else f"{form.fields[name].label}: {text}")
    return HttpResponseBadRequest("\n".join(lines), content_type="text/plain; charset=utf-8")


@login_required
@require_GET
@project_required
def events_days_csv(request: HttpRequest) -> HttpResponse:
    form, counts, charted = _explore(request)
    if counts is None:
        return _form_problem(form)
    data = form.cleaned_data
    rows = [(day.isoformat(), *values) for day, values in _day_rows(counts, charted)]
    return csv_response(f"events-per-day-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.csv", ["day", *charted], rows)


@login_required
@require_GET
@project_required
def events_types_csv(request: HttpRequest) -> HttpResponse:
    form, counts, _ = _explore(request)
    if counts is None:
        return _form_problem(form)
    data = form.cleaned_data
    header = ["event_type", "events", "from_day", "to_day"]
    extra: tuple = (data["start"].isoformat(), data["end"].isoformat())
    if data["attribute"]:
        header += ["attribute", "value"]
        extra += (data["attribute"], data["value"])
    rows = [(kind, events, *extra) for kind, events in _type_rows(form, counts)]
    return csv_response(f"events-per-type-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.csv", header, rows)


def _funnel(request: HttpRequest, *, submitted: bool) -> tuple[FunnelForm, Funnel | None]:
    project = request.project
    known = event_type_metrics(project.pk)
    if not submitted:
        start, end = default_range(_today())
        return FunnelForm(initial={"start": start, "end": end}, event_types=known), None
    form = FunnelForm(_range_data(request), event_types=known)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    window = timedelta(days=data["window_days"]) if data["window_days"] else None
    try:
        return form, funnel(project.pk, data["start"], data["end"], data["steps"], window=window)
    except ExplorerError as error:
        form.add_error(None, str(error))
        return form, None


@login_required
@require_GET
@project_required
def events_funnel(request: HttpRequest) -> HttpResponse:
    project = request.project
    submitted = any(request.GET.get(f"step_{number}") for number in range(1, MAX_STEPS + 1))
    form, result = _funnel(request, submitted=submitted or "start" in request.GET)
    context = {
        "project": project,
        "form": form,
        "has_types": len(form.fields["step_1"].choices) > 1,
        "funnel": result,
        "max_days": MAX_DAYS,
    }
    if result is not None:
        context |= {
            "chart_data": {
                "labels": [f"{step.number}. {step.event_type}" for step in result.steps],
                "data": [step.endpoints for step in result.steps],
            },
            "query": request.GET.urlencode(),
        }
    return render(request, "audience/events_funnel.html", context)


@login_required
@require_GET
@project_required
def events_funnel_csv(request: HttpRequest) -> HttpResponse:
    form, result = _funnel(request, submitted=True)
    if result is None:
        return _form_problem(form)
    data = form.cleaned_data
    header = ["step", "event_type", "endpoints", "dropped", "percent_of_previous_step", "percent_of_step_1"]
    header += ["from_day", "to_day", "window_days"]
    rows = [
        (
            step.number,
            step.event_type,
            step.endpoints,
            step.dropped,
            step.from_previous,
            step.from_first,
            data["start"].isoformat(),
            data["end"].isoformat(),
            data["window_days"],
        )
        for step in result.steps
    ]
    return csv_response(f"funnel-{data['start']:%Y%m%d}-{data['end']:%Y%m%d}.csv", header, rows)
