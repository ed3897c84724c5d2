"""Campaign and message template pages. Both are built in later issues; until then these pages
say what will be here and how to prepare."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from projects.middleware import project_required


@login_required
@require_GET
@project_required
def campaigns(request: HttpRequest) -> HttpResponse:
    return render(request, "campaigns/campaigns.html", {"project": request.project})


@login_required
@require_GET
@project_required
def templates(request: HttpRequest) -> HttpResponse:
    return render(request, "campaigns/templates.html", {"project": request.project})
