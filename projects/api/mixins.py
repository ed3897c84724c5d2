from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from engage.api import ratelimit
from projects.scoping import project_for


class ProjectScopedMixin:
    """For views under /v1/apps/{application-id}/: sets self.project, checking membership and role.

    Reads need membership; writes need an owner or editor; methods in `owner_methods` need an owner.
    Then the request counts against the project's rate limit for its operation (429 over it).
    """

    owner_methods: frozenset[str] = frozenset()
    rate_limited_per_project = True

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.project = project_for(
            request.user,
            kwargs["application_id"],
            write=request.method not in SAFE_METHODS,
            owner=request.method in self.owner_methods,
        )
        ratelimit.enforce(request, f"project:{self.project.pk}")
