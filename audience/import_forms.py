"""The upload form of the Audience import page."""

from pathlib import PurePosixPath

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from audience.formats import SUFFIXES
from audience.models import ImportFormat

AUTO = ""
# Pinpoint takes import files of up to 1 GB; a bigger upload is refused before it is stored.
UPLOAD_MAX_BYTES = 1024**3


def upload_max_bytes() -> int:
    return getattr(settings, "ENGAGE_IMPORT_UPLOAD_MAX_BYTES", UPLOAD_MAX_BYTES)


def too_large_message() -> str:
    return f"The file is too large: imports take files of up to {filesizeformat(upload_max_bytes())}. Split it."


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A CSV file with Pinpoint's column names, or newline-delimited JSON (one endpoint per line). UTF-8."
    )
    format = forms.ChoiceField(
        choices=[(AUTO, "From the file name (.csv, .json, .jsonl, .ndjson)"), *ImportFormat.choices],
        required=False,
    )
    define_segment = forms.BooleanField(
        required=False,
        label="Also create a segment of these endpoints",
        help_text="An imported (static) segment you can send campaigns to. Needed for a file of User.UserId only.",
    )
    segment_name = forms.CharField(required=False, max_length=256, help_text="Default: the file name.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload is not None and upload.size > upload_max_bytes():
            raise forms.ValidationError(too_large_message())
        return upload

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("file")
        if upload is not None and not data.get("format"):
            suffix = PurePosixPath(upload.name or "").suffix.lower()
            found = [fmt for fmt, suffixes in SUFFIXES.items() if suffix in suffixes]
            if not found:
                raise forms.ValidationError("Choose the format: the file name ends in neither .csv nor .json.")
            data["format"] = found[0]
        return data
