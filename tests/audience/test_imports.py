from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audience.imports import ImportDefinition, derived_endpoint_id, import_job_create, import_job_run, import_jobs_sweep
from audience.models import (
    AudienceUser,
    Endpoint,
    EndpointStatus,
    ImportFailure,
    ImportJob,
    JobStatus,
    Segment,
    SegmentMember,
    SegmentType,
)
from audience.services import endpoints_write
from audience.validation import parse_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def run(project, url, fmt="CSV", **definition):
    job = import_job_create(
        project, ImportDefinition(format=fmt, s3_url=url, role_arn="arn:aws:iam::1:role/r", **definition)
    )
    return ImportJob.objects.get(pk=job.pk)


def endpoint(project, key):
    return Endpoint.objects.get(project=project, key=key)


def test_csv_columns_map_to_endpoint_fields(s3, project):
    csv = (
        "\ufeffId,ChannelType,Address,OptOut,EffectiveDate,Demographic.Platform,Location.Country,Location.Latitude,"
        "Attributes.Interests,Attributes.Interests,Metrics.visits,User.UserId,User.UserAttributes.FirstName\r\n"
        "ada-1,EMAIL,ada@example.com,NONE,2001-01-01T00:00:00Z,web,GB,51.5074,math,poetry,3,ada,Ada\r\n"
    )

    job = run(project, s3.put("people.csv", csv))

    ada = endpoint(project, "ada-1")
    assert job.status == JobStatus.COMPLETED
    assert (job.total_pieces, job.completed_pieces, job.total_processed, job.total_failures) == (1, 1, 1, 0)
    assert (ada.channel_type, ada.address, ada.platform, ada.country, ada.latitude) == (
        "EMAIL",
        "ada@example.com",
        "web",
        "GB",
        51.5,
    )
    assert ada.attributes == {"Interests": ["math", "poetry"]}
    assert ada.metrics == {"visits": 3.0}
    assert ada.user_id == "ada"
    assert AudienceUser.objects.get(project=project, user_id="ada").attributes == {"FirstName": ["Ada"]}
    assert ada.effective_date.year == timezone.now().year  # EffectiveDate is the server's
    assert ada.request_id == job.pk


def test_rows_naming_an_existing_id_update_it_and_keep_what_they_do_not_send(s3, project):
    endpoints_write(
        project, [parse_endpoint("e1", {"ChannelType": "SMS", "Address": "+1555", "Attributes": {"a": ["1"]}})]
    )

    job = run(project, s3.put("u.csv", "Id,Attributes.b\nE1,2\n"))

    assert (job.new_endpoints, job.updated_endpoints) == (0, 1)
    assert endpoint(project, "e1").attributes == {"a": ["1"], "b": ["2"]}
    assert endpoint(project, "e1").address == "+1555"


def test_rows_without_id_get_a_stable_id_from_channel_and_address(s3, project):
    url = s3.put("new.csv", "ChannelType,Address\nEMAIL,ann@example.com\n")

    run(project, url)
    run(project, url)

    assert list(Endpoint.objects.filter(project=project).values_list("key", flat=True)) == [
        derived_endpoint_id("EMAIL", "ann@example.com")
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("x1,FAX,a@example.com,,", "ChannelType must be one of"),
        ("x1,EMAIL,a@example.com,many,", "Metrics.visits must be a number, not 'many'"),
        ("x1,EMAIL,a@example.com,,95", "Location.Latitude must be a number between -90 and 90"),
        ("x1,EMAIL,a@example.com,,,extra", "The row has 6 values; the header has 5 columns"),
        ("x1,,,,", "Endpoint x1 does not exist: a new endpoint needs ChannelType and Address"),
        (",EMAIL,,,", "A row without an Id is a new endpoint: it needs ChannelType and Address"),
        ("a$b,EMAIL,a@example.com,,", "must not contain '$'"),
        ('x1,EMAIL,"unclosed', "Bad CSV"),
    ],
)
def test_bad_rows_are_reported_with_file_line_and_reason_and_good_rows_are_kept(s3, project, row, reason):
    csv = f"Id,ChannelType,Address,Metrics.visits,Location.Latitude\ngood1,SMS,+1,1,\n{row}\ngood2,SMS,+2,,\n"

    job = run(project, s3.put("in/bad.csv", csv))

    failure = ImportFailure.objects.get(job=job)
    assert job.status == JobStatus.COMPLETED
    assert job.total_failures == 1
    assert job.failures[0].startswith("in/bad.csv line 3: ")
    assert reason in job.failures[0]
    assert (failure.file, failure.line, failure.row) == ("in/bad.csv", 3, row if "unclosed" not in row else failure.row)
    assert set(Endpoint.objects.filter(project=project).values_list("key", flat=True)) >= {"good1"}
    if "unclosed" not in row:
        assert set(Endpoint.objects.values_list("key", flat=True)) == {"good1", "good2"}


def test_a_line_that_is_not_utf8_is_a_failed_row(s3, project):
    job = run(project, s3.put("latin1.csv", b"Id,ChannelType,Address\ne1,SMS,+1\ne2,SMS,caf\xe9\ne3,SMS,+3\n"))

    assert job.failures == ["latin1.csv line 3: Line 3 is not valid UTF-8."]
    assert set(Endpoint.objects.values_list("key", flat=True)) == {"e1", "e3"}


def test_a_rule_of_endpoints_write_is_a_row_failure(s3, project):
    csv = "Id,ChannelType,Address,User.UserAttributes.Plan\ne1,SMS,+1,pro\ne2,SMS,+2,\n"

    job = run(project, s3.put("rules.csv", csv))

    assert job.failures == ["rules.csv line 2: User.UserAttributes need a User.UserId on the endpoint."]
    assert list(Endpoint.objects.values_list("key", flat=True)) == ["e2"]


def test_a_prefix_reads_every_file_of_the_format_in_subfolders_and_ignores_the_rest(s3, project):
    s3.put("drop/a.csv", "Id,ChannelType,Address\na,SMS,+1\n")
    s3.put("drop/2024/b.CSV", "Id,ChannelType,Address\nb,SMS,+2\n")
    s3.put("drop/c.json", '{"Id":"c","ChannelType":"SMS","Address":"+3"}\n')
    s3.put("drop/notes.txt", "not an import")
    s3.put("dropped/elsewhere.csv", "Id,ChannelType,Address\nz,SMS,+9\n")

    job = run(project, s3.url("drop/"))

    assert (job.total_pieces, job.completed_pieces) == (2, 2)
    assert [f["key"] for f in job.files] == ["drop/2024/b.CSV", "drop/a.csv"]
    assert set(Endpoint.objects.values_list("key", flat=True)) == {"a", "b"}


def test_json_lines_import_endpoint_requests_and_ignore_server_set_members(s3, project):
    lines = (
        '{"Id":"j1","ChannelType":"EMAIL","Address":"j@example.com","Attributes":{"Ride":["Bus"]},'
        '"Demographic":{"Make":"Apple"},"CohortId":"7","EffectiveDate":"2001-01-01T00:00:00Z"}\n'
        "\n"
        '{"Id":"j2","ChannelType":"SMS"}\n'
        "[1, 2]\n"
    )

    job = run(project, s3.put("e.jsonl", lines), fmt="JSON")

    assert endpoint(project, "j1").attributes == {"Ride": ["Bus"]}
    assert endpoint(project, "j1").make == "Apple"
    assert job.total_processed == 3
    assert job.failures == [
        "e.jsonl line 3: Endpoint j2 does not exist: a new endpoint needs ChannelType and Address.",
        "e.jsonl line 4: The line must be a JSON object (an EndpointRequest with an Id).",
    ]


def test_an_unknown_csv_column_fails_its_piece_and_the_job_but_other_files_are_imported(s3, project):
    s3.put("mix/a.csv", "Id,ChannelType,Address\na,SMS,+1\n")
    s3.put("mix/b.csv", "Id,Colour\nb,red\n")

    job = run(project, s3.url("mix/"))

    assert job.status == JobStatus.FAILED
    assert (job.total_pieces, job.completed_pieces, job.failed_pieces) == (2, 1, 1)
    assert job.failures[0].startswith("mix/b.csv: Unknown column 'Colour'")
    assert list(Endpoint.objects.values_list("key", flat=True)) == ["a"]


def test_no_file_of_the_format_fails_the_job(s3, project):
    s3.put("only/x.json", "{}\n")

    job = run(project, s3.url("only/"))

    assert job.status == JobStatus.FAILED
    assert job.failures == [f"No CSV (.csv) files found at {s3.url('only/')}."]
    assert job.completion_date is not None


def test_a_missing_bucket_fails_the_job_with_the_reason(s3, project):
    job = run(project, "s3://no-such-bucket-engage/x.csv")

    assert job.status == JobStatus.FAILED
    assert "NoSuchBucket" in job.failures[0]


def test_define_segment_creates_an_import_segment_of_the_imported_endpoints(s3, project):
    csv = "Id,ChannelType,Address\na,SMS,+1\nb,EMAIL,b@example.com\nc,EMAIL,c@example.com\n"

    job = run(project, s3.put("seg.csv", csv), define_segment=True, segment_name="Newsletter")

    segment = Segment.objects.get(project=project)
    assert job.segment == segment
    assert (segment.name, segment.segment_type, segment.version) == ("Newsletter", SegmentType.IMPORT, 1)
    assert segment.import_size == 3
    assert segment.import_channel_counts == {"SMS": 1, "EMAIL": 2}
    assert (segment.import_format, segment.import_s3_url) == ("CSV", s3.url("seg.csv"))
    assert set(SegmentMember.objects.values_list("endpoint_key", flat=True)) == {"a", "b", "c"}


def test_segment_id_extends_an_imported_segment_and_bumps_its_version(s3, project):
    first = run(project, s3.put("one.csv", "Id,ChannelType,Address\na,SMS,+1\n"), define_segment=True)

    run(
        project,
        s3.put("two.csv", "Id,ChannelType,Address\na,SMS,+1\nb,SMS,+2\n"),
        define_segment=True,
        segment_id=first.segment_id,
    )

    segment = Segment.objects.get(pk=first.segment_id)
    assert Segment.objects.count() == 1
    assert segment.version == 2
    assert segment.import_size == 2
    assert segment.import_s3_url == s3.url("two.csv")


def test_user_id_only_csv_puts_every_endpoint_of_those_users_in_the_segment(s3, project):
    for key, user in (("a1", "ann"), ("a2", "ann"), ("b1", "bob"), ("c1", "cat")):
        endpoints_write(
            project, [parse_endpoint(key, {"ChannelType": "SMS", "Address": f"+{key}", "User": {"UserId": user}})]
        )

    job = run(project, s3.put("users.csv", "User.UserId\nann bob\nnobody\n"), define_segment=True)

    assert set(SegmentMember.objects.values_list("endpoint_key", flat=True)) == {"a1", "a2", "b1"}
    assert job.total_processed == 3
    assert job.failures == ["users.csv line 3: User nobody has no endpoints in this project."]
    assert job.status == JobStatus.COMPLETED


def test_user_id_only_json_lines_define_the_segment_too(s3, project):
    endpoints_write(project, [parse_endpoint("a1", {"ChannelType": "SMS", "Address": "+1", "User": {"UserId": "ann"}})])

    run(project, s3.put("users.json", '{"User":{"UserId":"ann"}}\n'), fmt="JSON", define_segment=True)

    assert list(SegmentMember.objects.values_list("endpoint_key", flat=True)) == ["a1"]


def test_without_register_endpoints_only_existing_endpoints_join_the_segment(s3, project):
    endpoints_write(project, [parse_endpoint("known", {"ChannelType": "SMS", "Address": "+1"})])
    csv = "Id,ChannelType,Address,Attributes.x\nknown,SMS,+1,changed\nnew,SMS,+2,\n"

    job = run(project, s3.put("ref.csv", csv), define_segment=True, register_endpoints=False)

    assert list(SegmentMember.objects.values_list("endpoint_key", flat=True)) == ["known"]
    assert endpoint(project, "known").attributes == {}
    assert not Endpoint.objects.filter(key="new").exists()
    assert "RegisterEndpoints is false" in job.failures[0]


def test_a_job_stopped_between_chunks_resumes_without_losing_or_duplicating_rows(s3, project):
    rows = "".join(f"e{i},SMS,+{i},v{i}\n" for i in range(7))
    url = s3.put("big.csv", "Id,ChannelType,Address,Attributes.a\n" + rows + "bad,FAX,+0,\n")
    segment = Segment.objects.create(project=project, segment_type=SegmentType.IMPORT)
    job = ImportJob.objects.create(project=project, format="CSV", s3_url=url, define_segment=True, segment=segment)

    import_job_run(job.pk, chunk_rows=3, max_chunks=2)  # the worker dies after two chunks
    stopped = ImportJob.objects.get(pk=job.pk)
    import_job_run(job.pk, chunk_rows=3)  # still claimed by the dead worker: nothing happens
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        import_job_run(job.pk, chunk_rows=3)

    done = ImportJob.objects.get(pk=job.pk)
    assert (stopped.status, stopped.file_line, stopped.total_processed) == (JobStatus.PROCESSING, 7, 6)
    assert done.status == JobStatus.COMPLETED
    assert (done.total_processed, done.total_failures, done.new_endpoints) == (8, 1, 7)
    assert Endpoint.objects.filter(project=project).count() == 7
    assert SegmentMember.objects.count() == 7
    assert ImportFailure.objects.filter(job=job).count() == 1
    assert len(done.failures) == 1
    assert done.failures[0].startswith("big.csv line 9: ChannelType must be one of")


def test_the_sweeper_requeues_a_job_whose_worker_died(s3, project):
    job = run(project, s3.put("s.csv", "Id,ChannelType,Address\na,SMS,+1\n"))
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.PROCESSING, file_index=0, claimed_until=None, completed_pieces=0
    )

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        requeued = import_jobs_sweep()

    assert requeued == 1
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.COMPLETED


def test_the_sweeper_fails_a_job_out_of_attempts_with_its_last_error(s3, project):
    job = run(project, s3.put("s.csv", "Id,ChannelType,Address\na,SMS,+1\n"))
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.PROCESSING, claimed_until=None, attempts=5, last_error="connection reset"
    )

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        import_jobs_sweep()

    failed = ImportJob.objects.get(pk=job.pk)
    assert failed.status == JobStatus.FAILED
    assert failed.failures[-1] == "Stopped after 5 attempts: connection reset"


def test_a_new_address_deactivates_the_endpoint_that_had_it(s3, project):
    endpoints_write(project, [parse_endpoint("old", {"ChannelType": "SMS", "Address": "+1"})])

    run(project, s3.put("a.csv", "Id,ChannelType,Address\nnew,SMS,+1\n"))

    assert endpoint(project, "old").status == EndpointStatus.INACTIVE


def test_a_csv_row_over_15_kb_is_refused_and_the_other_rows_kept(s3, project):
    header = "Id,ChannelType,Address," + ",".join(f"Attributes.a{i % 4}" for i in range(160))
    big = "big-1,EMAIL,big@example.com," + ",".join(["x" * 100] * 160)
    url = s3.put("big.csv", f"{header}\n{big}\nsmall-1,EMAIL,small@example.com{',' * 160}\n")

    job = run(project, url)

    assert (job.total_processed, job.total_failures) == (2, 1)
    assert job.failures == ["big.csv line 2: The endpoint is larger than 15 KB."]
    assert set(Endpoint.objects.filter(project=project).values_list("key", flat=True)) == {"small-1"}


def test_a_csv_row_with_a_nul_character_is_refused(s3, project):
    url = s3.put("nul.csv", "Id,ChannelType,Address\nnul-1,EMAIL,a\x00b@example.com\nok-1,EMAIL,ok@example.com\n")

    job = run(project, url)

    assert job.failures == ["nul.csv line 2: The endpoint must not contain NUL characters."]
    assert ImportFailure.objects.get(job=job).row == "nul-1,EMAIL,a\ufffdb@example.com"
    assert set(Endpoint.objects.filter(project=project).values_list("key", flat=True)) == {"ok-1"}
