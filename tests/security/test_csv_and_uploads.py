"""Downloads safe from CSV formula injection (ASVS 5.0 1.2.10) and uploads with size limits."""

import csv
import gzip
import io
import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from audience.models import ImportJob
from engage.csv_export import FORMULA_STARTS
from tests.conftest import send_signed
from tests.security.conftest import PLAN_PRO, tenant

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(django_settings.BASE_DIR)
APP_DIRS = ("audience", "campaigns", "journeys", "projects", "engage")
FORMULAS = ('=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "=cmd|' /C calc'!A0")


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would evaluate: they start with a formula character and are not numbers."""
    return [c for c in cells(text) if c.startswith(FORMULA_STARTS) and not re.fullmatch(r"-?\d+(\.\d+)?", c)]


def test_every_module_writing_csv_neutralises_its_cells():
    """A CSV download written anywhere in the apps goes through engage.csv_export (csv_response or
    csv_cell), so a new download cannot forget it."""
    offenders = []
    for app in APP_DIRS:
        for source in (ROOT / app).rglob("*.py"):
            text = source.read_text()
            if source.name == "csv_export.py" or "tests" in source.parts:
                continue
            writes_csv = "text/csv" in text or "csv.writer(" in text or "csv.DictWriter(" in text
            if writes_csv and not re.search(r"\bcsv_(cell|response)\b", text):
                offenders.append(str(source.relative_to(ROOT)))
    assert not offenders


@pytest.fixture
def alice(live_server, transactional_db, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    a = tenant(live_server, "alice")
    client.force_login(get_user_model().objects.get(username="alice"))
    return a


def upload(client, body: str, name: str = "people.csv"):
    return client.post("/audience/import/", {"file": SimpleUploadedFile(name, body.encode(), "text/csv")})


def test_the_failed_rows_download_neutralises_formulas_from_the_uploaded_file(client, alice):
    rows = "".join(f"{formula},FAX,+1,\n" for formula in FORMULAS)
    upload(
        client, "Id,ChannelType,Address,Attributes.Plan\nok-1,EMAIL,ok@example.com,pro\n" + rows, "=evil().csv"
    )  # Engage keeps only the name's safe characters
    job = ImportJob.objects.get(project=alice.project)

    preview = b"".join(client.get(f"/audience/import/{job.pk}/failed-rows.csv").streaming_content).decode()
    client.post(f"/audience/import/{job.pk}/confirm/")
    failed = b"".join(client.get(f"/audience/import/{job.pk}/failed-rows.csv").streaming_content).decode()

    assert len(cells(failed)) > 4 * len(FORMULAS)
    assert formula_cells(preview) == []
    assert formula_cells(failed) == []
    assert "'=cmd|' /C calc'!A0,FAX,+1," in cells(failed)  # the row, kept whole after its apostrophe


def test_a_page_csv_download_neutralises_a_treatment_name(live_server, client, alice):
    app = f"/v1/apps/{alice.project.id}"
    segment_id = alice.ok(live_server, "POST", f"{app}/segments", {"Name": "s", "Dimensions": PLAN_PRO})["Id"]
    campaign_id = alice.ok(
        live_server,
        "POST",
        f"{app}/campaigns",
        {
            "Name": "Spring",
            "SegmentId": segment_id,
            "TreatmentName": FORMULAS[0],
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            "MessageConfiguration": {"EmailMessage": {"Title": "Hi", "HtmlBody": "<p>Hi</p>"}},
        },
    )["Id"]

    response = client.get(f"/campaigns/{campaign_id}/treatments.csv")

    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment")
    assert "'" + FORMULAS[0] in cells(response.content.decode())
    assert formula_cells(response.content.decode()) == []


def test_the_endpoint_export_is_json_lines_not_a_spreadsheet(live_server, client, alice):
    """The export (page download and CreateExportJob) is Pinpoint's gzip NDJSON: values stay exactly
    as stored (a client re-importing them needs them verbatim) and no spreadsheet evaluates it."""
    alice.ok(
        live_server,
        "PUT",
        f"/v1/apps/{alice.project.id}/endpoints/e1",
        {"ChannelType": "EMAIL", "Address": "a@example.com", "Attributes": {"Plan": [FORMULAS[0]]}},
    )

    response = client.get("/audience/export.jsonl.gz")
    lines = gzip.decompress(b"".join(response.streaming_content)).decode().splitlines()

    assert not response["Content-Type"].startswith("text/csv")
    assert json.loads(lines[0])["Attributes"]["Plan"] == [FORMULAS[0]]


def test_an_upload_over_the_limit_is_refused_and_nothing_is_stored(client, alice, settings, tmp_path):
    settings.ENGAGE_IMPORT_UPLOAD_MAX_BYTES = 1000
    body = "Id,ChannelType,Address\n" + "".join(f"e{i},EMAIL,e{i}@example.com\n" for i in range(100))

    response = upload(client, body)

    assert response.status_code == 200
    assert "too large" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_a_body_announcing_more_than_the_limit_is_refused_before_it_is_read(client, alice, settings, tmp_path):
    settings.ENGAGE_IMPORT_UPLOAD_MAX_BYTES = 1000
    body = "Id,ChannelType,Address\n" + "".join(f"e{i},EMAIL,e{i}@example.com\n" for i in range(5000))

    response = upload(client, body)

    assert response.status_code == 413
    assert "too large" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_the_default_upload_limit_is_pinpoints_one_gigabyte():
    from audience.import_forms import upload_max_bytes

    assert upload_max_bytes() == 1024**3


def test_an_api_body_over_seven_megabytes_is_refused_on_a_project_operation(live_server, alice):
    big = json.dumps({"Item": [{"Id": "e1", "Attributes": {"Blob": ["x" * (7 * 1024 * 1024)]}}]}).encode()

    response = send_signed(
        live_server,
        "PUT",
        f"/v1/apps/{alice.project.id}/endpoints",
        key_id=alice.key_id,
        secret=alice.secret,
        body=big,
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 413
    assert response.headers["x-amzn-errortype"] == "PayloadTooLargeException"
    assert set(response.json()) == {"Message", "RequestID"}
    assert not alice.project.endpoints.exists()
