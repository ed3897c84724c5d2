"""The dashboard's date-range form (GET): two UTC days, at most audience.analytics.dashboard.MAX_DAYS apart."""

from datetime import date

from django import forms
from django.core.exceptions import ValidationError

from audience.analytics.dashboard import default_range, range_problem


class DateRangeForm(forms.Form):
    start = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="First day, UTC.",
    )
    end = forms.DateField(
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Last day, UTC.",
    )

    @classmethod
    def for_request(cls, params, today: date) -> "DateRangeForm":
        """Bound to the query string when it names a day, else to the default range."""
        if params.get("start") or params.get("end"):
            return cls(params)
        start, end = default_range(today)
        return cls({"start": start.isoformat(), "end": end.isoformat()})

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and (problem := range_problem(start, end)):
            raise ValidationError(problem)
        return cleaned
