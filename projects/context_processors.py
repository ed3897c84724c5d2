from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from projects.models import Project

# The main navigation: (label, url name). Every entry is a real page.
NAVIGATION = (
    ("Dashboard", "dashboard"),
    ("Audience", "audience:endpoints"),
    ("Events", "audience:events"),
    ("Segments", "audience:segments"),
    ("Campaigns", "campaigns:campaigns"),
    ("Journeys", "journeys:journeys"),
    ("Templates", "campaigns:templates"),
    ("Settings", "project_settings"),
)


def current_project(request: HttpRequest) -> dict:
    """The project resolved by projects.middleware, and the projects the switcher offers."""
    user = getattr(request, "user", None)
    switchable = Project.objects.visible_to(user).only("id", "name") if user else Project.objects.none()
    return {"current_project": getattr(request, "project", None), "switchable_projects": switchable}


def layout(request: HttpRequest) -> dict:
    """The navigation with the current section marked, and what API snippets need to connect."""
    items = []
    for label, name in NAVIGATION:
        url = reverse(name)
        current = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": label, "url": url, "current": current})
    return {
        "nav_items": items,
        "api_endpoint_url": request.build_absolute_uri("/"),
        "api_region": settings.ENGAGE_REGION,
    }
