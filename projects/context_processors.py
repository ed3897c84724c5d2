from django.http import HttpRequest


def current_project(request: HttpRequest) -> dict:
    """Expose the project chosen in the switcher (set by projects.views) to every template."""
    return {"current_project": getattr(request, "project", None)}
