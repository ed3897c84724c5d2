"""The campaigns page. Campaigns are built in a later issue; until then this page says what will be
here and how to prepare. (Message template pages are campaigns.template_pages.)"""

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
