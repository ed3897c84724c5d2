"""Pinpoint shapes of the projects app: member names exactly as botocore's model spells them."""

from rest_framework import serializers

from engage.api.formats import iso8601
from projects.models import MAX_INT32, ApplicationSettings, HookMode, Project, hh_mm
from projects.services import SettingsChange


class TagMapField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, trim_whitespace=False)


class CreateApplicationRequest(serializers.Serializer):
    Name = serializers.CharField(max_length=256)
    tags = TagMapField(required=False)


class TagsModel(serializers.Serializer):
    tags = TagMapField()


def application_response(project: Project) -> dict:
    return {
        "Arn": project.arn,
        "Id": project.id,
        "Name": project.name,
        "tags": project.tags,
        "CreationDate": iso8601(project.creation_date),
    }


class CampaignHook(serializers.Serializer):
    LambdaFunctionName = serializers.CharField(required=False, allow_blank=True, max_length=256)
    Mode = serializers.ChoiceField(choices=HookMode.values, required=False)
    WebUrl = serializers.URLField(required=False, allow_blank=True, max_length=2048)


class CampaignLimits(serializers.Serializer):
    Daily = serializers.IntegerField(required=False, min_value=0, max_value=100)
    MaximumDuration = serializers.IntegerField(required=False, min_value=60, max_value=MAX_INT32)
    MessagesPerSecond = serializers.IntegerField(required=False, min_value=1, max_value=20000)
    Total = serializers.IntegerField(required=False, min_value=0, max_value=100)
    Session = serializers.IntegerField(required=False, min_value=0, max_value=MAX_INT32)


class QuietTime(serializers.Serializer):
    Start = serializers.CharField(required=False, allow_blank=True, validators=[hh_mm])
    End = serializers.CharField(required=False, allow_blank=True, validators=[hh_mm])


class JourneyTimeframeCap(serializers.Serializer):
    Cap = serializers.IntegerField(required=False, min_value=0, max_value=100)
    Days = serializers.IntegerField(required=False, min_value=0, max_value=30)


class ApplicationSettingsJourneyLimits(serializers.Serializer):
    DailyCap = serializers.IntegerField(required=False, min_value=0, max_value=100)
    TimeframeCap = JourneyTimeframeCap(required=False)
    TotalCap = serializers.IntegerField(required=False, min_value=0, max_value=100)


class WriteApplicationSettingsRequest(serializers.Serializer):
    CampaignHook = CampaignHook(required=False)
    CloudWatchMetricsEnabled = serializers.BooleanField(required=False)
    EventTaggingEnabled = serializers.BooleanField(required=False)
    Limits = CampaignLimits(required=False)
    QuietTime = QuietTime(required=False)
    JourneyLimits = ApplicationSettingsJourneyLimits(required=False)

    def to_change(self) -> SettingsChange:
        data = self.validated_data
        return SettingsChange(
            campaign_hook=data.get("CampaignHook"),
            limits=data.get("Limits"),
            quiet_time=data.get("QuietTime"),
            journey_limits=data.get("JourneyLimits"),
            cloudwatch_metrics_enabled=data.get("CloudWatchMetricsEnabled"),
            event_tagging_enabled=data.get("EventTaggingEnabled"),
        )


def _present(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "", {})}


def application_settings_resource(s: ApplicationSettings) -> dict:
    """ApplicationSettingsResource; unset members and empty groups are left out, as Pinpoint does."""
    timeframe = _present({"Cap": s.journey_timeframe_cap, "Days": s.journey_timeframe_days})
    return _present(
        {
            "ApplicationId": s.project_id,
            "CampaignHook": _present(
                {"LambdaFunctionName": s.hook_lambda_function_name, "Mode": s.hook_mode, "WebUrl": s.hook_web_url}
            ),
            "LastModifiedDate": iso8601(s.last_modified_date),
            "Limits": _present(
                {
                    "Daily": s.limits_daily,
                    "MaximumDuration": s.limits_maximum_duration,
                    "MessagesPerSecond": s.limits_messages_per_second,
                    "Total": s.limits_total,
                    "Session": s.limits_session,
                }
            ),
            "QuietTime": _present({"Start": s.quiet_time_start, "End": s.quiet_time_end}),
            "JourneyLimits": _present(
                {"DailyCap": s.journey_daily_cap, "TimeframeCap": timeframe, "TotalCap": s.journey_total_cap}
            ),
        }
    )
