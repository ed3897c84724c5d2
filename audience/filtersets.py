"""Filters over one project's endpoints, shared by the Audience pages and the API."""

import operator
from functools import reduce

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from audience.compiler import attribute_has_any
from audience.models import ChannelType, Endpoint, EndpointStatus, OptOut, endpoint_key


class EndpointFilterForm(forms.Form):
    def clean(self) -> dict:
        data = super().clean()
        if bool(data.get("attribute")) != bool(data.get("value")):
            raise forms.ValidationError("To filter by an attribute, give both its name and a value.")
        return data


def search_conditions(value: str) -> list[Q]:
    """How a search matches, one condition per index: id prefix (any case), exact address, exact user id."""
    return [Q(key__startswith=endpoint_key(value)), Q(address=value), Q(user_id=value)]


def _unchanged(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset  # attribute and value filter together, in EndpointFilterSet.filter_queryset


class EndpointFilterSet(django_filters.FilterSet):
    """Search and filters over endpoints. The queryset given must be one project's (`for_project`)."""

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        help_text="The start of an endpoint id (any case), an exact address, or an exact user id.",
    )
    channel = django_filters.ChoiceFilter(
        field_name="channel_type",
        choices=[(channel, channel) for channel in ChannelType.values],
        label="Channel",
        empty_label="Any channel",
    )
    status = django_filters.ChoiceFilter(
        choices=[(EndpointStatus.ACTIVE, "ACTIVE"), (EndpointStatus.INACTIVE, "INACTIVE")],
        label="Status",
        empty_label="Any status",
    )
    opt_out = django_filters.ChoiceFilter(
        choices=[(OptOut.NONE, "NONE — may receive messages"), (OptOut.ALL, "ALL — opted out")],
        label="Opt-out",
        empty_label="Any",
    )
    attribute = django_filters.CharFilter(
        method=_unchanged, label="Attribute", max_length=50, help_text="An endpoint attribute name, e.g. Interests."
    )
    value = django_filters.CharFilter(
        method=_unchanged, label="Value", max_length=100, help_text="Endpoints listing this exact value."
    )

    class Meta:
        model = Endpoint
        fields: list[str] = []
        form = EndpointFilterForm

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(reduce(operator.or_, search_conditions(value)))

    def filter_queryset(self, queryset: QuerySet, *, search: bool = True) -> QuerySet:
        for name, value in self.form.cleaned_data.items():
            if search or name != "q":
                queryset = self.filters[name].filter(queryset, value)
        attribute, value = self.form.cleaned_data.get("attribute"), self.form.cleaned_data.get("value")
        if attribute and value:
            queryset = queryset.filter(attribute_has_any(attribute, [value]))
        return queryset

    def branches(self) -> list[QuerySet]:
        """Querysets whose union is `qs`: one per way the search matches, or `qs` alone.

        A page of each branch is one index range; the OR of them in one query makes PostgreSQL
        read the whole project to order the matches. Call after `is_valid()`.
        """
        value = self.form.cleaned_data.get("q")
        if not value:
            return [self.qs]
        rest = self.filter_queryset(self.queryset.all(), search=False)
        return [rest.filter(condition) for condition in search_conditions(value)]
