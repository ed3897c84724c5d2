import pytest
from django.http import Http404

from projects import tagging
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ACCOUNT = "arn:aws:mobiletargeting:us-east-1:000000000000"


@pytest.fixture
def widgets(monkeypatch):
    """An account-level kind `widgets` whose resolver records its calls."""
    calls = []
    row = UserFactory(username="tagged-row")

    def resolver(user, rest, write):
        calls.append((user, rest, write))
        return row if rest == "w1/EMAIL" else None

    monkeypatch.setattr(tagging, "_ACCOUNT_RESOLVERS", {"widgets": resolver})
    return calls, row


def test_an_account_level_arn_reaches_its_registered_resolver(widgets):
    calls, row = widgets
    user = UserFactory(username="caller")

    resolved = tagging.resolve(f"{ACCOUNT}:widgets/w1/EMAIL", user, write=True)

    assert resolved.row == row
    assert resolved.project is None
    assert calls == [(user, "w1/EMAIL", True)]


@pytest.mark.parametrize(
    "arn",
    [
        f"{ACCOUNT}:widgets/missing",
        f"{ACCOUNT}:gadgets/w1/EMAIL",
        "arn:aws:mobiletargeting:eu-west-9:000000000000:widgets/w1/EMAIL",
        "arn:aws:mobiletargeting:us-east-1:999999999999:widgets/w1/EMAIL",
        f"{ACCOUNT}:apps/not-hex",
    ],
)
def test_unknown_account_level_arns_are_not_found(widgets, arn):
    with pytest.raises(Http404):
        tagging.resolve(arn, UserFactory(username="caller"), write=False)
