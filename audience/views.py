"""Audience pages. Endpoints, imports and segments arrive in later issues; until then these pages
say what will be here and how data will get in."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from projects.middleware import project_required


@login_required
@require_GET
@project_required
def endpoints(request: HttpRequest) -> HttpResponse:
    return render(request, "audience/endpoints.html", {"project": request.project})


@login_required
@require_GET
@project_required
def segments(request: HttpRequest) -> HttpResponse:
    return render(request, "audience/segments.html", {"project": request.project})
