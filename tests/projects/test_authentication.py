from django.test import RequestFactory

from projects.authentication import raw_path


def test_raw_path_prefers_the_servers_raw_uri():
    request = RequestFactory().get("/v1/tags/arn:aws:x/apps/ab", RAW_URI="/v1/tags/arn%3Aaws%3Ax%2Fapps%2Fab?x=1")

    assert raw_path(request) == "/v1/tags/arn%3Aaws%3Ax%2Fapps%2Fab"


def test_raw_path_falls_back_to_encoding_the_decoded_path_like_botocore():
    request = RequestFactory().get("/v1/apps/a b:c")

    assert raw_path(request) == "/v1/apps/a%20b%3Ac"
