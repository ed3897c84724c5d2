"""Hostile templates through the editor's preview (the path a tenant's template takes to the
renderer): deep nesting, loops over big data and lookups of Python internals render within the
engine's caps or are refused with a clear message — never a 500, never a Python object."""

import time

import pytest
from django.urls import reverse

from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.handlebars import limits

pytestmark = pytest.mark.django_db

PREVIEW = reverse("campaigns:template_preview", args=["sms"])
TAGS = [f"tag{i}" for i in range(50)]
# What a leaked Python (or JavaScript) object would print.
LEAKS = (
    "<class",
    "<built-in",
    "<bound",
    "<function",
    "object at 0x",
    "dict_keys",
    "mappingproxy",
    "__main__",
    "[native",
)


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    endpoints_write(
        project,
        [
            parse_endpoint(
                "ep-1",
                {
                    "ChannelType": "SMS",
                    "Address": "+15550100",
                    "Attributes": {"Tags": TAGS},
                    "User": {"UserId": "u1", "UserAttributes": {"Name": ["Ada"]}},
                },
            )
        ],
    )
    return client


def preview(client, body: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    response = client.post(PREVIEW, {"Body": body, "endpoint": "ep-1"})
    return response.status_code, response.content.decode(), time.perf_counter() - started


@pytest.mark.parametrize(
    "body",
    [
        "{{__class__}}",
        "{{this.__class__}}",
        "{{this.__class__.__mro__}}",
        "{{Address.__class__.__base__.__subclasses__}}",
        "{{Address.upper}}",
        "{{Address.__len__}}",
        "{{Attributes.keys}}",
        "{{Attributes.items}}",
        "{{Attributes.__dict__}}",
        "{{User.__init__.__globals__}}",
        "{{@root.__globals__}}",
        "{{constructor}}",
        "{{constructor.constructor}}",
        "{{this.constructor.constructor}}",
        "{{__proto__}}",
        "{{this.[__class__]}}",
        '{{lookup this "__class__"}}',
        '{{lookup (lookup this "__class__") "__mro__"}}',
        "{{#each this.__class__}}{{@key}}={{this}}{{/each}}",
        "{{#each Attributes.Tags.__class__.__dict__}}{{@key}}{{/each}}",
        "{{Attributes.Tags.__getitem__}}",
        "{{Attributes.Tags.[0].__class__}}",
        '{{> (lookup this "__class__")}}',
    ],
)
def test_python_internals_are_out_of_reach(signed_in, body):
    status, html, _ = preview(signed_in, body)

    assert status in (200, 400)
    leaked = [leak for leak in LEAKS if leak in html]
    assert not leaked, html[html.find(leaked[0]) - 200 :][:400]


def test_the_preview_renders_normal_data_so_a_blank_is_meaningful(signed_in):
    _, html, _ = preview(signed_in, "Hi {{User.UserAttributes.Name}} {{Attributes.Tags.[0]}}")

    assert "Hi Ada tag0" in html


def test_deep_nesting_is_refused_with_a_clear_message(signed_in):
    depth = limits.MAX_DEPTH + 10
    status, html, took = preview(signed_in, "{{#if Address}}" * depth + "x" + "{{/if}}" * depth)

    assert status in (200, 400)
    assert "nest" in html.lower() or "deep" in html.lower()
    assert took < 5


def test_deeply_nested_subexpressions_are_refused(signed_in):
    depth = limits.MAX_DEPTH + 10
    status, html, took = preview(signed_in, "{{eq " + "(eq " * depth + "1 1" + ")" * depth + " 1}}")

    assert status in (200, 400)
    assert "nest" in html.lower() or "deep" in html.lower()
    assert took < 5


def test_each_over_big_data_stops_at_pinpoints_fifteen_items(signed_in):
    _, html, _ = preview(signed_in, "[{{#each Attributes.Tags}}{{this}};{{/each}}]")

    assert "tag14;" in html
    assert "tag15;" not in html


def test_nested_loops_over_big_data_hit_the_work_cap_quickly(signed_in):
    """15^6 = 11 million iterations if nothing stopped them; the step cap does, in well under a second."""
    loop = "{{#each @root.Attributes.Tags}}"
    status, html, took = preview(signed_in, loop * 6 + "x" + "{{/each}}" * 6)

    assert status in (200, 400)
    assert f"more than {limits.MAX_STEPS} rendering steps" in html
    assert "x" * 1000 not in html
    assert took < 5


def test_an_output_bomb_is_cut_at_the_output_cap(signed_in):
    # 15 x 15 x 15 x 4,000 characters: 13.5 million without the cap.
    filler = "y" * 4000
    loop = "{{#each @root.Attributes.Tags}}"
    status, html, took = preview(signed_in, loop * 3 + filler + "{{/each}}" * 3)

    assert status in (200, 400)
    assert len(html) < limits.MAX_OUTPUT_CHARS * 2
    assert f"the output is longer than {limits.MAX_OUTPUT_CHARS} characters" in html
    assert "y" * 4000 not in html
    assert took < 5


def test_a_template_over_the_source_cap_is_refused(signed_in):
    status, html, took = preview(signed_in, "x" * (limits.MAX_SOURCE_CHARS + 1))

    assert status in (200, 400)
    assert "longer than" in html or "too long" in html.lower() or "characters" in html
    assert took < 5
