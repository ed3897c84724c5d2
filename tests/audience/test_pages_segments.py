import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audience.models import AttributeDefinition, AttributeKind, ImportJob, JobStatus, SegmentType, SegmentVersion
from audience.segment_forms import definition_from_form, form_data_from_definition
from audience.segment_pages import Panel
from audience.segments import Estimate, estimate, segment_create
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from projects.models import Role
from tests.factories import MembershipFactory, ProjectFactory

LIST = reverse("audience:segments")
NEW = reverse("audience:segment_new")
ESTIMATE = reverse("audience:segment_estimate")
BUILDER = reverse("audience:segment_builder")
PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}


def write(project, *items: tuple[str, dict]) -> None:
    endpoints_write(project, [parse_endpoint(endpoint_id, body) for endpoint_id, body in items])


def url(name: str, segment) -> str:
    return reverse(f"audience:{name}", args=[segment.pk])


def builder_post(name: str = "Pro", dimensions: dict | None = None, **extra: str | list[str]) -> dict[str, list[str]]:
    """What the builder page posts for a definition, with a name and extra fields (`g0__c0__kind`
    for `g0-c0-kind`); lists, so the test client sends every checkbox value."""
    data = form_data_from_definition({"Dimensions": dimensions or {}})
    data["name"] = [name]
    for key, value in extra.items():
        data[key.replace("__", "-")] = value if isinstance(value, list) else [value]
    return data


def criterion(kind: str, **fields: str | list[str]) -> dict[str, str | list[str]]:
    return {"g0__c0__kind": kind, "g0__c0__dim": "0", **{f"g0__c0__{k}": v for k, v in fields.items()}}


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    return client


@pytest.fixture
def audience(project):
    write(
        project,
        ("ada", {"ChannelType": "EMAIL", "Address": "ada@x.io", "Attributes": {"Plan": ["pro"]}}),
        ("bob", {"ChannelType": "SMS", "Address": "+15550100", "Attributes": {"Plan": ["pro"]}, "OptOut": "ALL"}),
        ("cy", {"ChannelType": "EMAIL", "Address": "cy@x.io", "Attributes": {"Plan": ["free"]}}),
        ("dee", {"ChannelType": "EMAIL", "Address": "dee@x.io", "Attributes": {"Plan": ["pro"]}}),
        ("old", {"ChannelType": "EMAIL", "Address": "dee@x.io", "Attributes": {"Plan": ["pro"]}}),
    )
    # Written again, "dee" is the ACTIVE endpoint of its address; "old" becomes INACTIVE.
    write(project, ("dee", {"ChannelType": "EMAIL", "Address": "dee@x.io", "Attributes": {"Plan": ["pro"]}}))
    return project


def viewer_of(project):
    return MembershipFactory(project=project, role=Role.VIEWER).user


def imported(project, name: str = "Imported", size: int = 120):
    segment = project.segments.create(
        name=name, segment_type=SegmentType.IMPORT, import_size=size, import_channel_counts={"EMAIL": size}
    )
    ImportJob.objects.create(
        project=project,
        format="CSV",
        s3_url="s3://bucket/list.csv",
        segment=segment,
        status=JobStatus.COMPLETED,
        total_processed=122,
        total_failures=2,
    )
    return segment


def test_list_shows_each_segment_with_type_version_and_links(signed_in, audience):
    dynamic = segment_create(audience, name="Pro users", dimensions=PLAN_PRO)
    static = imported(audience)

    page = signed_in.get(LIST).content.decode()

    assert f'<a href="{url("segment", dynamic)}">Pro users</a>' in page
    assert f'<a href="{url("segment", static)}">Imported</a>' in page
    assert f'href="{NEW}"' in page
    assert "<td>Dynamic</td>" in page and "<td>Imported</td>" in page
    assert f'hx-get="{url("segment_size", dynamic)}"' in page
    assert "campaigns and journeys using a segment will be listed here" in page


def test_list_shows_the_import_size_and_jobs_of_imported_segments(signed_in, project):
    static = imported(project, size=120)

    page = signed_in.get(LIST).content.decode()

    assert '<td class="number">120<div class="hint">from the import</div></td>' in page
    assert f"<code>{static.import_jobs.get().pk[:12]}…</code>" in page
    assert re.search(r"COMPLETED</span>\s+122 processed, 2 failed", page)


def test_size_of_a_dynamic_segment_is_its_estimate(signed_in, audience):
    dynamic = segment_create(audience, name="Pro users", dimensions=PLAN_PRO)

    response = signed_in.get(url("segment_size", dynamic))

    assert response.context["size"] == estimate(audience, {"Dimensions": PLAN_PRO})
    assert '<span class="segment-size">3</span><div class="hint">2 reachable</div>' in response.content.decode()


def test_size_of_a_segment_whose_base_was_deleted_says_why(signed_in, project):
    base = segment_create(project, name="base", dimensions={})
    derived = segment_create(project, name="derived", groups={"Groups": [{"SourceSegments": [{"Id": base.pk}]}]})
    base.delete()

    page = signed_in.get(url("segment_size", derived)).content.decode()

    assert "Invalid" in page and "does not exist in this project" in page


def test_list_queries_do_not_grow_with_the_number_of_segments(signed_in, project, django_assert_max_num_queries):
    for i in range(3):
        segment_create(project, name=f"s{i}", dimensions=PLAN_PRO)
        imported(project, name=f"i{i}")
    with django_assert_max_num_queries(20) as few:
        signed_in.get(LIST)
    for i in range(3, 40):
        segment_create(project, name=f"s{i}", dimensions=PLAN_PRO)
        imported(project, name=f"i{i}")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = signed_in.get(LIST)

    assert len(response.context["segments"]) == 50
    assert response.context["next_token"]


def test_list_pages_follow_creation_order(signed_in, project):
    for i in range(55):
        segment_create(project, name=f"s{i:02}", dimensions={})

    first = signed_in.get(LIST)
    second = signed_in.get(LIST, {"after": first.context["next_token"]})
    mangled = signed_in.get(LIST, {"after": "not-a-token"})

    names = [s.name for s in first.context["segments"]] + [s.name for s in second.context["segments"]]
    assert names == [f"s{i:02}" for i in range(55)]
    assert second.context["next_token"] is None
    assert [s.name for s in mangled.context["segments"]] == names[:50]


def test_viewers_see_the_list_without_new_or_delete(client, project):
    segment = segment_create(project, name="s", dimensions={})
    client.force_login(viewer_of(project))

    page = client.get(LIST).content.decode()

    assert url("segment", segment) in page
    assert NEW not in page
    assert url("segment_delete", segment) not in page


def test_new_builder_is_labelled_and_offers_the_projects_names(signed_in, project):
    AttributeDefinition.objects.create(project=project, kind=AttributeKind.CUSTOM, name="Plan")
    AttributeDefinition.objects.create(project=project, kind=AttributeKind.USER, name="Tier")
    AttributeDefinition.objects.create(project=project, kind=AttributeKind.METRIC, name="visits")
    AttributeDefinition.objects.create(
        project=project, kind=AttributeKind.CUSTOM, name="Gone", removed_at=timezone.now()
    )

    page = signed_in.get(NEW).content.decode()

    assert '<div id="estimate-panel" aria-live="polite">' in page
    assert "<legend>Segment group 1</legend>" in page
    assert '<label for="id_name">Name</label>' in page
    assert '<label for="g0-add_kind">Add a criterion</label>' in page
    assert '/static/vendor/htmx/htmx.min.js"' in page
    assert '<datalist id="attribute-names"><option value="Plan"></datalist>' in page
    assert '<datalist id="user-attribute-names"><option value="Tier"></datalist>' in page
    assert '<datalist id="metric-names"><option value="visits"></datalist>' in page
    assert "Gone" not in page
    assert "Recent activity (<code>Behavior.Recency</code>)" in page  # the help, in Pinpoint terms


def test_new_builder_starts_from_every_active_endpoint(signed_in, audience):
    response = signed_in.get(NEW)

    assert response.context["panel"].size.total == 4
    assert '<strong id="estimate-total">4</strong>' in response.content.decode()


def test_editing_shows_the_saved_criteria(signed_in, audience):
    segment = segment_create(audience, name="Pro users", dimensions=PLAN_PRO)

    page = signed_in.get(url("segment", segment)).content.decode()

    assert 'name="name" value="Pro users"' in page
    assert 'name="g0-c0-name" value="Plan"' in page
    assert '<option value="INCLUSIVE" selected>is one of</option>' in page
    assert 'aria-describedby="g0-c0-values-help">\npro</textarea>' in page
    assert f'name="version" value="{segment.version}"' in page
    assert "Save version 2" in page


@pytest.mark.parametrize(
    "fields",
    [
        criterion("attribute", name="Plan", operator="INCLUSIVE", values="pro"),
        criterion("attribute", name="Plan", operator="EXCLUSIVE", values="pro"),
        criterion("channel", operator="INCLUSIVE", values=["EMAIL", "SMS"]),
        criterion("recency", operator="ACTIVE", duration="DAY_7"),
        {**criterion("attribute", name="Plan", operator="INCLUSIVE", values="pro"), "g0__type": "NONE"},
    ],
)
def test_estimate_fragment_counts_what_the_posted_builder_defines(signed_in, audience, fields):
    data = builder_post(**fields)

    response = signed_in.post(ESTIMATE, data)

    panel = response.context["panel"]
    assert panel.size == estimate(audience, definition_from_form(data))
    assert f'<strong id="estimate-total">{panel.size.total}</strong>' in response.content.decode()


def test_estimate_fragment_shows_reachable_per_channel_a_sample_and_the_request(signed_in, audience):
    data = builder_post(**criterion("attribute", name="Plan", operator="INCLUSIVE", values="pro"))

    response = signed_in.post(ESTIMATE, data)

    page = response.content.decode()
    assert [e.endpoint_id for e in response.context["panel"].sample] == ["ada", "bob", "dee"]
    assert f'<a href="{reverse("audience:endpoint", args=["bob"])}"><code>bob</code></a>' in page
    assert '<tr><th scope="row">EMAIL</th><td class="number">2</td></tr>' in page
    assert "<dt>Opted out</dt><dd>1</dd>" in page
    assert '<div id="estimate-sample" hx-swap-oob="innerHTML">' in page
    assert "&quot;Name&quot;: &quot;Pro&quot;" in page and "&quot;SegmentGroups&quot;" in page


def test_the_sample_holds_at_most_ten_endpoints(signed_in, project):
    write(project, *[(f"e{i:02}", {"ChannelType": "EMAIL", "Address": f"e{i}@x.io"}) for i in range(25)])

    response = signed_in.post(ESTIMATE, builder_post())

    assert response.context["panel"].size.total == 25
    assert len(response.context["panel"].sample) == 10


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (criterion("attribute", name="", operator="INCLUSIVE", values="pro"), "enter the endpoint attribute name"),
        (criterion("attribute", name="Signup", operator="BEFORE", values="soon"), "BEFORE needs ISO-8601 dates"),
        (criterion("metric", name="visits", operator="EQUAL", number="many"), "must be a number"),
        (criterion("gps", latitude="95", longitude="0"), "Latitude (-90..90)"),
        ({"g0__sources": "0" * 32}, f"Source segment {'0' * 32} does not exist in this project."),
    ],
)
def test_invalid_criteria_show_why_in_the_panel(signed_in, audience, fields, message):
    response = signed_in.post(ESTIMATE, builder_post(**fields))

    assert response.status_code == 200
    assert response.context["panel"].size is None
    assert message in response.content.decode()
    assert '<p class="estimate-error"><strong>No estimate yet.</strong>' in response.content.decode()


def test_adding_a_criterion_returns_the_groups_and_a_new_estimate(signed_in, audience):
    data = builder_post(g0__add_kind="country", op="add-criterion:0")

    response = signed_in.post(BUILDER, data)

    page = response.content.decode()
    assert "<legend>Criterion 1: Country</legend>" in page
    assert '<select id="g0-c0-operator" name="g0-c0-operator" autofocus>' in page
    assert '<div id="estimate-panel" hx-swap-oob="innerHTML">' in page
    assert "choose or enter at least one value" in page


def test_builder_offers_the_projects_other_segments_as_bases_only(signed_in, project):
    own = segment_create(project, name="Own base", dimensions={})
    editing = segment_create(project, name="Editing", dimensions={})
    foreign = segment_create(ProjectFactory(), name="Foreign base", dimensions={})

    page = signed_in.get(url("segment", editing)).content.decode()

    assert f'name="g0-sources" value="{own.pk}"' in page
    assert f'value="{editing.pk}"' not in page.split('id="groups"')[1]
    assert foreign.pk not in page and "Foreign base" not in page


def test_a_pinned_base_segment_stays_pinned(signed_in, project):
    base = segment_create(project, name="Base", dimensions={})
    pinned = segment_create(
        project, name="Pinned", groups={"Groups": [{"SourceSegments": [{"Id": base.pk, "Version": 1}]}]}
    )

    page = signed_in.get(url("segment", pinned)).content.decode()

    assert f'name="g0-sources" value="{base.pk}@1" checked>' in page
    assert "pinned to version 1" in page


def test_another_projects_segment_cannot_be_a_base(signed_in, project):
    foreign = segment_create(ProjectFactory(), name="Foreign", dimensions={})

    estimated = signed_in.post(ESTIMATE, builder_post(g0__sources=foreign.pk))
    saved = signed_in.post(NEW, builder_post(g0__sources=foreign.pk))

    assert f"Source segment {foreign.pk} does not exist in this project." in estimated.content.decode()
    assert saved.status_code == 200
    assert "does not exist in this project" in saved.content.decode()
    assert not project.segments.exists()


def test_saving_a_new_segment_creates_version_1(signed_in, audience):
    data = builder_post("Pro users", **criterion("attribute", name="Plan", operator="INCLUSIVE", values="pro"))

    response = signed_in.post(NEW, data, follow=True)

    segment = audience.segments.get()
    assert (segment.name, segment.version, segment.segment_type) == ("Pro users", 1, SegmentType.DIMENSIONAL)
    assert segment.segment_groups == definition_from_form(data)["SegmentGroups"]
    assert segment.dimensions is None
    assert SegmentVersion.objects.filter(segment=segment).count() == 1
    assert response.redirect_chain == [(LIST, 302)]
    assert "Segment “Pro users” saved as version 1." in response.content.decode()


def test_saving_an_edit_writes_version_2(signed_in, audience):
    segment = segment_create(audience, name="Pro users", dimensions=PLAN_PRO)
    data = builder_post("Free users", **criterion("attribute", name="Plan", operator="INCLUSIVE", values="free"))
    data["version"] = "1"

    response = signed_in.post(url("segment", segment), data)

    segment.refresh_from_db()
    assert response.status_code == 302
    assert (segment.name, segment.version) == ("Free users", 2)
    assert segment.segment_groups["Groups"][0]["Dimensions"][0]["Attributes"]["Plan"]["Values"] == ["free"]
    assert list(segment.versions.values_list("version", flat=True)) == [1, 2]
    assert estimate(audience, {"SegmentGroups": segment.segment_groups}).total == 1


def test_saving_over_a_newer_version_is_refused(signed_in, audience):
    segment = segment_create(audience, name="Pro users", dimensions=PLAN_PRO)
    data = builder_post("Mine", version="1")
    signed_in.post(url("segment", segment), builder_post("Theirs", version="1"))

    response = signed_in.post(url("segment", segment), data)

    segment.refresh_from_db()
    assert (segment.name, segment.version) == ("Theirs", 2)
    assert "it is now version 2" in response.content.decode()
    assert 'name="version" value="2"' in response.content.decode()
    assert 'name="name" value="Mine"' in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (builder_post(""), "Give the segment a name."),
        (builder_post("x" * 257), "at most 256 characters"),
        (builder_post(**criterion("metric", name="visits", operator="EQUAL", number="")), "enter a number"),
    ],
)
def test_an_invalid_save_shows_the_builder_again_with_the_reason(signed_in, project, data, message):
    response = signed_in.post(NEW, data)

    assert response.status_code == 200
    assert '<div class="form-errors" role="alert">' in response.content.decode()
    assert message in response.content.decode()
    assert not project.segments.exists()


def test_a_definition_the_builder_cannot_show_is_shown_as_json(signed_in, project):
    segment = segment_create(project, name="API", dimensions={"Attributes": {"Plan": {"Values": [" padded"]}}})

    page = signed_in.get(url("segment", segment)).content.decode()

    assert "The builder cannot show this definition" in page
    assert "&quot; padded&quot;" in page
    assert 'id="segment-form"' not in page


def test_viewers_see_the_builder_read_only(client, audience):
    segment = segment_create(audience, name="Pro users", dimensions=PLAN_PRO)
    client.force_login(viewer_of(audience))

    page = client.get(url("segment", segment)).content.decode()

    assert '<fieldset class="plain" disabled>' in page
    assert "hx-post" not in page
    assert "Save version" not in page
    assert '<strong id="estimate-total">3</strong>' in page


@pytest.mark.parametrize("target", ["new", "segment", "estimate", "builder", "delete"])
def test_viewers_cannot_post(client, audience, target):
    segment = segment_create(audience, name="Pro users", dimensions=PLAN_PRO)
    client.force_login(viewer_of(audience))
    path = {
        "new": NEW,
        "segment": url("segment", segment),
        "estimate": ESTIMATE,
        "builder": BUILDER,
        "delete": url("segment_delete", segment),
    }[target]

    response = client.post(path, builder_post("Changed", version="1"))

    segment.refresh_from_db()
    assert response.status_code == 403
    assert (segment.name, segment.version) == ("Pro users", 1)


@pytest.mark.parametrize("name", ["new", "delete"])
def test_viewers_cannot_open_the_new_or_delete_pages(client, project, name):
    segment = segment_create(project, name="s", dimensions={})
    client.force_login(viewer_of(project))

    response = client.get(NEW if name == "new" else url("segment_delete", segment))

    assert response.status_code == 403


def test_another_projects_segment_is_not_found(signed_in):
    foreign = segment_create(ProjectFactory(), name="Foreign", dimensions={})

    answers = [signed_in.get(url(name, foreign)) for name in ("segment", "segment_size", "segment_delete")]
    answers += [signed_in.post(url(name, foreign), builder_post("Mine")) for name in ("segment", "segment_delete")]

    assert [a.status_code for a in answers] == [404] * 5
    foreign.refresh_from_db()
    assert foreign.name == "Foreign"


def test_a_segment_id_with_nul_is_not_found(signed_in):
    assert signed_in.get(reverse("audience:segment", args=["a\x00b"])).status_code == 404


def test_the_builder_fragment_refuses_another_projects_segment(signed_in):
    foreign = segment_create(ProjectFactory(), name="Foreign", dimensions={})

    response = signed_in.post(BUILDER, builder_post(segment=foreign.pk, op="add-group"))

    assert response.status_code == 404


def test_pages_need_a_login(client, project):
    segment = segment_create(project, name="s", dimensions={})

    answers = [client.get(LIST), client.get(url("segment", segment)), client.post(ESTIMATE, builder_post())]

    assert [a.status_code for a in answers] == [302, 302, 302]


def test_an_imported_segment_shows_its_jobs_size_and_members_now(signed_in, audience):
    static = imported(audience, size=3)
    static.members.create(endpoint_key="ada")
    static.members.create(endpoint_key="old")  # INACTIVE: listed, but no member now

    response = signed_in.get(url("segment", static))

    page = response.content.decode()
    job = static.import_jobs.get()
    assert "<dt>Imported endpoints (<code>Size</code>)</dt><dd>3</dd>" in page
    assert '<dd id="members-now">1</dd>' in page
    assert f"<code>{job.pk}</code>" in page
    assert '<td class="number">122</td>' in page
    assert "only its name can change here" in page
    assert 'id="segment-form"' not in page


def test_an_imported_segment_can_be_renamed_only(signed_in, project):
    static = imported(project)

    response = signed_in.post(url("segment", static), builder_post("Renamed", **criterion("make", values="x")))

    static.refresh_from_db()
    assert response.status_code == 302
    assert (static.name, static.version, static.segment_type) == ("Renamed", 2, SegmentType.IMPORT)
    assert static.segment_groups is None


def test_renaming_an_imported_segment_needs_a_name(signed_in, project):
    static = imported(project)

    response = signed_in.post(url("segment", static), {"name": " "})

    static.refresh_from_db()
    assert "Give the segment a name" in response.content.decode()
    assert static.version == 1


def test_import_jobs_link_to_their_page(signed_in, project):
    static = imported(project)
    job = static.import_jobs.get()

    detail = signed_in.get(url("segment", static)).content.decode()
    listed = signed_in.get(LIST).content.decode()

    job_page = reverse("audience:import_job", args=[job.pk])
    assert f'<a href="{job_page}"><code>{job.pk}</code></a>' in detail
    assert f'<a href="{job_page}"><code>{job.pk[:12]}…</code></a>' in listed


def test_an_empty_list_points_to_the_builder_and_the_import(signed_in):
    page = signed_in.get(LIST).content.decode()

    assert f'<a href="{NEW}">Build the first one</a>' in page
    assert f'<a href="{reverse("audience:import")}">import</a>' in page


def test_delete_asks_first_and_names_the_segments_built_on_it(signed_in, project):
    base = segment_create(project, name="Base", dimensions={})
    derived = segment_create(project, name="Derived", groups={"Groups": [{"SourceSegments": [{"Id": base.pk}]}]})

    page = signed_in.get(url("segment_delete", base)).content.decode()

    assert "Delete segment “Base”?" in page
    assert f'<a href="{url("segment", derived)}">Derived</a>' in page


def test_delete_removes_the_segment_and_its_versions(signed_in, project):
    segment = segment_create(project, name="Gone", dimensions={})

    response = signed_in.post(url("segment_delete", segment), follow=True)

    assert not project.segments.exists()
    assert not SegmentVersion.objects.exists()
    assert "Segment “Gone” deleted." in response.content.decode()


def test_editors_may_delete(client, project):
    editor = MembershipFactory(project=project, role=Role.EDITOR).user
    segment = segment_create(project, name="Gone", dimensions={})
    client.force_login(editor)

    response = client.post(url("segment_delete", segment))

    assert response.status_code == 302
    assert not project.segments.exists()


def test_a_sampled_estimate_says_so_and_offers_an_exact_count():
    panel = Panel(
        size=Estimate(
            total=41000, opted_out=1000, reachable_by_channel={"EMAIL": 40000}, exact=False, sample_percent=4.96
        ),
        milliseconds=180,
    )

    page = render_to_string("audience/segment_estimate_panel.html", {"panel": panel, "can_edit": True})
    read_only = render_to_string("audience/segment_estimate_panel.html", {"panel": panel, "can_edit": False})

    assert '<span class="visually-hidden">About </span><strong id="estimate-total">41000</strong>' in page
    assert "from a 5.0% sample of the endpoints" in page
    assert 'name="exact" value="1"' in page and 'hx-include="#segment-form"' in page
    assert 'name="exact"' not in read_only


def test_an_exact_count_can_be_asked_for(signed_in, audience):
    response = signed_in.post(ESTIMATE, {**builder_post(), "exact": ["1"]})

    assert response.context["panel"].size.exact
    assert "Counted exactly in" in response.content.decode()


@pytest.mark.parametrize(
    ("total", "exact", "message"),
    [
        (5, True, "takes too long for a live preview"),
        (0, True, "No endpoint matches these criteria."),
        (0, False, "No endpoint in the sample the estimate read matched"),
    ],
)
def test_the_sample_says_why_it_is_empty(total, exact, message):
    panel = Panel(size=Estimate(total=total, opted_out=0, reachable_by_channel={}, exact=exact), sample=None)

    page = render_to_string("audience/segment_estimate_sample.html", {"panel": panel})

    assert message in page
