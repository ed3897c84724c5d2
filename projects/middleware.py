"""The current project of an HTML request: chosen in the switcher, resolved once, here.

`CurrentProjectMiddleware` sets `request.project` (a Project carrying the user's `.role`, or None)
through `project_for`, so an id in the session that the user may no longer see is ignored.
Page views that work on a project are wrapped in `project_required`.
"""

from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from engage.api.middleware import is_api_request
from projects.forms import ProjectCreateForm
from projects.models import Project
from projects.scoping import project_for, role_check

SESSION_KEY = "engage_project_id"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def current_project_resolve(request: HttpRequest) -> Project | None:
    """The project chosen in the session if the user may see it, else their first visible one."""
    chosen = request.session.get(SESSION_KEY)
    if chosen:
        try:
            return project_for(request.user, chosen)
        except Http404:
            pass  # removed from the project, or the project was deleted: fall back below
    fallback = Project.objects.visible_to(request.user).values_list("pk", flat=True).first()
    if fallback is None:
        request.session.pop(SESSION_KEY, None)
        return None
    request.session[SESSION_KEY] = fallback
    return project_for(request.user, fallback)


def current_project_choose(request: HttpRequest, project: Project | None) -> None:
    """Remember the project the user works on (None forgets it)."""
    if project is None:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = project.pk


class CurrentProjectMiddleware:
    """Sets `request.project` for every signed-in page request (the Pinpoint API scopes by URL)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.project = None
        if not is_api_request(request) and request.user.is_authenticated:
            request.project = current_project_resolve(request)
        return self.get_response(request)


def project_required(view: Callable | None = None, *, owner: bool = False) -> Callable:
    """Wrap a page view that works on `request.project`.

    Without a project, GET shows the "create your first project" page and other methods 404.
    Unsafe methods need an owner or editor (PermissionDenied for a viewer); `owner=True` views need
    an owner for every method. These are project_for's rules, checked on the role it resolved.
    """

    def decorate(view_func: Callable) -> Callable:
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            project = getattr(request, "project", None)
            if project is None:
                if request.method not in SAFE_METHODS:
                    raise Http404("No project selected.")
                return render(request, "projects/no_project.html", {"create_form": ProjectCreateForm()})
            role_check(project.role, write=request.method not in SAFE_METHODS, owner=owner)
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
