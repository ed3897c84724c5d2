"""Journey pages. Journeys are built in a later issue; until then this page says what will be here."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from projects.middleware import project_required


@login_required
@require_GET
@project_required
def journeys(request: HttpRequest) -> HttpResponse:
    return render(request, "journeys/journeys.html", {"project": request.project})
