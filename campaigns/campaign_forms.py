"""The campaign wizard's forms, one per step, and the WriteCampaignRequest they add up to.

Each step's posted data is kept as submitted (strings) in the session; the review step binds every
form again and `write_request` builds the request campaigns.campaigns.campaign_create takes, so
what is launched is exactly what the forms validated.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django import forms

from campaigns.models import MessageTemplate, TemplateType
from campaigns.schedule import TIMEZONES, offset_of

STEPS = ("details", "segment", "message", "schedule", "review")
STEP_TITLES = {
    "details": "Details",
    "segment": "Segment",
    "message": "Message",
    "schedule": "Schedule",
    "review": "Review and launch",
}
MAX_TREATMENTS = 5  # Pinpoint: the default treatment and up to 4 additional ones
TREATMENT_LETTERS = "ABCDE"
# The channels the wizard builds campaigns for: (label, template type, TemplateConfiguration member,
# MessageConfiguration member). Push uses DefaultMessage, which Pinpoint applies to every push channel.
CHANNELS = {
    "EMAIL": ("Email", TemplateType.EMAIL, "EmailTemplate", "EmailMessage"),
    "SMS": ("SMS", TemplateType.SMS, "SMSTemplate", "SMSMessage"),
    "PUSH": ("Push notification", TemplateType.PUSH, "PushTemplate", "DefaultMessage"),
}
RECURRING = (("HOURLY", "Hourly"), ("DAILY", "Daily"), ("WEEKLY", "Weekly"), ("MONTHLY", "Monthly"))
HH_MM = r"^([01]\d|2[0-3]):[0-5]\d$"


class DetailsForm(forms.Form):
    name = forms.CharField(
        max_length=256, help_text="Shown in the campaign list and the calendar; recipients never see it."
    )
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Optional, for your team."
    )
    kind = forms.ChoiceField(
        label="Campaign type",
        choices=(("standard", "Standard campaign"), ("ab", "A/B test campaign")),
        initial="standard",
        widget=forms.RadioSelect,
        help_text="An A/B test sends different messages (treatments) to random shares of the segment.",
    )
    treatments = forms.IntegerField(
        label="Number of treatments",
        min_value=2,
        max_value=MAX_TREATMENTS,
        initial=2,
        required=False,
        help_text="A/B tests only: 2 to 5 treatments (Pinpoint's limit).",
    )
    channel = forms.ChoiceField(
        choices=[(key, spec[0]) for key, spec in CHANNELS.items()],
        initial="EMAIL",
        widget=forms.RadioSelect,
        help_text="Every treatment goes out on this channel, to the segment's endpoints of that channel.",
    )

    def treatment_count(self) -> int:
        if self.cleaned_data.get("kind") != "ab":
            return 1
        return self.cleaned_data.get("treatments") or 2


class SegmentForm(forms.Form):
    segment = forms.ChoiceField(help_text="Who receives the campaign. The estimate shows its size now.")
    holdout = forms.IntegerField(
        label="Holdout (%)",
        min_value=0,
        max_value=100,
        initial=0,
        help_text="A share of the segment that receives nothing, to compare against.",
    )

    def __init__(self, *args, segments: Sequence[tuple[str, str]] = (), treatments: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [("", "Choose a segment…"), *segments]
        self.treatments = treatments
        for index in range(1, treatments):
            self.fields[f"share_{index}"] = forms.IntegerField(
                label=f"Treatment {TREATMENT_LETTERS[index]} (%)",
                min_value=1,
                max_value=100,
                initial=max(1, (100 // treatments)),
                help_text="The share of the segment that receives this treatment.",
            )

    def share_fields(self) -> list[forms.BoundField]:
        return [self[f"share_{index}"] for index in range(1, self.treatments)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        holdout = data.get("holdout")
        shares = [data.get(f"share_{index}") for index in range(1, self.treatments)]
        if holdout is not None and None not in shares and 100 - holdout - sum(shares) < 1:
            raise forms.ValidationError(
                f"Holdout and treatments {', '.join(TREATMENT_LETTERS[1 : self.treatments])} take "
                f"{holdout + sum(shares)}%: treatment A would receive no one. Lower them."
            )
        return data

    def default_share(self) -> int:
        data = self.cleaned_data
        return 100 - data["holdout"] - sum(data[f"share_{index}"] for index in range(1, self.treatments))


class TreatmentForm(forms.Form):
    """One treatment's message: a template or inline content, on the campaign's channel."""

    treatment_name = forms.CharField(
        label="Treatment name", max_length=256, required=False, help_text="Optional; shown in the results."
    )
    source = forms.ChoiceField(
        label="Content",
        choices=(("template", "A message template"), ("inline", "Write the message here")),
        initial="template",
        widget=forms.RadioSelect,
    )
    template = forms.ChoiceField(required=False, help_text="Templates of the channel's type.")
    template_version = forms.ChoiceField(
        label="Template version",
        required=False,
        choices=(("", "The version active when each message is sent"), ("pin", "The version active now (pinned)")),
        help_text="Pinning keeps the campaign's content fixed when the template changes later.",
    )
    subject = forms.CharField(required=False, max_length=998, help_text="Email: the subject line.")
    html = forms.CharField(
        label="HTML body", required=False, widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})
    )
    text = forms.CharField(
        label="Text body",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Email: the plain-text part; give an HTML body, a text body or both.",
    )
    from_address = forms.CharField(
        label="From address", required=False, max_length=512, help_text="Email: empty uses the channel's address."
    )
    title = forms.CharField(required=False, max_length=200, help_text="Push: the notification's title.")
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="SMS: the text (at most 1,600 characters). Push: the notification's text (at most 200).",
    )
    url = forms.URLField(
        label="Open URL",
        assume_scheme="https",
        required=False,
        help_text="Push: a URL to open when tapped; empty opens the app.",
    )
    sms_type = forms.ChoiceField(
        label="SMS type",
        required=False,
        choices=(("PROMOTIONAL", "Promotional"), ("TRANSACTIONAL", "Transactional")),
        initial="PROMOTIONAL",
    )

    def __init__(self, *args, channel: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        template_type = CHANNELS[channel][1]
        names = MessageTemplate.objects.filter(template_type=template_type).order_by("name")
        self.fields["template"].choices = [
            ("", "Choose a template…"),
            *((n, n) for n in names.values_list("name", flat=True)),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("source") == "template":
            if not data.get("template"):
                self.add_error("template", "Choose a template, or write the message here.")
            return data
        if self.channel == "EMAIL":
            if not data.get("subject"):
                self.add_error("subject", "An email needs a subject.")
            if not data.get("html") and not data.get("text"):
                self.add_error("html", "Write an HTML body, a text body or both.")
        elif self.channel == "SMS":
            if not data.get("body"):
                self.add_error("body", "Write the text message.")
            elif len(data["body"]) > 1600:
                self.add_error("body", "An SMS message can have at most 1,600 characters.")
        elif not data.get("body") and not data.get("title"):
            self.add_error("body", "Write a title, a text or both.")
        elif len(data.get("body") or "") > 200:
            self.add_error("body", "A push notification's text can have at most 200 characters.")
        return data

    def preview_content(self) -> dict[str, Any]:
        """Inline content as the matching template type's members, for the template preview."""

        def raw(name: str) -> str:
            return str(self[name].value() or "")  # as typed, so a half-written message previews too

        if self.channel == "EMAIL":
            return {"Subject": raw("subject"), "HtmlPart": raw("html"), "TextPart": raw("text")}
        if self.channel == "SMS":
            return {"Body": raw("body")}
        return {"Default": {"Title": raw("title"), "Body": raw("body")}}

    def message_members(self) -> dict[str, Any]:
        """The treatment's MessageConfiguration or TemplateConfiguration members."""
        data = self.cleaned_data
        _label, template_type, template_member, message_member = CHANNELS[self.channel]
        if data["source"] == "template":
            reference: dict[str, Any] = {"Name": data["template"]}
            if data.get("template_version") == "pin":
                template = MessageTemplate.objects.filter(template_type=template_type, name=data["template"]).first()
                if template is not None:
                    reference["Version"] = str(template.active_version)
            return {"TemplateConfiguration": {template_member: reference}}
        if self.channel == "EMAIL":
            message = {"Title": data["subject"], "HtmlBody": data["html"], "Body": data["text"]}
            message["FromAddress"] = data["from_address"]
        elif self.channel == "SMS":
            message = {"Body": data["body"], "MessageType": data.get("sms_type") or "PROMOTIONAL"}
        else:
            message = {"Title": data["title"], "Body": data["body"]}
            message["Action"] = "URL" if data["url"] else "OPEN_APP"
            message["Url"] = data["url"]
        return {"MessageConfiguration": {message_member: {k: v for k, v in message.items() if v}}}


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class ScheduleForm(forms.Form):
    when = forms.ChoiceField(
        label="When to send",
        choices=(
            ("immediate", "Immediately, when launched"),
            ("once", "Once, at a date and time"),
            ("recurring", "On a recurring schedule"),
            ("event", "When an event occurs"),
        ),
        initial="immediate",
        widget=forms.RadioSelect,
    )
    start = forms.DateTimeField(
        label="Start",
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        help_text="In the time zone below. Event campaigns: when they start listening for the event.",
    )
    frequency = forms.ChoiceField(choices=RECURRING, initial="DAILY", required=False, help_text="Recurring only.")
    end = forms.DateTimeField(
        label="End",
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        help_text="Recurring: required, no run starts after it. Event campaigns: optional, they stop listening then.",
    )
    event_type = forms.CharField(
        label="Event type",
        required=False,
        max_length=100,
        help_text="Event campaigns: the event that triggers the message, e.g. addToCart or _email.click.",
    )
    filter_type = forms.ChoiceField(
        label="Event source",
        required=False,
        choices=(("ENDPOINT", "Events your apps report (PutEvents)"), ("SYSTEM", "Events Engage records (_email.*…)")),
        initial="ENDPOINT",
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=[(tz, tz) for tz in TIMEZONES],
        initial="UTC",
        help_text="The UTC offset the start and end are written in.",
    )
    local_time = forms.BooleanField(
        label="Use each recipient's local time",
        required=False,
        help_text="Send when the recipient's own clock (Demographic.Timezone) shows the start time.",
    )
    quiet_start = forms.RegexField(
        label="Quiet time from",
        regex=HH_MM,
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="HH:MM in the recipient's time zone; nothing is sent between the two times.",
    )
    quiet_end = forms.RegexField(
        label="Quiet time until", regex=HH_MM, required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )

    limit_daily = forms.IntegerField(
        label="Messages a day per recipient",
        required=False,
        min_value=0,
        max_value=100,
        help_text="Daily: at most this many messages from this campaign to one endpoint in 24 hours (0 to 100).",
    )
    limit_total = forms.IntegerField(
        label="Messages in all per recipient",
        required=False,
        min_value=0,
        max_value=100,
        help_text="Total: over the campaign's whole life, every run counted (0 to 100).",
    )
    limit_rate = forms.IntegerField(
        label="Messages a second",
        required=False,
        min_value=1,
        max_value=20000,
        help_text="MessagesPerSecond: how fast a run sends (1 to 20,000).",
    )
    limit_duration = forms.IntegerField(
        label="Maximum duration (seconds)",
        required=False,
        min_value=60,
        help_text="MaximumDuration: a run stops sending this long after it starts (at least 60).",
    )

    LIMITS = (
        ("limit_daily", "Daily"),
        ("limit_total", "Total"),
        ("limit_rate", "MessagesPerSecond"),
        ("limit_duration", "MaximumDuration"),
    )

    def limit_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _member in self.LIMITS]

    def limits(self) -> dict[str, int]:
        """Pinpoint's Limits member: only the limits given (the others come from the project's settings)."""
        return {member: self.cleaned_data[name] for name, member in self.LIMITS if self.cleaned_data[name] is not None}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        when = data.get("when")
        if when in ("once", "recurring", "event") and not data.get("start"):
            self.add_error("start", "Give the date and time of the first message.")
        if when == "recurring":
            if not data.get("end"):
                self.add_error("end", "A recurring campaign needs an end.")
            elif data.get("start") and data["end"] <= data["start"]:
                self.add_error("end", "The end must come after the start.")
        if when == "event" and not data.get("event_type"):
            self.add_error("event_type", "Name the event that triggers the message.")
        if bool(data.get("quiet_start")) != bool(data.get("quiet_end")):
            self.add_error("quiet_end", "Give both ends of the quiet time, or neither.")
        return data

    def _instant(self, value: datetime) -> str:
        zone = offset_of(self.cleaned_data["timezone"])
        return value.replace(tzinfo=None).replace(tzinfo=zone).isoformat()

    def schedule(self) -> dict[str, Any]:
        """Pinpoint's Schedule member."""
        data = self.cleaned_data
        when = data["when"]
        schedule: dict[str, Any] = {"Timezone": data["timezone"]}
        if when == "immediate":
            schedule.update(StartTime="IMMEDIATE", Frequency="ONCE")
        elif when == "once":
            schedule.update(StartTime=self._instant(data["start"]), Frequency="ONCE")
        elif when == "recurring":
            schedule.update(
                StartTime=self._instant(data["start"]), EndTime=self._instant(data["end"]), Frequency=data["frequency"]
            )
        else:
            schedule.update(
                StartTime=self._instant(data["start"]),
                Frequency="EVENT",
                EventFilter={
                    "FilterType": data.get("filter_type") or "ENDPOINT",
                    "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": [data["event_type"]]}},
                },
            )
            if data.get("end"):
                schedule["EndTime"] = self._instant(data["end"])
        if data.get("local_time"):
            schedule["IsLocalTime"] = True
        if data.get("quiet_start"):
            schedule["QuietTime"] = {"Start": data["quiet_start"], "End": data["quiet_end"]}
        return schedule


def write_request(
    details: DetailsForm, segment: SegmentForm, treatments: Sequence[TreatmentForm], schedule: ScheduleForm
) -> dict[str, Any]:
    """The WriteCampaignRequest of validated wizard forms."""
    request: dict[str, Any] = {
        "Name": details.cleaned_data["name"],
        "SegmentId": segment.cleaned_data["segment"],
        "Schedule": schedule.schedule(),
    }
    if schedule.limits():
        request["Limits"] = schedule.limits()
    if details.cleaned_data["description"]:
        request["Description"] = details.cleaned_data["description"]
    if segment.cleaned_data["holdout"]:
        request["HoldoutPercent"] = segment.cleaned_data["holdout"]
    request.update(treatments[0].message_members())
    if treatments[0].cleaned_data["treatment_name"]:
        request["TreatmentName"] = treatments[0].cleaned_data["treatment_name"]
    additional = []
    for index, form in enumerate(treatments[1:], 1):
        treatment = {"SizePercent": segment.cleaned_data[f"share_{index}"], **form.message_members()}
        if form.cleaned_data["treatment_name"]:
            treatment["TreatmentName"] = form.cleaned_data["treatment_name"]
        additional.append(treatment)
    if additional:
        request["AdditionalTreatments"] = additional
    return request


def step_of_problem(message: str) -> str:
    """The wizard step a CampaignInvalid message is about (by the members it names)."""
    lowered = message.lower()
    for step, words in (
        (
            "schedule",
            ("schedule", "starttime", "endtime", "quiettime", "timezone", "eventfilter", "frequency", "limits"),
        ),
        ("segment", ("segment", "holdout", "sizepercent")),
        ("message", ("message", "template", "treatment", "body", "subject", "title")),
    ):
        if any(word in lowered for word in words):
            return step
    return "details"


def forms_bound(state: Mapping[str, Mapping[str, str]], *, segments: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Every step's form bound to its stored data (None for a step not yet submitted), and the
    treatment count the details imply."""
    details = DetailsForm(state["details"]) if "details" in state else None
    count = details.treatment_count() if details is not None and details.is_valid() else 1
    channel = details.cleaned_data["channel"] if details is not None and details.is_valid() else "EMAIL"
    segment = SegmentForm(state["segment"], segments=segments, treatments=count) if "segment" in state else None
    treatments = (
        [TreatmentForm(state["message"], prefix=f"t{i}", channel=channel) for i in range(count)]
        if "message" in state
        else None
    )
    schedule = ScheduleForm(state["schedule"]) if "schedule" in state else None
    return {
        "details": details,
        "segment": segment,
        "message": treatments,
        "schedule": schedule,
        "count": count,
        "channel": channel,
    }
