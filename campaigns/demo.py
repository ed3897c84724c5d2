"""Demo messaging data for a local Engage (`make run`): an email template and two campaigns.

Written through the same services as the API (template_create, campaign_create), so the demo shows
what the API would make. Nothing here sends at once: one campaign is a weekly A/B campaign starting
next Monday (it appears in the calendar with its coming runs), the other is paused.
"""

from datetime import timedelta

from django.utils import timezone

from audience.models import Segment
from campaigns.campaigns import campaign_create
from campaigns.models import Campaign, MessageTemplate
from projects.models import Project

TEMPLATE = "demo-weekly-digest"
HTML = (
    "<h1>Hi {{#if User.UserAttributes.FirstName}}{{User.UserAttributes.FirstName.[0]}}{{else}}there{{/if}}!</h1>"
    "<p>Here is what is new on your {{Attributes.Plan.[0]}} plan this week.</p>"
)


def seed_campaigns(project: Project, user) -> int:
    """The demo template (installation-wide, unless present) and two campaigns in `project` over its
    first segment, unless the project has campaigns or no segment; returns how many campaigns it made."""
    if not MessageTemplate.objects.filter(name=TEMPLATE, template_type="EMAIL").exists():
        from campaigns.templates import template_create

        template_create(
            "EMAIL",
            TEMPLATE,
            {"Subject": "Your week at Demo", "HtmlPart": HTML, "TextPart": "What is new this week."},
            by=user,
        )
    segment = Segment.objects.filter(project=project).order_by("creation_date").first()
    if segment is None or Campaign.objects.filter(project=project).exists():
        return 0
    today = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0)
    monday = today + timedelta(days=7 - today.weekday())
    template = {"EmailTemplate": {"Name": TEMPLATE}}
    campaign_create(
        project,
        {
            "Name": "Weekly-digest",
            "Description": "A/B test of the subject line, 10 % holdout.",
            "SegmentId": segment.id,
            "HoldoutPercent": 10,
            "TemplateConfiguration": template,
            "TreatmentName": "Plain subject",
            "AdditionalTreatments": [
                {
                    "SizePercent": 45,
                    "TreatmentName": "Emoji subject",
                    "MessageConfiguration": {
                        "EmailMessage": {"Title": "☕ Your week at Demo", "HtmlBody": HTML, "Body": "What is new."}
                    },
                }
            ],
            "Schedule": {
                "StartTime": monday.isoformat(),
                "EndTime": (monday + timedelta(weeks=12)).isoformat(),
                "Frequency": "WEEKLY",
                "Timezone": "UTC",
                "QuietTime": {"Start": "22:00", "End": "07:00"},
            },
            "Limits": {"Daily": 1, "Total": 12},
        },
        user=user,
    )
    campaign_create(
        project,
        {
            "Name": "Win-back",
            "SegmentId": segment.id,
            "TemplateConfiguration": template,
            "Schedule": {"StartTime": (monday + timedelta(days=3)).isoformat(), "Frequency": "ONCE"},
            "IsPaused": True,
        },
        user=user,
    )
    return 2
