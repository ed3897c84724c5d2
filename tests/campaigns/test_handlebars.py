"""The template engine: Pinpoint's Handlebars dialect, its helpers, defaults, errors and limits."""

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.handlebars import Limits, Template, TemplateError, compile_template
from campaigns.handlebars.cache import TemplateCache
from campaigns.handlebars.limits import MAX_EACH_ITEMS, MAX_OUTPUT_CHARS, MAX_SOURCE_CHARS

ENDPOINT = {
    "Address": "jane@example.com",
    "ChannelType": "EMAIL",
    "Attributes": {"favorite_colors": ["blue", "red", "green"], "description": ["my first post"]},
    "Metrics": {"visits": 12.0, "score": 4.5},
    "Demographic": {"Locale": "en_US", "Timezone": "America/Los_Angeles"},
    "Location": {"City": "Los Angeles", "Country": "US"},
    "User": {
        "UserId": "u-1",
        "UserAttributes": {
            "FirstName": ["Jane"],
            "LastName": ["Roe"],
            "Last Name": ["Doe"],
            "FavoriteColors": ["red", "blue", "yellow"],
            "UserAge": ["22"],
            "StartDate": ["09/19/2020"],
            "interests": ["<h1>Art</h1>"],
        },
    },
}


def render(source: str, context: object = None, **kwargs: object) -> str:
    return compile_template(source).render(ENDPOINT if context is None else context, **kwargs)


def error_of(source: str, context: object = None) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        render(source, context)
    return info.value


# -- variables and paths -------------------------------------------------------------------------


def test_a_variable_is_substituted():
    assert render("Hi {{Address}}") == "Hi jane@example.com"


def test_a_dotted_path_walks_dicts():
    assert render("{{Location.City}}") == "Los Angeles"


def test_a_slash_path_is_the_same_as_a_dotted_one():
    assert render("{{Location/City}}") == "Los Angeles"


def test_a_list_renders_comma_joined_like_a_javascript_array():
    assert render("{{User.UserAttributes.FavoriteColors}}") == "red,blue,yellow"


def test_a_single_value_attribute_renders_its_value():
    assert render("{{User.UserAttributes.FirstName}}") == "Jane"


def test_bracket_index_picks_a_list_item():
    assert render("{{User.UserAttributes.FavoriteColors.[1]}}") == "blue"


def test_dot_number_index_picks_a_list_item():
    assert render("{{User.UserAttributes.FavoriteColors.0}} {{User.UserAttributes.FavoriteColors.2}}") == "red yellow"


def test_a_literal_segment_may_hold_spaces():
    assert render("{{User.UserAttributes.[Last Name].[0]}}") == "Doe"


def test_a_string_literal_alone_looks_up_that_key():
    assert render('{{"Last Name"}}', {"Last Name": "Doe"}) == "Doe"


def test_length_of_a_list():
    assert render("{{User.UserAttributes.FavoriteColors.length}}") == "3"


def test_this_is_the_current_context():
    assert render("{{this.Address}} {{./ChannelType}}") == "jane@example.com EMAIL"


def test_a_missing_value_renders_empty():
    assert render("[{{Attributes.Nope}}][{{Nope.a.b.c}}][{{User.UserAttributes.FirstName.[5]}}]") == "[][][]"


def test_numbers_render_as_javascript_prints_them():
    context = {"a": 12.0, "b": 4.5, "c": 1e21, "d": 1e-7, "e": True, "f": None, "g": {"x": 1}}

    assert render("{{a}} {{b}} {{c}} {{d}} {{e}} [{{f}}] {{g}}", context) == "12 4.5 1e+21 1e-7 true [] [object Object]"


def test_a_root_path_reaches_the_top_from_inside_each():
    assert render("{{#each Attributes.favorite_colors}}{{@root.Address}};{{/each}}") == "jane@example.com;" * 3


def test_parent_path_reaches_the_enclosing_context():
    assert render("{{#each Attributes.favorite_colors}}{{../Location.City}}|{{/each}}") == "Los Angeles|" * 3


def test_substitutions_are_plain_top_level_keys():
    assert render("{{FirstName}} / {{FirstName.[0]}}", {"FirstName": ["Jane"]}) == "Jane / Jane"


# -- escaping ----------------------------------------------------------------------------------------


def test_double_braces_escape_html_as_handlebars_does():
    assert render("{{v}}", {"v": "&<>\"'`="}) == "&amp;&lt;&gt;&quot;&#x27;&#x60;&#x3D;"


def test_triple_braces_do_not_escape():
    assert render("{{{v}}}", {"v": "<b>"}) == "<b>"


def test_ampersand_does_not_escape():
    assert render("{{& v}}", {"v": "<b>"}) == "<b>"


def test_escaping_can_be_turned_off_for_text_parts():
    assert compile_template("{{v}}").render({"v": "O'Brien & co"}, html_escape=False) == "O'Brien & co"


def test_helper_output_is_escaped_too():
    assert render('{{upper "<b>"}} {{{upper "<b>"}}}') == "&lt;B&gt; <B>"


def test_backslash_escapes_a_mustache():
    assert render("\\{{Address}} {{ChannelType}}") == "{{Address}} EMAIL"


def test_double_backslash_keeps_one_and_renders():
    assert render("\\\\{{ChannelType}}") == "\\EMAIL"


def test_a_third_closing_brace_is_text():
    assert render("a{color:{{c}}}", {"c": "red"}) == "a{color:red}"


# -- comments and whitespace -----------------------------------------------------------------------


def test_comments_render_nothing():
    assert render("a{{! note }}b{{!-- has }} inside --}}c") == "abc"


def test_tilde_strips_whitespace_on_its_side():
    assert render("a  \n {{~ChannelType~}} \n  b") == "aEMAILb"


def test_standalone_block_lines_leave_no_blank_lines():
    source = "<ul>\n  {{#each Attributes.favorite_colors}}\n  <li>{{this}}</li>\n  {{/each}}\n</ul>\n"

    assert render(source) == "<ul>\n  <li>blue</li>\n  <li>red</li>\n  <li>green</li>\n</ul>\n"


def test_standalone_else_and_comment_lines_are_removed():
    source = "{{! greeting }}\n{{#if Nope}}\nA\n{{else}}\nB\n{{/if}}\n"

    assert render(source) == "B\n"


def test_a_standalone_partial_is_indented():
    source = '{{#*inline "p"}}one\ntwo\n{{/inline}}\n  {{> p}}\nend'

    assert render(source) == "  one\n  two\nend"


# -- blocks -----------------------------------------------------------------------------------------------


def test_if_renders_its_block_when_truthy():
    source = (
        "{{#if User.UserAttributes.FirstName.[0]}}Hello {{User.UserAttributes.FirstName.[0]}},{{else}}Hello,{{/if}}"
    )

    assert render(source) == "Hello Jane,"


def test_if_renders_else_when_falsy():
    assert render("{{#if Nope}}yes{{else}}no{{/if}}") == "no"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "n"), ("", "n"), ([], "n"), (None, "n"), (False, "n"), ({}, "y"), ("0", "y"), (0.5, "y"), (["x"], "y")],
)
def test_truthiness_is_handlebars_js(value, expected):
    assert render("{{#if v}}y{{else}}n{{/if}}", {"v": value}) == expected


def test_include_zero_makes_zero_truthy():
    assert render("{{#if v includeZero=true}}y{{else}}n{{/if}}", {"v": 0}) == "y"


def test_unless_inverts_if():
    assert render("{{#unless Nope}}shown{{else}}hidden{{/unless}}") == "shown"


def test_else_if_chains_pick_the_first_true_branch():
    source = "{{#if a}}A{{else if b}}B{{else if c}}C{{else}}D{{/if}}"

    assert [render(source, c) for c in ({"a": 1}, {"b": 1}, {"c": 1}, {})] == ["A", "B", "C", "D"]


def test_a_long_else_if_chain_is_not_limited_by_nesting():
    source = "".join(f"{{{{{'#if' if i == 0 else 'else if'} v{i}}}}}{i}" for i in range(300)) + "{{/if}}"

    assert render(source, {"v299": True}) == "299"


def test_each_iterates_a_list_with_index_and_this():
    source = "{{#each User.UserAttributes.FavoriteColors}}<li>{{@index}}:{{this}}</li>{{/each}}"

    assert render(source) == "<li>0:red</li><li>1:blue</li><li>2:yellow</li>"


def test_each_renders_else_for_an_empty_list():
    source = "{{#each User.UserAttributes.Nothing}}<li>{{this}}</li>{{else}}You have no favorite colors.{{/each}}"

    assert render(source) == "You have no favorite colors."


def test_each_iterates_a_map_with_key():
    assert render("{{#each m}}{{@key}}={{this}};{{/each}}", {"m": {"a": 1, "b": 2}}) == "a=1;b=2;"


def test_each_marks_first_and_last():
    source = "{{#each xs}}{{#if @first}}[{{/if}}{{this}}{{#if @last}}]{{else}},{{/if}}{{/each}}"

    assert render(source, {"xs": [1, 2, 3]}) == "[1,2,3]"


def test_each_supports_block_parameters():
    assert render("{{#each xs as |x i|}}{{i}}={{x}} {{/each}}", {"xs": ["a", "b"]}) == "0=a 1=b "


def test_each_item_fields_are_paths_on_this():
    assert render("{{#each items}}{{name}}:{{price}} {{/each}}", {"items": [{"name": "A", "price": 3}]}) == "A:3 "


def test_parent_index_from_a_nested_each():
    source = "{{#each xs}}{{#each this}}{{@../index}}{{@index}} {{/each}}{{/each}}"

    assert render(source, {"xs": [[1, 2], [3]]}) == "00 01 10 "


def test_each_over_a_string_renders_else():
    assert render("{{#each s}}x{{else}}none{{/each}}", {"s": "abc"}) == "none"


def test_a_plain_path_as_a_block_is_a_section():
    assert render("{{#Location}}{{City}}{{/Location}}|{{^Nope}}empty{{/Nope}}") == "Los Angeles|empty"


def test_a_section_on_zero_or_empty_text_renders_as_handlebars_js_does():
    assert render(
        "{{#a}}yes{{/a}}|{{#b}}yes{{else}}no{{/b}}|{{#c}}yes{{else}}no{{/c}}", {"a": 0, "b": "", "c": []}
    ) == ("yes|yes|no")


def test_lookup_reads_a_dynamic_key():
    assert render("{{lookup m k}} {{lookup xs 1}}", {"m": {"z": "Z"}, "k": "z", "xs": ["a", "b"]}) == "Z b"


def test_with_is_refused_with_a_clear_error():
    error = error_of("x\n{{#with Location}}{{City}}{{/with}}")

    assert error.message == "the with helper is not supported"
    assert (error.line, error.column) == (2, 4)


def test_caret_else_is_the_same_as_else():
    assert render("{{#if Nope}}yes{{^}}no{{/if}}") == "no"


def test_else_each_continues_a_chain():
    source = "{{#if Nope}}none{{else each xs}}{{this}}{{else}}empty{{/if}}"

    assert render(source, {"xs": [1, 2]}) == "12"
    assert render(source, {"xs": []}) == "empty"


# -- partials --------------------------------------------------------------------------------------------


def test_an_inline_partial_renders_where_it_is_called():
    source = (
        '{{#* inline "fullName"}}{{User.UserAttributes.FirstName.[0]}}'
        "{{#if User.UserAttributes.LastName.[0]}} {{User.UserAttributes.LastName.[0]}}{{/if}}{{/inline}}"
        "Hello {{> fullName}}"
    )

    assert render(source) == "Hello Jane Roe"


def test_a_partial_can_take_a_context_and_hash():
    source = '{{#*inline "p"}}{{a}}{{b}}{{/inline}}{{> p x}}|{{> p a=1 b="B"}}'

    assert render(source, {"x": {"a": "X", "b": "Y"}}) == "XY|1B"


def test_a_dynamic_partial_name_comes_from_a_subexpression():
    source = '{{#*inline "gold"}}G{{/inline}}{{#*inline "basic"}}B{{/inline}}{{> (lookup . "plan")}}'

    assert render(source, {"plan": "gold"}) == "G"


def test_parent_paths_do_not_leave_a_partial_as_in_handlebars_js():
    source = '{{#*inline "p"}}[{{../top}}|{{name}}]{{/inline}}{{#each people}}{{> p}}{{/each}}'

    assert render(source, {"top": "T", "people": [{"name": "A"}]}) == "[|A]"


def test_a_partial_at_the_top_level_takes_defaults():
    source = '{{#*inline "hi"}}Hi {{User.UserAttributes.FirstName}}{{/inline}}{{> hi}}'

    assert render(source, {}, defaults={"User.UserAttributes.FirstName": "there"}) == "Hi there"


def test_a_partial_declared_in_a_block_is_scoped_to_it():
    error = error_of('{{#if a}}{{#*inline "p"}}P{{/inline}}{{/if}}{{> p}}', {"a": True})

    assert "partial 'p'" in error.message


def test_an_undeclared_partial_fails_at_compile_time():
    with pytest.raises(TemplateError) as info:
        compile_template("ok\n  {{> header}}")

    assert "'header'" in info.value.message
    assert (info.value.line, info.value.column) == (2, 3)


def test_a_recursive_partial_hits_the_depth_limit():
    source = '{{#*inline "p"}}x{{> p}}{{/inline}}{{> p}}'

    assert "nested deeper" in error_of(source).message


# -- sub-expressions and hash arguments -----------------------------------------------------------------


def test_nested_helpers_run_inside_out():
    assert render('{{capitalizeFirst (lower "JANE")}}') == "Jane"


def test_deeper_nesting():
    assert render('{{upper (substring (lower "HELLO WORLD") 0 5)}}') == "HELLO"


def test_literals_as_arguments():
    assert render("{{eq 1 1}} {{eq true true}} {{eq null null}} {{eq 'a' \"a\"}} {{lookup xs -1}}", {"xs": [1]}) == (
        "true true true true "
    )


# -- Pinpoint helpers: conditionals ---------------------------------------------------------------------


def test_and_block_with_eq_subexpressions():
    source = '{{#and (eq Location.City "Los Angeles") (eq Location.Country "US")}}LA{{else}}elsewhere{{/and}}'

    assert render(source) == "LA"


def test_and_inline_uses_yes_and_no():
    assert render("{{and Location.City Nope yes='y' no='n'}}") == "n"


def test_eq_block_compares_an_attribute_to_a_string():
    source = '{{#eq User.UserAttributes.FavoriteColors.[0] "red"}}red!{{else}}not red{{/eq}}'

    assert render(source) == "red!"


def test_eq_inline_renders_true_or_false():
    assert render('{{eq Location.Country "US"}} {{eq Location.Country "FR"}}') == "true false"


def test_gt_compares_numeric_strings_as_numbers():
    source = '{{#gt User.UserAttributes.UserAge.[0] "17"}}old enough{{else}}too young{{/gt}}'

    assert render(source) == "old enough"
    assert render('{{gt "9" "17"}}') == "false"


def test_gte_lt_lte():
    assert render('{{gte 18 "18"}} {{lt 3 4}} {{lte 5 4}} {{lt "a" "b"}}') == "true true false true"


def test_comparing_a_missing_value_is_false():
    assert render("{{gt Nope 1}} {{lt Nope 1}}") == "false false"


def test_neq_and_not():
    source = '{{#neq User.UserAttributes.FavoriteColors.[0] "red"}}no red{{else}}red{{/neq}}'

    assert render(source) == "red"
    assert render('{{not (eq User.UserAttributes.FavoriteColors.[0] "red")}}') == "false"


def test_or_block():
    source = '{{#or (eq Location.City "Los Angeles") (eq Location.City "Seattle")}}West{{else}}not West{{/or}}'

    assert render(source) == "West"


def test_if_inline_with_yes_no():
    assert render("{{if Location.City yes='has city' no='none'}}") == "has city"


def test_a_condition_helper_starts_an_else_chain():
    source = '{{#eq v "a"}}A{{else eq v "b"}}B{{else}}other{{/eq}}'

    assert [render(source, {"v": v}) for v in ("a", "b", "c")] == ["A", "B", "other"]


def test_a_number_equals_its_numeric_string_but_a_list_does_not_equal_a_string():
    assert render('{{eq 5 "5.0"}} {{eq xs "a"}}', {"xs": ["a"]}) == "true false"


# -- Pinpoint helpers: strings ------------------------------------------------------------------------------


def test_abbreviate():
    assert render("{{abbreviate v 6}}", {"v": "Alejandro"}) == "Ale..."
    assert render("{{abbreviate v 20}}", {"v": "Alejandro"}) == "Alejandro"


def test_abbreviate_below_four_is_an_error():
    assert "at least 4" in error_of('{{abbreviate "abcdef" 3}}').message


def test_capitalize_each_word():
    assert render("{{capitalize Attributes.description.[0]}}") == "My First Post"


def test_capitalize_fully_lowers_the_rest():
    assert render('{{capitalize "mY fIRST" fully=true}}') == "My First"


def test_capitalize_first():
    assert render("{{capitalizeFirst Attributes.description.[0]}}") == "My first post"


def test_center():
    assert render("[{{center Location.City size=19}}]") == "[    Los Angeles    ]"
    assert render('[{{center "ab" size=7 pad="*"}}]') == "[**ab***]"


def test_cut():
    assert render('{{cut Location.City "e"}}') == "Los Angls"
    assert render("{{cut Location.City}}") == "LosAngeles"


def test_inflect():
    assert render("{{inflect 3 apple apples includeCount=false}}") == "apples"
    assert render("{{inflect 3 apple apples includeCount=true}}") == "3 apples"
    assert render('{{inflect 1 "apple" "apples" includeCount=true}}') == "1 apple"


def test_join():
    assert render('{{join Attributes.favorite_colors ", "}}') == "blue, red, green"
    assert render('{{join Attributes.favorite_colors " // " prefix="[" suffix="]"}}') == "[blue // red // green]"
    assert render('{{join "a" "b" "c" "-"}}') == "a-b-c"


def test_ljust_and_rjust():
    assert render("[{{ljust Location.City 15}}]") == "[Los Angeles    ]"
    assert render("[{{rjust Location.City 15}}]") == "[    Los Angeles]"
    assert render('[{{rjust "7" size=3 pad="0"}}]') == "[007]"


def test_a_padding_wider_than_the_output_limit_is_refused():
    assert "output limit" in error_of(f'{{{{rjust "x" {MAX_OUTPUT_CHARS + 1}}}}}').message


def test_lower_and_upper():
    assert render("{{lower User.UserAttributes.LastName.[0]}} {{upper User.UserAttributes.LastName.[0]}}") == "roe ROE"


def test_ordinalize():
    source = "Congratulations on your {{ordinalize User.UserAttributes.UserAge.[0]}} birthday!"

    assert render(source) == "Congratulations on your 22nd birthday!"
    assert render("{{ordinalize 1}} {{ordinalize 2}} {{ordinalize 3}} {{ordinalize 11}} {{ordinalize 112}}") == (
        "1st 2nd 3rd 11th 112th"
    )


def test_replace():
    assert render('{{replace Location.City " " "_"}}') == "Los_Angeles"


def test_replace_that_would_explode_is_refused():
    context = {"v": "x" * 1000, "w": "y" * 2000}

    assert "output limit" in error_of('{{replace v "" w}}', context).message


def test_slugify():
    assert render("{{slugify Location.City}}") == "los-angeles"
    assert render('{{slugify "  Hello, World! 2024 "}}') == "hello-world-2024"


def test_strip_tags():
    assert render("{{stripTags User.UserAttributes.interests.[0]}}") == "Art"


def test_substring():
    assert render("{{substring Location.City 4 9}}") == "Angel"
    assert render("{{substring Location.City 4}}") == "Angeles"
    assert render("{{substring Location.City 4 99}}") == "Angeles"


def test_substring_refuses_negative_offsets():
    assert "negative" in render_error_message("{{substring Location.City -1}}")


def test_yesno():
    assert render("{{yesno t}} {{yesno f}} {{yesno n}}", {"t": True, "f": False, "n": None}) == "yes no maybe"
    assert render("{{yesno Attributes.IsUserSubscribed}}", {"Attributes": {"IsUserSubscribed": ["true"]}}) == "yes"
    assert render("{{yesno f no='nope'}}", {"f": "false"}) == "nope"


def test_string_helpers_on_a_missing_value_render_empty():
    assert render("[{{upper Nope}}{{lower Nope}}{{capitalize Nope}}{{abbreviate Nope 5}}]") == "[]"


# -- Pinpoint helpers: dates ---------------------------------------------------------------------------------


def test_date_format_full_with_input_format_and_zone():
    source = (
        'We can meet on {{dateFormat User.UserAttributes.StartDate.[0] inputFormat="MM/dd/yyyy" '
        'outputFormat="full" tz=America/Los_Angeles}}.'
    )

    assert render(source) == "We can meet on Saturday, September 19, 2020."


@pytest.mark.parametrize(
    ("style", "expected"),
    [("full", "Saturday, September 19, 2020"), ("long", "September 19, 2020"), ("medium", "Sep 19, 2020"),
     ("short", "9/19/20")],
)  # fmt: skip
def test_date_format_styles(style, expected):
    assert render(f'{{{{dateFormat "2020-09-19" outputFormat="{style}"}}}}') == expected


def test_date_format_defaults_to_medium():
    assert render('{{dateFormat "2020-09-19T10:00:00Z"}}') == "Sep 19, 2020"


def test_date_format_java_pattern():
    source = '{{dateFormat d outputFormat="EEE, d MMM yyyy HH:mm:ss Z \'at\' h a" tz="Europe/Paris"}}'

    assert render(source, {"d": "2020-09-19T18:03:04Z"}) == "Sat, 19 Sep 2020 20:03:04 +0200 at 8 PM"


def test_date_format_converts_an_aware_date_into_the_zone():
    source = '{{dateFormat d outputFormat="yyyy-MM-dd HH:mm z" tz="America/New_York"}}'

    assert render(source, {"d": "2020-01-01T03:00:00Z"}) == "2019-12-31 22:00 EST"


def test_date_format_reads_month_names():
    source = '{{dateFormat d inputFormat="dd MMM yyyy" outputFormat="yyyy-MM-dd"}}'

    assert render(source, {"d": "05 Mar 2021"}) == "2021-03-05"


def test_date_format_rejects_an_unparseable_date():
    error = error_of('{{dateFormat "not a date"}}')

    assert error.message.startswith("dateFormat: cannot read")


def test_date_format_rejects_an_illegal_pattern_letter():
    assert "illegal pattern character 'q'" in error_of('{{dateFormat "2020-01-01" outputFormat="qq"}}').message


def test_date_format_reads_epoch_milliseconds():
    assert render('{{dateFormat "1600531200000" outputFormat="yyyy-MM-dd HH:mm"}}') == "2020-09-19 16:00"


def test_an_unknown_zone_falls_back_to_utc_as_java_does():
    assert render('{{dateFormat "2020-09-19T23:30:00Z" outputFormat="d HH:mm" tz="Mars/Olympus"}}') == "19 23:30"


def test_a_fixed_offset_zone():
    assert (
        render('{{dateFormat "2020-09-19T23:30:00Z" outputFormat="d HH:mm XXX" tz="GMT+02:00"}}') == "20 01:30 +02:00"
    )


def test_date_format_of_a_missing_value_is_empty():
    assert render("[{{dateFormat Attributes.Nope.[0]}}]") == "[]"


@time_machine.travel(datetime(2020, 9, 19, 23, 30, tzinfo=UTC), tick=False)
def test_now_prints_the_current_date_in_a_zone():
    assert render('{{now "medium" tz=America/Los_Angeles}}') == "Sep 19, 2020"
    assert render("{{now}}") == "Sep 19, 2020"
    assert render('{{now "yyyy-MM-dd" tz="Asia/Tokyo"}}') == "2020-09-20"


# -- Pinpoint helpers: math and encoding ---------------------------------------------------------------------


def test_arithmetic_uses_decimal_results():
    assert render("{{add 5 2.3}} {{subtract 5 2.3}} {{multiply 5 2.3}} {{divide 5 2.3}} {{modulo 7 2}}") == (
        "7.3 2.7 11.5 2.17391304 1"
    )


def test_arithmetic_on_attribute_strings():
    assert render("{{add User.UserAttributes.UserAge.[0] 1}} {{multiply Metrics.score 2}}") == "23 9"


def test_rounding():
    assert render("{{ceiling 5.23}} {{floor 5.23}} {{round 19.21}} {{round 2.5}}") == "6 5 19 3"


def test_division_by_zero_is_an_error():
    assert render_error_message("{{divide 1 0}}") == "divide: division by zero"


def test_arithmetic_on_a_word_is_an_error():
    assert "is not a number" in render_error_message('{{add "abc" 1}}')


def test_arithmetic_on_a_missing_value_renders_empty():
    assert render("[{{add Nope 1}}]") == "[]"


def render_error_message(source: str) -> str:
    return error_of(source).message


def test_base64_round_trip():
    assert render('{{{encode64 "Hello World"}}}') == "SGVsbG8gV29ybGQ="
    assert render('{{encode64 "Hello World"}}') == "SGVsbG8gV29ybGQ&#x3D;"  # `=` is escaped, as in Handlebars.js
    assert render('{{decode64 "SGVsbG8gd29ybGQ="}}') == "Hello world"


def test_decode64_rejects_garbage():
    assert "Base64" in render_error_message('{{decode64 "%%%"}}')


def test_digests():
    assert render('{{md5 "Hello World"}}') == hashlib.md5(b"Hello World").hexdigest()
    assert render('{{sha256 "Hello World"}}') == "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e"
    assert render('{{sha512 "Hello World"}}') == (
        "2c74fd17edafd80e8447b0d46741ee243b7eb74dd2149a0ab1b9246fb30382f27e853d8585719e0e67cbda0daa8f51671064615d645a"
        "e27acb15bfb1447f459b"
    )


def test_uuid_is_a_fresh_uuid4_each_time():
    first, second = render("{{uuid}} {{uuid}}").split()

    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first)
    assert first != second


# -- defaults ------------------------------------------------------------------------------------------------


def test_a_missing_value_takes_its_default():
    defaults = {"User.UserAttributes.FirstName": "there"}

    assert render("Hi {{User.UserAttributes.FirstName}}!", {}, defaults=defaults) == "Hi there!"


def test_an_indexed_path_takes_the_default_of_its_attribute():
    defaults = {"User.UserAttributes.FirstName": "there"}

    assert render("Hi {{User.UserAttributes.FirstName.[0]}}!", {}, defaults=defaults) == "Hi there!"


def test_a_present_value_ignores_its_default():
    assert render("{{Location.City}}", defaults={"Location.City": "Nowhere"}) == "Los Angeles"


def test_defaults_apply_to_helper_arguments_and_bracketed_keys():
    defaults = {"User.UserAttributes.[Last Name]": "friend"}

    assert render("{{upper User.UserAttributes.[Last Name].[0]}}", {}, defaults=defaults) == "FRIEND"


def test_defaults_do_not_apply_inside_an_each_item():
    source = "{{#each xs}}[{{City}}]{{/each}}"

    assert render(source, {"xs": [{}]}, defaults={"City": "X"}) == "[]"


def test_defaults_are_escaped_like_values():
    assert render("{{Name}}", {}, defaults={"Name": "<you>"}) == "&lt;you&gt;"


# -- errors carry a position ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "line", "column"),
    [
        ("Hi {{frobnicate Address}}", "unknown helper 'frobnicate'", 1, 6),
        ("a\nb {{#if x}}", "unclosed {{#if}}", 2, 6),
        ("{{#if x}}\n{{/each}}", "{{/each}} does not match {{#if}} (line 1)", 2, 1),
        ("ok {{/if}}", "{{/if}} does not close any block", 1, 4),
        ("x {{else}}", "{{else}} outside a block", 1, 3),
        ("{{#if a}}{{else}}{{else}}{{/if}}", "a block can have only one {{else}}", 1, 18),
        ("\n\n  {{foo", "unclosed '{{'", 3, 3),
        ("{{foo bar=}}", "expected a value after 'bar='", 1, 11),
        ('{{upper "x}}', "unexpected '\"'", 1, 9),
        ("{{!-- never closed", "unclosed comment", 1, 1),
        ("{{eq a}}", "eq expects 2 arguments, got 1", 1, 3),
        ("{{#upper x}}{{/upper}}", "upper cannot be used as a block", 1, 4),
        ("{{each xs}}", "each must be used as a block: {{#each ...}}", 1, 3),
        ("{{{{raw}}}}x{{{{/raw}}}}", "raw blocks ({{{{raw}}}}) are not supported", 1, 1),
        ("{{#> layout}}x{{/layout}}", "partial blocks ({{#> partial}}) are not supported", 1, 1),
        ("{{foo.this}}", "invalid path: foo.this", 1, 3),
        ("{{{x}}", "expected '}}}'", 1, 5),
        ("{{#if a as |b|}}{{/if}}", "block parameters are only supported on #each", 1, 4),
        ("line\n  {{x y=1 z}}", "unexpected 'z' after hash arguments", 2, 11),
    ],
)
def test_errors_report_line_and_column(source, message, line, column):
    with pytest.raises(TemplateError) as info:
        compile_template(source).render({})

    assert (info.value.message, info.value.line, info.value.column) == (message, line, column)


def test_a_helper_error_at_render_names_the_helper_and_its_line():
    error = error_of("one\ntwo {{divide 1 0}}")

    assert (error.message, error.line, error.column) == ("divide: division by zero", 2, 7)


def test_the_error_text_includes_the_position():
    assert str(error_of("{{nope x}}")) == "unknown helper 'nope' (line 1, column 3)"


# -- sandbox -------------------------------------------------------------------------------------------------


class Secret:
    password = "hunter2"

    def __str__(self) -> str:
        return "leaked"


def test_objects_in_the_context_are_missing():
    assert render("[{{s}}][{{s.password}}][{{s.__class__}}]", {"s": Secret()}) == "[][][]"


def test_dunder_names_are_just_missing_keys():
    assert render("[{{__class__}}][{{xs.__len__}}][{{lookup xs '__class__'}}]", {"xs": [1]}) == "[][][]"


def test_str_subclasses_render_as_their_text():
    class Name(str):
        def __str__(self) -> str:
            return "leaked"

    assert render("{{n}}", {"n": Name("Jane")}) == "Jane"


def test_a_template_is_immutable():
    template = compile_template("x")

    with pytest.raises(AttributeError):
        template.source = "y"


# -- caching --------------------------------------------------------------------------------------------------


def test_the_same_source_compiles_once():
    assert compile_template("cached {{x}}") is compile_template("cached {{x}}")


def test_a_template_renders_many_contexts():
    template = compile_template("{{x}}")

    assert [template.render({"x": i}) for i in range(3)] == ["0", "1", "2"]


def test_the_cache_drops_the_least_recently_used_beyond_its_count():
    cache = TemplateCache(max_entries=2, max_bytes=1000)
    a, b, c = (compile_template(x) for x in "abc")

    cache.put("a", a, 1)
    cache.put("b", b, 1)
    cache.get("a")
    cache.put("c", c, 1)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (a, None, c)


def test_the_cache_drops_entries_until_its_size_holds():
    cache = TemplateCache(max_entries=10, max_bytes=100)
    a, b = compile_template("a"), compile_template("b")

    cache.put("a", a, 60)
    cache.put("b", b, 60)

    assert (cache.get("a"), cache.get("b"), cache.size) == (None, b, 60)


def test_a_template_heavier_than_the_cache_is_not_kept():
    cache = TemplateCache(max_entries=10, max_bytes=100)

    cache.put("big", compile_template("big"), 101)

    assert len(cache) == 0


def test_one_template_renders_in_many_threads_at_once():
    template = compile_template("{{#each xs}}{{this}}{{@index}}{{/each}}|{{name}}")
    contexts = [{"xs": [f"t{i}"] * 3, "name": f"n{i}"} for i in range(200)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        outputs = list(pool.map(template.render, contexts))

    assert outputs == [f"t{i}0t{i}1t{i}2|n{i}" for i in range(200)]


def test_a_non_string_source_is_refused():
    with pytest.raises(TemplateError):
        compile_template(b"{{x}}")  # type: ignore[arg-type]


# -- limits ---------------------------------------------------------------------------------------------------


def test_a_source_over_the_size_limit_is_refused():
    with pytest.raises(TemplateError) as info:
        compile_template("x" * (MAX_SOURCE_CHARS + 1))

    assert "longer than 600000" in info.value.message


def test_a_source_at_the_size_limit_compiles():
    assert isinstance(compile_template("{{x}}" + "y" * (MAX_SOURCE_CHARS - 5)), Template)


def test_deeply_nested_blocks_are_refused():
    source = "{{#if a}}" * 51 + "x" + "{{/if}}" * 51

    with pytest.raises(TemplateError) as info:
        compile_template(source)

    assert info.value.message == "blocks nested deeper than 50"
    assert (info.value.line, info.value.column) == (1, 50 * 9 + 1)


def test_fifty_nested_blocks_are_allowed():
    source = "{{#if a}}" * 50 + "x" + "{{/if}}" * 50

    assert render(source, {"a": True}) == "x"


def test_deeply_nested_subexpressions_are_refused():
    source = "{{upper " + "(lower " * 10_000 + '"x"' + ")" * 10_000 + "}}"

    with pytest.raises(TemplateError) as info:
        compile_template(source)

    assert "sub-expressions nested deeper than 50" in info.value.message


def test_each_renders_at_most_fifteen_items():
    output = render("{{#each xs}}{{this}},{{/each}}", {"xs": list(range(100))})

    assert output == ",".join(str(i) for i in range(MAX_EACH_ITEMS)) + ","


def test_a_long_each_can_be_made_an_error():
    template = compile_template("{{#each xs}}{{this}}{{/each}}", limits=Limits(each_overflow_error=True))

    with pytest.raises(TemplateError) as info:
        template.render({"xs": list(range(100))})

    assert info.value.message == "#each over 100 items; at most 15 are rendered"
    assert template.render({"xs": list(range(15))}) == "01234567891011121314"


def test_last_marks_the_last_rendered_item_when_capped():
    assert render("{{#each xs}}{{#if @last}}{{this}}{{/if}}{{/each}}", {"xs": list(range(100))}) == "14"


def test_each_over_a_map_is_capped_too():
    output = render("{{#each m}}{{@key}} {{/each}}", {"m": {f"k{i}": i for i in range(100)}})

    assert output.split() == [f"k{i}" for i in range(MAX_EACH_ITEMS)]


def test_an_output_bomb_fails_fast():
    source = "{{#each xs}}{{#each ../xs}}{{#each ../../xs}}{{#each @root.xs}}{{@root.big}}" + "{{/each}}" * 4

    with pytest.raises(TemplateError) as info:
        render(source, {"xs": list(range(15)), "big": "x" * 100})

    assert "output is longer than 1000000 characters" in info.value.message


def test_the_step_budget_stops_a_pathological_template():
    source = "{{#each @root.xs}}" * 6 + "{{#if a}}{{/if}}" + "{{/each}}" * 6
    context = {"xs": list(range(15)), "a": True}

    with pytest.raises(TemplateError) as info:
        compile_template(source, limits=Limits(steps=100_000)).render(context)

    assert "rendering steps" in info.value.message


def test_the_default_step_budget_stops_exponential_iteration():
    source = "{{#each @root.xs}}" * 7 + "x" + "{{/each}}" * 7

    with pytest.raises(TemplateError):
        compile_template(source, limits=Limits(output_chars=10**9)).render({"xs": list(range(15))})


def test_helper_output_is_budgeted_even_when_not_shown():
    source = "{{#each xs}}{{#each ../xs}}{{#if (rjust 'x' 900000)}}{{/if}}{{/each}}{{/each}}"

    with pytest.raises(TemplateError) as info:
        render(source, {"xs": list(range(15))})

    assert "helpers produced more than" in info.value.message


# -- properties -------------------------------------------------------------------------------------------


CONTEXT_FOR_FUZZ = {"a": "A", "xs": ["1", "2"], "m": {"k": "v"}, "n": 0, "User": {"UserAttributes": {"X": ["x"]}}}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
def test_any_printable_source_renders_or_raises_template_error(source):
    try:
        output = compile_template(source).render(CONTEXT_FOR_FUZZ)
    except TemplateError:
        return

    assert len(output) <= MAX_OUTPUT_CHARS


TAGS = [
    "{{a}}", "{{{a}}}", "{{#if a}}", "{{else}}", "{{/if}}", "{{#each xs}}", "{{/each}}", "{{@index}}", "{{this}}",
    "{{~a~}}", "{{upper a}}", "{{> p}}", '{{#*inline "p"}}', "{{/inline}}", "{{! c }}", "{{lookup m 'k'}}",
    "{{add n 1}}", "{{dateFormat a}}", "{{rjust a 5000}}", "(", ")", "{{", "}}", "\n", "  ", "x", "\\{{a}}",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TAGS), max_size=60))
def test_any_mix_of_tags_renders_or_raises_template_error(pieces):
    try:
        output = compile_template("".join(pieces)).render(CONTEXT_FOR_FUZZ)
    except TemplateError:
        return

    assert len(output) <= MAX_OUTPUT_CHARS
