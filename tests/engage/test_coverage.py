import io
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from engage.api.coverage import coverage, markdown


def test_docs_table_of_served_operations_is_current():
    committed = (Path(settings.BASE_DIR) / "docs" / "pinpoint-api.md").read_text()

    assert committed == markdown(), "run: python manage.py pinpoint_coverage"


def test_coverage_sees_served_and_unbuilt_operations():
    served = {row.operation.name: row.implemented for row in coverage()}

    assert served["GetApps"] is True
    assert served["UpdateEndpoint"] is True
    assert served["GetCampaigns"] is True
    assert served["GetRecommenderConfigurations"] is False


def test_the_command_prints_the_table_with_print():
    out = io.StringIO()
    call_command("pinpoint_coverage", "--print", stdout=out)
    assert out.getvalue() == markdown()
