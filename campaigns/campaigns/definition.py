"""A WriteCampaignRequest made into a campaign definition: merged over the stored one (UpdateCampaign),
its members checked (campaigns.campaigns.members), the treatments' sizes and content checked
together, and its segment found."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from audience.models import Segment, SegmentType, SegmentVersion
from campaigns import schedule as sched
from campaigns.campaigns.members import (
    check_custom_delivery,
    check_hook,
    check_limits,
    check_message_configuration,
    check_schedule,
    check_template_configuration,
)
from campaigns.campaigns.values import MAX_INT32, CampaignInvalid, boolean, integer, member_at, obj, string, strings
from campaigns.models import Frequency
from campaigns.treatments import treatments_of
from projects.models import Project

MAX_TREATMENTS = 4  # additional treatments (5 with the default one)
REQUEST_MEMBERS = (
    "Name",
    "Description",
    "Schedule",
    "MessageConfiguration",
    "TemplateConfiguration",
    "Limits",
    "HoldoutPercent",
    "AdditionalTreatments",
    "TreatmentName",
    "TreatmentDescription",
    "CustomDeliveryConfiguration",
    "Hook",
    "IsPaused",
    "Priority",
    "SegmentId",
    "SegmentVersion",
)


def _uris_of(definition: Mapping[str, Any]) -> set[str]:
    parts = [definition, *(definition.get("AdditionalTreatments") or [])]
    return {p["CustomDeliveryConfiguration"]["DeliveryUri"] for p in parts if p.get("CustomDeliveryConfiguration")}


def _treatment_members(given: Mapping[str, Any], where: str, *, now: datetime, checked: set[str]) -> dict[str, Any]:
    """The overridable members and the treatment's name/description, checked."""
    out: dict[str, Any] = strings(given, ("TreatmentName", "TreatmentDescription"), where)
    if given.get("Schedule") is not None:
        out["Schedule"] = check_schedule(given["Schedule"], member_at(where, "Schedule"), now=now)
    if given.get("MessageConfiguration") is not None:
        out["MessageConfiguration"] = check_message_configuration(
            given["MessageConfiguration"], member_at(where, "MessageConfiguration")
        )
    if given.get("TemplateConfiguration") is not None:
        out["TemplateConfiguration"] = check_template_configuration(
            given["TemplateConfiguration"], member_at(where, "TemplateConfiguration")
        )
    if given.get("CustomDeliveryConfiguration") is not None:
        out["CustomDeliveryConfiguration"] = check_custom_delivery(
            given["CustomDeliveryConfiguration"], member_at(where, "CustomDeliveryConfiguration"), checked=checked
        )
    return out


def _check_treatment_content(treatment: Mapping[str, Any], where: str, frequency: str) -> None:
    """What a treatment sends (its own members or the campaign's) must make sense for the campaign."""
    messages = treatment.get("MessageConfiguration") or {}
    templates = treatment.get("TemplateConfiguration") or {}
    if not messages and not templates:
        raise CampaignInvalid(f"{where} needs a MessageConfiguration or a TemplateConfiguration.")
    if "CustomMessage" in messages and not treatment.get("CustomDeliveryConfiguration"):
        raise CampaignInvalid(f"{where}: a CustomMessage needs a CustomDeliveryConfiguration (where to deliver it).")
    in_app = "InAppMessage" in messages or "InAppTemplate" in templates
    others = [m for m in messages if m != "InAppMessage"] + [t for t in templates if t != "InAppTemplate"]
    if frequency == Frequency.IN_APP_EVENT:
        if not in_app:
            raise CampaignInvalid(f"{where}: an IN_APP_EVENT campaign needs an InAppMessage or an InAppTemplate.")
        if others:
            raise CampaignInvalid(f"{where}: an IN_APP_EVENT campaign sends in-app messages only, not {others[0]}.")
    elif in_app:
        raise CampaignInvalid(
            f"{where}: in-app messages go only in campaigns whose Schedule.Frequency is IN_APP_EVENT."
        )


def _segment_of(project: Project, definition: Mapping[str, Any]) -> Segment:
    segment_id = string(definition.get("SegmentId"), "SegmentId") if definition.get("SegmentId") else ""
    if not segment_id:
        raise CampaignInvalid("SegmentId is required: the segment the campaign sends to.")
    segment = Segment.objects.filter(project=project, pk=segment_id).first()
    if segment is None:
        raise CampaignInvalid(f"SegmentId: there is no segment {segment_id[:64]} in this project.")
    version = definition.get("SegmentVersion")
    number = None if version is None else integer(version, "SegmentVersion", 1, MAX_INT32)
    known = number is None or number == segment.version
    if not known and (
        segment.segment_type == SegmentType.IMPORT
        or not SegmentVersion.objects.filter(segment=segment, version=number).exists()
    ):
        raise CampaignInvalid(f"SegmentVersion: segment {segment_id} has no version {number}.")
    return segment


def campaign_definition(
    project: Project, request: Mapping[str, Any], *, previous: Mapping[str, Any], now: datetime
) -> tuple[dict[str, Any], Segment]:
    """The campaign definition `request` makes (merged over `previous`), fully checked, and its segment."""
    if not isinstance(request, Mapping):
        raise CampaignInvalid("The request body must be a WriteCampaignRequest object.")
    merged = {**previous, **{m: request[m] for m in REQUEST_MEMBERS if m in request}}
    merged = {m: value for m, value in merged.items() if value is not None}  # null removes a member
    if request.get("SegmentId") is not None and request.get("SegmentVersion") is None:
        merged.pop("SegmentVersion", None)  # a new segment is followed at its latest version
    if merged.get("Schedule") is None:
        raise CampaignInvalid("Schedule is required (at least its StartTime).")
    out: dict[str, Any] = {}
    if merged.get("SegmentVersion") is not None:
        out["SegmentVersion"] = merged["SegmentVersion"]
    out["SegmentId"] = merged.get("SegmentId")
    segment = _segment_of(project, out)  # cheap checks first: the HEAD checks below make requests
    out.update(strings(merged, ("Name", "Description"), ""))
    if len(out.get("Name", "")) > 256:
        raise CampaignInvalid("Name is longer than 256 characters.")
    checked = _uris_of(previous)
    out.update(_treatment_members(merged, "", now=now, checked=checked))
    frequency = out["Schedule"].get("Frequency") or Frequency.ONCE
    if merged.get("Limits") is not None:
        out["Limits"] = check_limits(merged["Limits"], "Limits")
    if merged.get("Hook") is not None:
        out["Hook"] = check_hook(merged["Hook"], "Hook")
    if merged.get("IsPaused") is not None:
        out["IsPaused"] = boolean(merged["IsPaused"], "IsPaused")
        if out["IsPaused"] and out["Schedule"]["StartTime"] == sched.IMMEDIATE:
            raise CampaignInvalid("A campaign that starts IMMEDIATE cannot be paused.")
    if merged.get("Priority") is not None:
        out["Priority"] = integer(merged["Priority"], "Priority", 1, 5)
    holdout = 0
    if merged.get("HoldoutPercent") is not None:
        holdout = out["HoldoutPercent"] = integer(merged["HoldoutPercent"], "HoldoutPercent", 0, 100)
    if merged.get("AdditionalTreatments") is not None:
        given = merged["AdditionalTreatments"]
        if not isinstance(given, list):
            raise CampaignInvalid("AdditionalTreatments must be a list of treatments.")
        if len(given) > MAX_TREATMENTS:
            raise CampaignInvalid(f"A campaign has at most {MAX_TREATMENTS} AdditionalTreatments (5 treatments).")
        treatments = []
        for i, raw in enumerate(given):
            where = f"AdditionalTreatments[{i}]"
            treatment = obj(raw, where)
            size = integer(treatment.get("SizePercent"), f"{where}.SizePercent", 1, 100)
            members = _treatment_members(treatment, where, now=now, checked=checked)
            if "Schedule" in members and (members["Schedule"].get("Frequency") or Frequency.ONCE) != frequency:
                raise CampaignInvalid(f"{where}.Schedule.Frequency must be the campaign's ({frequency}).")
            treatments.append({"Id": str(i + 1), "SizePercent": size, **members})
        out["AdditionalTreatments"] = treatments
        total = holdout + sum(t["SizePercent"] for t in treatments)
        if total > 100:
            raise CampaignInvalid(
                f"HoldoutPercent plus the treatments' SizePercent make {total}%; together they must not exceed 100."
            )
    for treatment in treatments_of(out):
        where = "The campaign" if treatment["Id"] == "0" else f"AdditionalTreatments[{int(treatment['Id']) - 1}]"
        _check_treatment_content(treatment, where, frequency)
    if frequency == Frequency.EVENT and segment.segment_type != SegmentType.DIMENSIONAL:
        raise CampaignInvalid(f"An EVENT campaign needs a dynamic segment; {segment.id} is an imported segment.")
    return out, segment
