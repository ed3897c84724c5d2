"""Resolving the project a request works on, once, after checking the caller may see it."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.models import WRITE_ROLES, Membership, Project, Role


def role_in(project: Project, user) -> str | None:
    """The user's role in the project; superusers act as owners everywhere."""
    if user.is_superuser:
        return Role.OWNER
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def project_for(user, project_id: str, *, write: bool = False, owner: bool = False) -> Project:
    """The project with this id if the user may see it (Http404 otherwise, also for other tenants'
    ids) and may act on it (PermissionDenied for a viewer writing or a non-owner administering)."""
    project = Project.objects.visible_to(user).filter(pk=project_id).first()
    if project is None:
        raise Http404("Resource not found")
    project.role = role_in(project, user)
    role_check(project.role, write=write, owner=owner)
    return project


def role_check(role: str | None, *, write: bool = False, owner: bool = False) -> None:
    """PermissionDenied unless the role may act: writes need an owner or editor, `owner` an owner."""
    if owner and role != Role.OWNER:
        raise PermissionDenied("Only an owner of the project may do this.")
    if write and role not in WRITE_ROLES:
        raise PermissionDenied("Your role in this project does not allow changes.")
