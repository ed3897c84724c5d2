"""Forms of the project pages: they parse and check input; projects.services does the writing."""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from projects.models import MAX_INT32, ApplicationSettings, HookMode, Project, Role, hh_mm
from projects.services import SettingsChange


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: next to a field when it names one of the
    form's fields, above the form otherwise."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


class ProjectCreateForm(forms.Form):
    name = forms.CharField(
        max_length=256,
        help_text="A project is a Pinpoint application: endpoints, segments, campaigns and journeys "
        "all belong to one. You can rename it later.",
    )


class ProjectSwitchForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none())

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.visible_to(user)


class ProjectRenameForm(forms.Form):
    name = forms.CharField(
        max_length=256,
        help_text="The display name (Pinpoint's <code>Name</code>). The project id and ARN never change.",
    )


class ProjectDeleteForm(forms.Form):
    confirm = forms.CharField(
        label="Type the project name to confirm",
        help_text="Deleting removes the project's settings, members and everything that belongs to it. "
        "It cannot be undone.",
    )

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"]
        if value.strip() != self.project.name.strip():
            raise ValidationError("This does not match the project name.")
        return value


def _count(label: str, help_text: str, *, min_value: int = 0, max_value: int = MAX_INT32) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=False, min_value=min_value, max_value=max_value, help_text=help_text
    )


class ApplicationSettingsForm(forms.Form):
    """Pinpoint's WriteApplicationSettingsRequest groups. Every group is sent, so a blank field
    unsets that member, exactly as a Pinpoint client replacing the group would."""

    quiet_time_start = forms.CharField(
        label="Start",
        required=False,
        validators=[hh_mm],
        widget=forms.TextInput(attrs={"type": "time"}),
        help_text="24-hour HH:MM, for example 22:00.",
    )
    quiet_time_end = forms.CharField(
        label="End",
        required=False,
        validators=[hh_mm],
        widget=forms.TextInput(attrs={"type": "time"}),
        help_text="24-hour HH:MM, for example 07:00. May be earlier than Start: the quiet time then spans midnight.",
    )

    limits_daily = _count(
        "Daily",
        "Messages a campaign may send to one endpoint in 24 hours; as the project default it also "
        "caps campaigns and journeys together. 0 to 100.",
        max_value=100,
    )
    limits_maximum_duration = _count(
        "MaximumDuration (seconds)",
        "How long after its scheduled start a campaign keeps trying to deliver a message. At least 60.",
        min_value=60,
    )
    limits_messages_per_second = _count(
        "MessagesPerSecond",
        "How many messages a campaign may send each second. 1 to 20,000.",
        min_value=1,
        max_value=20000,
    )
    limits_total = _count(
        "Total",
        "Messages a campaign may send to one endpoint over its whole life, all runs of a recurring "
        "campaign included. 0 to 100.",
        max_value=100,
    )
    limits_session = _count(
        "Session",
        "Messages a campaign may send to one endpoint per user session.",
    )

    journey_daily_cap = _count(
        "DailyCap",
        "Messages all journeys together may send to one endpoint in 24 hours. 0 to 100; 0 means no limit.",
        max_value=100,
    )
    journey_timeframe_cap = _count(
        "Cap",
        "Messages all journeys together may send to one endpoint within the timeframe. 0 to 100.",
        max_value=100,
    )
    journey_timeframe_days = _count(
        "Days",
        "The length of that timeframe in days. 0 to 30.",
        max_value=30,
    )
    journey_total_cap = _count(
        "TotalCap",
        "Messages a single journey may send to one endpoint, ever. 0 to 100; 0 means no limit.",
        max_value=100,
    )

    hook_lambda_function_name = forms.CharField(
        label="LambdaFunctionName",
        required=False,
        max_length=256,
        help_text="The name or ARN of the function Pinpoint invokes to customize a campaign's segment.",
    )
    hook_web_url = forms.URLField(
        label="WebUrl",
        required=False,
        max_length=2048,
        assume_scheme="https",
        help_text="The HTTPS URL Pinpoint calls to invoke the function.",
    )
    hook_mode = forms.ChoiceField(
        label="Mode",
        required=False,
        choices=[("", "Not set"), *HookMode.choices],
        help_text="FILTER customizes the segment a campaign sends to. DELIVERY (deprecated) sent "
        "campaigns through a custom channel.",
    )

    groups = {
        "quiet_time": ("quiet_time_start", "quiet_time_end"),
        "limits": (
            "limits_daily",
            "limits_maximum_duration",
            "limits_messages_per_second",
            "limits_total",
            "limits_session",
        ),
        "journey_limits": ("journey_daily_cap", "journey_total_cap"),
        "timeframe_cap": ("journey_timeframe_cap", "journey_timeframe_days"),
        "campaign_hook": ("hook_lambda_function_name", "hook_web_url", "hook_mode"),
    }

    @classmethod
    def for_settings(cls, current: ApplicationSettings) -> "ApplicationSettingsForm":
        return cls(initial={name: getattr(current, name) for name in cls.base_fields})

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("quiet_time_start"), data.get("quiet_time_end")
        if start is not None and end is not None and bool(start) != bool(end):
            self.add_error("quiet_time_start" if not start else "quiet_time_end", "Set both Start and End, or neither.")
        return data

    def grouped(self) -> dict[str, list[forms.BoundField]]:
        """Bound fields by Pinpoint group, for the template's fieldsets."""
        return {group: [self[name] for name in names] for group, names in self.groups.items()}

    def change(self) -> SettingsChange:
        """The settings change these (valid) fields describe: every group sent."""
        data = self.cleaned_data
        return SettingsChange(
            quiet_time={"Start": data["quiet_time_start"], "End": data["quiet_time_end"]},
            limits={
                "Daily": data["limits_daily"],
                "MaximumDuration": data["limits_maximum_duration"],
                "MessagesPerSecond": data["limits_messages_per_second"],
                "Total": data["limits_total"],
                "Session": data["limits_session"],
            },
            journey_limits={
                "DailyCap": data["journey_daily_cap"],
                "TotalCap": data["journey_total_cap"],
                "TimeframeCap": {"Cap": data["journey_timeframe_cap"], "Days": data["journey_timeframe_days"]},
            },
            campaign_hook={
                "LambdaFunctionName": data["hook_lambda_function_name"],
                "WebUrl": data["hook_web_url"],
                "Mode": data["hook_mode"],
            },
        )


class MemberAddForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        help_text="The person needs an Engage account first; an administrator creates it in the admin.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValidationError(f"There is no active user called “{username}”.")
        return user


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AccessKeyCreateForm(forms.Form):
    description = forms.CharField(
        required=False,
        max_length=200,
        help_text="What the key is for, e.g. “signup service (production)”. Helps you pick the key to revoke later.",
    )
