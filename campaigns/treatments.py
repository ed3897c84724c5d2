"""Treatment allocation, the one rule every part of Engage reads a campaign's treatments by: the
definition checks (campaigns.campaigns), the engine (campaigns.runs), the event trigger, in-app
messages and the campaign pages.

Cohorts (Endpoint.cohort_id, 0 to 99) [0, HoldoutPercent) are the holdout; treatment "0" (the
campaign's own members) takes the next 100 - HoldoutPercent - ΣSizePercent cohorts, then each
additional treatment, in Id order, its SizePercent cohorts.

A treatment's MessageConfiguration, TemplateConfiguration, Schedule and CustomDeliveryConfiguration
replace the campaign's when given; missing ones are the campaign's, except that the content
(MessageConfiguration and TemplateConfiguration) comes as a pair: a treatment naming a message or a
template of its own inherits neither (the campaign's message would otherwise win over its template,
member by member).
"""

from collections.abc import Mapping
from typing import Any

HOLDOUT = "HOLDOUT"
# Members every treatment may override; the default treatment's are the campaign's top-level ones.
OVERRIDABLE = ("MessageConfiguration", "TemplateConfiguration", "Schedule", "CustomDeliveryConfiguration")
CONTENT = ("MessageConfiguration", "TemplateConfiguration")


def treatments_of(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Treatment "0" and each additional treatment, in Id order, each with Id, SizePercent, its cohort
    range as "Cohorts": (first, end), end excluded, and the effective overridable members (absent
    when neither the treatment nor the campaign has one)."""
    holdout = int(definition.get("HoldoutPercent") or 0)
    additional = sorted(definition.get("AdditionalTreatments") or [], key=lambda t: int(t.get("Id") or 0))
    default_size = max(0, 100 - holdout - sum(int(t.get("SizePercent") or 0) for t in additional))
    treatments = []
    first = holdout
    for own, treatment_id, size in [
        (definition, "0", default_size),
        *((t, str(t.get("Id")), int(t.get("SizePercent") or 0)) for t in additional),
    ]:
        end = min(100, first + size)
        treatment: dict[str, Any] = {"Id": treatment_id, "SizePercent": size, "Cohorts": (first, end)}
        first = end
        own_content = any(own.get(member) is not None for member in CONTENT)
        for member in OVERRIDABLE:
            inherit = own.get(member) is None and not (own_content and member in CONTENT)
            value = definition.get(member) if inherit else own.get(member)
            if value is not None:
                treatment[member] = value
        treatments.append(treatment)
    return treatments


def treatment_of(cohort: int, treatments: list[dict[str, Any]]) -> str | None:
    """The treatment id of a cohort, HOLDOUT, or None (cohorts past the last treatment: none)."""
    for treatment in treatments:
        first, end = treatment["Cohorts"]
        if first <= cohort < end:
            return treatment["Id"]
    return HOLDOUT if cohort < (treatments[0]["Cohorts"][0] if treatments else 0) else None
