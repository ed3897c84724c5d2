import json

import pytest

from campaigns.models import MessageTemplate, TemplateVersion
from campaigns.templates import template_create, template_delete, template_update
from projects.models import Role
from tests.conftest import send_signed
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# (operation suffix, request member, type, two request bodies, a content member to compare)
TYPES = [
    (
        "email_template",
        "EmailTemplateRequest",
        "EMAIL",
        {
            "Subject": "Hi {{User.UserAttributes.FirstName}}",
            "HtmlPart": "<p>Welcome</p>",
            "TextPart": "Welcome",
            "Headers": [{"Name": "X-Campaign", "Value": "welcome"}],
            "DefaultSubstitutions": json.dumps({"User.UserAttributes.FirstName": "there"}),
            "TemplateDescription": "first",
        },
        {"Subject": "Hello again", "HtmlPart": "<p>Back</p>"},
        "Subject",
    ),
    ("sms_template", "SMSTemplateRequest", "SMS", {"Body": "Code {{Attributes.Code}}"}, {"Body": "v2"}, "Body"),
    (
        "voice_template",
        "VoiceTemplateRequest",
        "VOICE",
        {"Body": "Hello", "LanguageCode": "en-US", "VoiceId": "Joanna"},
        {"Body": "Hello two", "LanguageCode": "en-GB", "VoiceId": "Amy"},
        "Body",
    ),
    (
        "push_template",
        "PushNotificationTemplateRequest",
        "PUSH",
        {
            "Default": {"Title": "Hi", "Body": "Default body", "Action": "OPEN_APP"},
            "APNS": {"Body": "apns", "MediaUrl": "https://example.com/a.png"},
            "GCM": {"Body": "fcm", "ImageUrl": "https://example.com/b.png"},
        },
        {"Default": {"Title": "v2", "Body": "second"}},
        "Default",
    ),
    (
        "in_app_template",
        "InAppTemplateRequest",
        "INAPP",
        {
            "Content": [
                {
                    "BackgroundColor": "#ffffff",
                    "HeaderConfig": {"Alignment": "CENTER", "Header": "Sale", "TextColor": "#000000"},
                    "BodyConfig": {"Alignment": "LEFT", "Body": "Half price", "TextColor": "#333333"},
                    "PrimaryBtn": {"DefaultConfig": {"ButtonAction": "CLOSE", "Text": "OK"}},
                }
            ],
            "Layout": "TOP_BANNER",
            "CustomConfig": {"k": "v"},
        },
        {"Content": [{"BackgroundColor": "#000000"}], "Layout": "MOBILE_FEED"},
        "Layout",
    ),
]


def _call(client, verb: str, suffix: str, **kwargs):
    return getattr(client, f"{verb}_{suffix}")(**kwargs)


@pytest.mark.parametrize(("suffix", "member", "kind", "first", "second", "key"), TYPES)
def test_template_lifecycle_of_each_type(pinpoint, project, suffix, member, kind, first, second, key):
    created = _call(pinpoint, "create", suffix, TemplateName="welcome", **{member: {**first, "tags": {"team": "a"}}})
    fetched = _call(pinpoint, "get", suffix, TemplateName="welcome")
    got = next(v for k, v in fetched.items() if k.endswith("TemplateResponse"))
    assert created["CreateTemplateMessageBody" if kind != "INAPP" else "TemplateCreateMessageBody"]["Arn"] == (
        f"arn:aws:mobiletargeting:us-east-1:000000000000:templates/welcome/{kind}"
    )
    assert got["Version"] == "1"
    assert got["TemplateType"] == kind
    assert got["tags"] == {"team": "a"}
    assert got[key] == first[key]

    _call(pinpoint, "update", suffix, TemplateName="welcome", **{member: {**first, key: second[key]}})
    assert _call(pinpoint, "get", suffix, TemplateName="welcome")[_resp(fetched)][key] == second[key]
    assert TemplateVersion.objects.filter(template__name="welcome").count() == 1

    _call(pinpoint, "update", suffix, TemplateName="welcome", CreateNewVersion=True, **{member: second})
    versions = pinpoint.list_template_versions(TemplateName="welcome", TemplateType=kind)["TemplateVersionsResponse"]
    assert [v["Version"] for v in versions["Item"]] == ["2", "1"]
    assert _call(pinpoint, "get", suffix, TemplateName="welcome")[_resp(fetched)]["Version"] == "1"

    pinpoint.update_template_active_version(
        TemplateName="welcome", TemplateType=kind, TemplateActiveVersionRequest={"Version": "latest"}
    )
    active = _call(pinpoint, "get", suffix, TemplateName="welcome")[_resp(fetched)]
    old = _call(pinpoint, "get", suffix, TemplateName="welcome", Version="1")[_resp(fetched)]
    assert active["Version"] == "2"
    assert active[key] == second[key]
    assert old["Version"] == "1"

    deleted = _call(pinpoint, "delete", suffix, TemplateName="welcome", Version="1")
    assert deleted["MessageBody"]["Message"]
    assert [
        v["Version"]
        for v in pinpoint.list_template_versions(TemplateName="welcome", TemplateType=kind)["TemplateVersionsResponse"][
            "Item"
        ]
    ] == ["2"]

    _call(pinpoint, "delete", suffix, TemplateName="welcome")
    assert not MessageTemplate.objects.exists()
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        _call(pinpoint, "get", suffix, TemplateName="welcome")


def _resp(fetched: dict) -> str:
    return next(k for k in fetched if k.endswith("TemplateResponse"))


def test_create_answers_201_with_arn_message_and_request_id(pinpoint, project):
    created = pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    body = created["CreateTemplateMessageBody"]
    assert body["RequestID"] == created["ResponseMetadata"]["RequestId"]
    assert body["Message"]


def test_update_and_delete_answer_202(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})

    updated = pinpoint.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "y"})
    deleted = pinpoint.delete_sms_template(TemplateName="otp")

    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202


def test_same_name_of_another_type_is_another_template(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="welcome", SMSTemplateRequest={"Body": "x"})

    pinpoint.create_voice_template(TemplateName="welcome", VoiceTemplateRequest={"Body": "y"})

    assert MessageTemplate.objects.filter(name="welcome").count() == 2


def test_names_are_case_sensitive(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="Welcome", SMSTemplateRequest={"Body": "x"})

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_sms_template(TemplateName="welcome")


def _make(names_and_types):
    for name, kind in names_and_types:
        content = {"INAPP": {}, "PUSH": {}}.get(kind, {"Body": "x"} if kind != "EMAIL" else {"Subject": "s"})
        template_create(kind, name, content)


def test_list_templates_filters_by_prefix_and_type(pinpoint, project):
    _make([("promo-a", "EMAIL"), ("promo-b", "SMS"), ("Promo-c", "SMS"), ("other", "EMAIL")])

    by_prefix = pinpoint.list_templates(Prefix="promo")["TemplatesResponse"]["Item"]
    by_type = pinpoint.list_templates(TemplateType="SMS")["TemplatesResponse"]["Item"]

    assert [(t["TemplateName"], t["TemplateType"]) for t in by_prefix] == [("promo-a", "EMAIL"), ("promo-b", "SMS")]
    assert {t["TemplateName"] for t in by_type} == {"Promo-c", "promo-b"}
    assert set(by_type[0]) == {"CreationDate", "LastModifiedDate", "TemplateName", "TemplateType", "Version"}


def test_list_templates_pages_with_next_token(pinpoint, project):
    _make([(f"t{i}", "SMS") for i in range(5)])

    first = pinpoint.list_templates(PageSize="2")["TemplatesResponse"]
    second = pinpoint.list_templates(PageSize="2", NextToken=first["NextToken"])["TemplatesResponse"]
    third = pinpoint.list_templates(PageSize="2", NextToken=second["NextToken"])["TemplatesResponse"]

    names = [t["TemplateName"] for page in (first, second, third) for t in page["Item"]]
    assert names == ["t0", "t1", "t2", "t3", "t4"]
    assert "NextToken" not in third or third["NextToken"] is None


def test_list_templates_is_a_bounded_number_of_queries(pinpoint, project, django_assert_max_num_queries):
    _make([(f"t{i}", "SMS") for i in range(30)])

    with django_assert_max_num_queries(8):
        items = pinpoint.list_templates()["TemplatesResponse"]["Item"]

    assert len(items) == 30


def test_list_template_versions_pages_newest_first(pinpoint, project):
    template_create("SMS", "otp", {"Body": "1"})
    for body in ("2", "3", "4"):
        template_update("SMS", "otp", {"Body": body}, create_new_version=True)

    first = pinpoint.list_template_versions(TemplateName="otp", TemplateType="SMS", PageSize="3")
    rest = pinpoint.list_template_versions(
        TemplateName="otp", TemplateType="SMS", PageSize="3", NextToken=first["TemplateVersionsResponse"]["NextToken"]
    )

    assert [v["Version"] for v in first["TemplateVersionsResponse"]["Item"]] == ["4", "3", "2"]
    assert [v["Version"] for v in rest["TemplateVersionsResponse"]["Item"]] == ["1"]
    assert first["TemplateVersionsResponse"]["RequestID"]


@pytest.mark.parametrize("name", ["-starts-with-dash", "has space", "x" * 129, "dot.ted", "ünï"])
def test_bad_names_are_a_bad_request(unvalidated_pinpoint, project, name):
    with pytest.raises(unvalidated_pinpoint.exceptions.BadRequestException, match="template name"):
        unvalidated_pinpoint.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": "x"})


def test_a_name_of_128_characters_is_accepted(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="a" * 128, SMSTemplateRequest={"Body": "x"})

    assert MessageTemplate.objects.get().name == "a" * 128


def test_creating_an_existing_template_is_a_bad_request(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="already exists"):
        pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "y"})


@pytest.mark.parametrize(
    ("suffix", "member", "request_body"),
    [
        ("sms_template", "SMSTemplateRequest", {"Body": "x" * 1601}),
        ("voice_template", "VoiceTemplateRequest", {"Body": "x" * 10_001}),
        ("email_template", "EmailTemplateRequest", {"HtmlPart": "x" * 600_001}),
        ("push_template", "PushNotificationTemplateRequest", {"GCM": {"Body": "x" * 4_001}}),
        ("push_template", "PushNotificationTemplateRequest", {"ADM": {"Body": "x" * 6_001}}),
    ],
)
def test_too_big_templates_are_a_bad_request(pinpoint, project, suffix, member, request_body):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="limit"):
        _call(pinpoint, "create", suffix, TemplateName="big", **{member: request_body})


def test_adm_part_may_be_longer_than_fcm(pinpoint, project):
    pinpoint.create_push_template(TemplateName="big", PushNotificationTemplateRequest={"ADM": {"Body": "x" * 6000}})

    assert MessageTemplate.objects.filter(name="big").exists()


@pytest.mark.parametrize("substitutions", ["not json", "[1, 2]", '"text"'])
def test_default_substitutions_must_be_a_json_object(pinpoint, project, substitutions):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="DefaultSubstitutions"):
        pinpoint.create_sms_template(
            TemplateName="otp", SMSTemplateRequest={"Body": "x", "DefaultSubstitutions": substitutions}
        )


def test_more_than_15_headers_is_a_bad_request(pinpoint, project):
    headers = [{"Name": f"X-{i}", "Value": "v"} for i in range(16)]

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="15"):
        pinpoint.create_email_template(TemplateName="e", EmailTemplateRequest={"Subject": "s", "Headers": headers})


def test_create_new_version_with_version_is_a_bad_request(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="create-new-version"):
        pinpoint.update_sms_template(
            TemplateName="otp", SMSTemplateRequest={"Body": "y"}, CreateNewVersion=True, Version="1"
        )


def test_updating_a_version_other_than_the_latest_is_a_bad_request(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})
    pinpoint.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "y"}, CreateNewVersion=True)

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="latest"):
        pinpoint.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "z"}, Version="1")
    pinpoint.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "z"}, Version="2")

    assert pinpoint.get_sms_template(TemplateName="otp", Version="2")["SMSTemplateResponse"]["Body"] == "z"
    assert pinpoint.get_sms_template(TemplateName="otp", Version="1")["SMSTemplateResponse"]["Body"] == "x"


def test_unknown_template_is_not_found(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_email_template(TemplateName="nothing")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.update_email_template(TemplateName="nothing", EmailTemplateRequest={"Subject": "s"})
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.delete_email_template(TemplateName="nothing")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.list_template_versions(TemplateName="nothing", TemplateType="EMAIL")


def test_unknown_version_is_not_found(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_sms_template(TemplateName="otp", Version="7")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.delete_sms_template(TemplateName="otp", Version="7")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.update_template_active_version(
            TemplateName="otp", TemplateType="SMS", TemplateActiveVersionRequest={"Version": "7"}
        )


def test_a_version_that_is_not_a_number_is_a_bad_request(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="version"):
        pinpoint.get_sms_template(TemplateName="otp", Version="one")


def test_an_unknown_template_type_label_is_a_bad_request(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="template-type"):
        pinpoint.list_template_versions(TemplateName="otp", TemplateType="FAX")


def test_deleting_the_active_version_is_refused_while_others_exist(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x"})
    pinpoint.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "y"}, CreateNewVersion=True)

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="active version"):
        pinpoint.delete_sms_template(TemplateName="otp", Version="1")

    assert TemplateVersion.objects.count() == 2


def test_deleting_the_only_version_deletes_the_template(project):
    template_create("SMS", "otp", {"Body": "x"})

    template_delete("SMS", "otp", "1")

    assert not MessageTemplate.objects.exists()


def test_version_numbers_are_never_reused(project):
    template_create("SMS", "otp", {"Body": "1"})
    template_update("SMS", "otp", {"Body": "2"}, create_new_version=True)
    template_delete("SMS", "otp", "2")

    row = template_update("SMS", "otp", {"Body": "3"}, create_new_version=True)

    assert row.version == 3


def test_update_without_version_overwrites_the_latest_remaining_version(project):
    template_create("SMS", "otp", {"Body": "1"})
    template_update("SMS", "otp", {"Body": "2"}, create_new_version=True)
    template_update("SMS", "otp", {"Body": "3"}, create_new_version=True)
    template_delete("SMS", "otp", "3")

    row = template_update("SMS", "otp", {"Body": "two"})

    assert row.version == 2
    assert row.content == {"Body": "two"}


def test_update_replaces_the_whole_version(project):
    template_create("EMAIL", "e", {"Subject": "s", "TextPart": "t", "TemplateDescription": "d"})

    row = template_update("EMAIL", "e", {"Subject": "only"})

    assert row.content == {"Subject": "only"}
    assert row.description == ""


def test_tags_in_an_update_are_ignored(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "x", "tags": {"a": "1"}})

    pinpoint.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "y", "tags": {"b": "2"}})

    assert MessageTemplate.objects.get().tags == {"a": "1"}


def test_in_app_templates_keep_braces_verbatim(pinpoint, project):
    content = [{"BackgroundColor": "#fff", "BodyConfig": {"Alignment": "LEFT", "Body": "{{x}}", "TextColor": "#000"}}]

    pinpoint.create_in_app_template(TemplateName="banner", InAppTemplateRequest={"Content": content})

    got = pinpoint.get_in_app_template(TemplateName="banner")["InAppTemplateResponse"]
    assert got["Content"][0]["BodyConfig"]["Body"] == "{{x}}"


def test_in_app_content_is_checked(unvalidated_pinpoint, project):
    with pytest.raises(unvalidated_pinpoint.exceptions.BadRequestException, match="Alignment"):
        unvalidated_pinpoint.create_in_app_template(
            TemplateName="banner",
            InAppTemplateRequest={"Content": [{"HeaderConfig": {"Alignment": "UP", "Header": "h", "TextColor": "c"}}]},
        )


# --- the sharing rule ----------------------------------------------------------------------------


def test_a_user_without_memberships_is_forbidden(pinpoint_for, project):
    template_create("SMS", "otp", {"Body": "x"})
    loner = pinpoint_for(UserFactory(username="loner"))

    with pytest.raises(loner.exceptions.ForbiddenException):
        loner.get_sms_template(TemplateName="otp")
    with pytest.raises(loner.exceptions.ForbiddenException):
        loner.list_templates()
    with pytest.raises(loner.exceptions.ForbiddenException):
        loner.create_sms_template(TemplateName="mine", SMSTemplateRequest={"Body": "x"})


def test_a_viewer_reads_but_cannot_write(pinpoint_for, project):
    template_create("SMS", "otp", {"Body": "x"})
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    client = pinpoint_for(viewer)

    assert client.get_sms_template(TemplateName="otp")["SMSTemplateResponse"]["Body"] == "x"
    assert len(client.list_templates()["TemplatesResponse"]["Item"]) == 1
    with pytest.raises(client.exceptions.ForbiddenException):
        client.create_sms_template(TemplateName="mine", SMSTemplateRequest={"Body": "x"})
    with pytest.raises(client.exceptions.ForbiddenException):
        client.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "y"})
    with pytest.raises(client.exceptions.ForbiddenException):
        client.delete_sms_template(TemplateName="otp")
    with pytest.raises(client.exceptions.ForbiddenException):
        client.update_template_active_version(
            TemplateName="otp", TemplateType="SMS", TemplateActiveVersionRequest={"Version": "1"}
        )
    with pytest.raises(client.exceptions.ForbiddenException):
        client.tag_resource(ResourceArn=MessageTemplate.objects.get().arn, TagsModel={"tags": {"a": "b"}})


def test_templates_are_shared_by_all_projects(pinpoint_for, project):
    template_create("SMS", "otp", {"Body": "x"})
    editor = UserFactory(username="elsewhere")
    MembershipFactory(user=editor, role=Role.EDITOR)  # a member of another project only
    client = pinpoint_for(editor)

    client.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "y"})

    assert client.get_sms_template(TemplateName="otp")["SMSTemplateResponse"]["Body"] == "y"


# --- tags through the template's ARN -------------------------------------------------------------


def test_tags_through_a_template_arn(pinpoint, project):
    arn = pinpoint.create_email_template(
        TemplateName="welcome", EmailTemplateRequest={"Subject": "s", "tags": {"team": "a"}}
    )["CreateTemplateMessageBody"]["Arn"]

    pinpoint.tag_resource(ResourceArn=arn, TagsModel={"tags": {"stage": "beta"}})
    listed = pinpoint.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"]
    pinpoint.untag_resource(ResourceArn=arn, TagKeys=["team"])

    assert listed == {"team": "a", "stage": "beta"}
    assert MessageTemplate.objects.get().tags == {"stage": "beta"}


def test_an_unknown_template_arn_is_not_found(pinpoint, project):
    template_create("EMAIL", "welcome", {"Subject": "s"})

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.list_tags_for_resource(
            ResourceArn="arn:aws:mobiletargeting:us-east-1:000000000000:templates/welcome/SMS"
        )


def test_a_part_that_does_not_parse_is_a_bad_request_naming_part_line_and_column(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as raised:
        pinpoint.create_email_template(
            TemplateName="e", EmailTemplateRequest={"Subject": "fine", "HtmlPart": "<p>\n  {{#if x}}open</p>"}
        )

    message = raised.value.response["Error"]["Message"]
    assert "HtmlPart" in message
    assert "at line 2, column " in message
    assert not MessageTemplate.objects.exists()


def test_push_parts_are_checked_by_name(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match=r"APNS\.Title"):
        pinpoint.create_push_template(TemplateName="p", PushNotificationTemplateRequest={"APNS": {"Title": "{{"}})


def test_an_update_that_does_not_parse_keeps_the_version(pinpoint, project):
    pinpoint.create_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "ok"})

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="Body"):
        pinpoint.update_sms_template(TemplateName="otp", SMSTemplateRequest={"Body": "{{/each}}"})

    assert TemplateVersion.objects.get().content == {"Body": "ok"}


@pytest.mark.parametrize("path", ["/v1/templates", "/v1/templates/welcome/EMAIL/versions"])
def test_the_last_page_of_templates_leaves_next_token_out_of_the_json(path, live_server, project, access_key):
    template_create("EMAIL", "welcome", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})
    key_id, secret = access_key

    answer = send_signed(live_server, "GET", path, key_id=key_id, secret=secret)

    assert answer.status == 200
    assert "NextToken" not in answer.json()  # Pinpoint leaves it out; null is no string to the model
