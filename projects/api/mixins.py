from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from projects.scoping import project_for


class ProjectScopedMixin:
    """For views under /v1/apps/{application-id}/: sets self.project, checking membership and role.

    Reads need membership; writes need an owner or editor; methods in `owner_methods` need an owner.
    """

    owner_methods: frozenset[str] = frozenset()

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.project = project_for(
            request.user,
            kwargs["application_id"],
            write=request.method not in SAFE_METHODS,
            owner=request.method in self.owner_methods,
        )
