"""The endpoints and the segment campaign tests send to."""

from django.utils import timezone

from audience.models import Endpoint, cohort_of
from audience.segments import segment_create

PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}


def make_endpoint(project, endpoint_id: str, address: str = "", *, cohort: int | None = None, **fields) -> Endpoint:
    """An endpoint made now (EMAIL unless `channel_type` says otherwise), in the cohort its id hashes
    to unless `cohort` is given."""
    now = timezone.now()
    fields.setdefault("channel_type", "EMAIL")
    return Endpoint.objects.create(
        project=project,
        endpoint_id=endpoint_id,
        key=endpoint_id.lower(),
        address=address,
        effective_date=now,
        creation_date=now,
        cohort_id=cohort_of(endpoint_id) if cohort is None else cohort,
        **fields,
    )


def pro_segment(project):
    """The dynamic segment "pro": endpoints whose Plan attribute is pro."""
    return segment_create(project, name="pro", dimensions=PRO)
