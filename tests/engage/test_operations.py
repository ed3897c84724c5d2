from engage.api import operations
from scripts.pinpoint_operations import build


def test_operation_table_matches_the_installed_botocore_model():
    committed = [{"name": op.name, "method": op.method, "uri": op.uri} for op in operations.operations()]

    assert committed == build()


def test_an_encoded_arn_path_matches_the_tags_operations():
    ops = {op.name for op in operations.match("/v1/tags/arn:aws:mobiletargeting:us-east-1:1:apps/abc")}

    assert ops == {"TagResource", "UntagResource", "ListTagsForResource"}


def test_unbuilt_message_names_the_operation():
    message = operations.unbuilt_message("GET", "/v1/apps/abc/segments/def/versions/3")

    assert message.startswith("Engage does not support the Pinpoint operation GetSegmentVersion ")


def test_paths_outside_the_model_match_nothing():
    assert operations.match("/v1/apps/abc/unknown") == []
