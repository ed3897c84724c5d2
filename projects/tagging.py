"""Which resource an ARN names, for TagResource, UntagResource and ListTagsForResource.

Apps register resolvers for their taggable resources (campaigns, segments, templates) in their
AppConfig.ready(); this module knows only projects.
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


_APP_ARN = re.compile(
    r"^arn:aws:mobiletargeting:(?P<region>[^:]+):(?P<account>[^:]+):apps/(?P<project>[0-9a-f]{32})"
    r"(?:/(?P<kind>[^/]+)/(?P<rest>.+))?$"
)


@dataclass(frozen=True)
class TaggedResource:
    project: Project
    row: Model


def resolve(arn: str, user, *, write: bool) -> TaggedResource:
    """The row an ARN names, if the user may see it (and change it when `write`); else Http404 or
    PermissionDenied."""
    match = _APP_ARN.match(arn)
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
