"""Which resource an ARN names, for TagResource, UntagResource and ListTagsForResource.

Apps register resolvers for their taggable resources in their AppConfig.ready(): `register` for
resources under an app (`apps/{id}/segments/...`), `register_account` for account-level resources
(`templates/{name}/{type}`, which name no app). This module knows only projects.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Model
from django.http import Http404

from projects.models import Project
from projects.scoping import project_for

# resolver(project, resource_path) -> the tagged row, or None when it does not exist.
Resolver = Callable[[Project, str], Model | None]
_RESOLVERS: dict[str, Resolver] = {}


def register(kind: str, resolver: Resolver) -> None:
    """Make `apps/{id}/{kind}/...` ARNs taggable."""
    _RESOLVERS[kind] = resolver


# account_resolver(user, resource_path, write) -> the tagged row, or None when it does not exist;
# raises PermissionDenied when the user may not see it (or change it, when `write`).
AccountResolver = Callable[[object, str, bool], Model | None]
_ACCOUNT_RESOLVERS: dict[str, AccountResolver] = {}


def register_account(kind: str, resolver: AccountResolver) -> None:
    """Make account-level `{kind}/...` ARNs taggable (`kind` is never `apps`)."""
    _ACCOUNT_RESOLVERS[kind] = resolver


_ACCOUNT_ARN = re.compile(
    r"^arn:aws:mobiletargeting:(?P<region>[^:]+):(?P<account>[^:]+):(?P<kind>[^/:]+)/(?P<rest>.+)$"
)

_APP_ARN = re.compile(
    r"^arn:aws:mobiletargeting:(?P<region>[^:]+):(?P<account>[^:]+):apps/(?P<project>[0-9a-f]{32})"
    r"(?:/(?P<kind>[^/]+)/(?P<rest>.+))?$"
)


@dataclass(frozen=True)
class TaggedResource:
    project: Project | None  # None for account-level resources
    row: Model


def resolve(arn: str, user, *, write: bool) -> TaggedResource:
    """The row an ARN names, if the user may see it (and change it when `write`); else Http404 or
    PermissionDenied."""
    match = _APP_ARN.match(arn)
    if match is None:
        return _resolve_account(arn, user, write=write)
    if not match or match["region"] != settings.ENGAGE_REGION or match["account"] != settings.ENGAGE_ACCOUNT_ID:
        raise Http404(f"No taggable resource has the ARN {arn}")
    project = project_for(user, match["project"], write=write)
    if match["kind"] is None:
        return TaggedResource(project, project)
    resolver = _RESOLVERS.get(match["kind"])
    row = resolver(project, match["rest"]) if resolver else None
    if row is None:
        raise Http404(f"No taggable resource has the ARN {arn}")
    return TaggedResource(project, row)


def _resolve_account(arn: str, user, *, write: bool) -> TaggedResource:
    match = _ACCOUNT_ARN.match(arn)
    resolver = _ACCOUNT_RESOLVERS.get(match["kind"]) if match and match["kind"] != "apps" else None
    if resolver is None or match["region"] != settings.ENGAGE_REGION or match["account"] != settings.ENGAGE_ACCOUNT_ID:
        raise Http404(f"No taggable resource has the ARN {arn}")
    row = resolver(user, match["rest"], write)
    if row is None:
        raise Http404(f"No taggable resource has the ARN {arn}")
    return TaggedResource(None, row)
