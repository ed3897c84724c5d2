"""The OpenAPI document generated from botocore's Pinpoint model (engage/api/openapi.py)."""

import io
import json

from django.core.management import call_command
from openapi_spec_validator import validate

from engage.api import openapi, operations
from engage.api.coverage import coverage
from tests.conftest import send_raw


def operations_of(document):
    paths = document["paths"].items()
    return {op["operationId"]: (method.upper(), path, op) for path, item in paths for method, op in item.items()}


def test_the_document_is_valid_openapi():
    validate(openapi.document())


def test_every_operation_of_the_model_once_with_its_method_and_uri():
    described = operations_of(openapi.document())

    assert {name: (method, uri) for name, (method, uri, _) in described.items()} == {
        op.name: (op.method, op.uri) for op in operations.operations()
    }


def test_served_flags_follow_the_url_configuration():
    described = operations_of(openapi.document())

    assert {name: op["x-engage-served"] for name, (_, _, op) in described.items()} == {
        row.operation.name: row.implemented for row in coverage()
    }


def test_an_operation_not_built_is_documented_as_405_only_besides_the_layer_errors():
    unbuilt = operations_of(openapi.build(served=set()))["GetRecommenderConfigurations"][2]

    assert sorted(unbuilt["responses"]) == ["403", "405", "413", "429"]


def test_a_served_operation_has_its_parameters_body_success_and_errors():
    _, _, update = operations_of(openapi.build(served={"UpdateEndpoint"}))["UpdateEndpoint"]

    assert [(p["name"], p["in"], p["required"]) for p in update["parameters"]] == [
        ("application-id", "path", True),
        ("endpoint-id", "path", True),
    ]
    assert update["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EndpointRequest"
    }
    assert update["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessageBody"
    }
    assert update["responses"]["404"] == {"$ref": "#/components/responses/NotFoundException"}


def test_shapes_map_to_json_schema_types():
    schemas = openapi.build(served={op.name for op in operations.operations()})["components"]["schemas"]

    endpoint = schemas["EndpointRequest"]["properties"]
    assert endpoint["ChannelType"] == {"$ref": "#/components/schemas/ChannelType"}
    assert "EMAIL" in schemas["ChannelType"]["enum"]
    assert schemas["MapOfListOf__string"]["additionalProperties"] == {"$ref": "#/components/schemas/ListOf__string"}
    assert schemas["EndpointLocation"]["properties"]["Latitude"]["type"] == "number"
    assert schemas["WriteCampaignRequest"]["properties"]["HoldoutPercent"]["type"] == "integer"
    assert schemas["RawEmail"]["properties"]["Data"]["format"] == "byte"
    assert schemas["JourneySchedule"]["properties"]["StartTime"]["format"] == "date-time"
    assert sorted(schemas["ApplicationResponse"]["required"]) == ["Arn", "Id", "Name"]
    assert schemas["PinpointError"]["required"] == ["Message", "RequestID"]


def test_list_query_parameters_repeat_the_name_as_botocore_sends_them():
    _, _, untag = operations_of(openapi.build(served=set()))["UntagResource"]

    tag_keys = next(p for p in untag["parameters"] if p["name"] == "tagKeys")
    assert tag_keys["schema"]["type"] == "array" and tag_keys["explode"] is True


def test_the_document_is_served_unsigned_at_v1_openapi_json(live_server, transactional_db):
    answer = send_raw(live_server, "GET", "/v1/openapi.json")

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == json.loads(json.dumps(openapi.document()))


def test_the_document_is_read_only(live_server, transactional_db):
    answer = send_raw(live_server, "POST", "/v1/openapi.json", body=b"{}")

    assert answer.status == 405
    assert answer.headers["x-amzn-errortype"] == "MethodNotAllowedException"


def test_the_command_prints_the_document_with_the_given_server():
    out = io.StringIO()

    call_command("pinpoint_openapi", "--server", "https://engage.example.com", stdout=out)

    printed = json.loads(out.getvalue())
    assert printed["servers"] == [{"url": "https://engage.example.com"}]
    assert printed["paths"] == json.loads(json.dumps(openapi.document()["paths"]))
