from django.urls import path, re_path

from campaigns.api import template_views as views
from campaigns.models import TemplateType

# The CRUD paths end in a lowercase literal per type; versions and active-version take the type as
# a label (EMAIL, SMS...).
NAME = r"(?P<template_name>[^/]+)"
PATH_OF_TYPE = {
    TemplateType.EMAIL: "email",
    TemplateType.SMS: "sms",
    TemplateType.VOICE: "voice",
    TemplateType.PUSH: "push",
    TemplateType.INAPP: "inapp",
}

urlpatterns = [
    path("templates", views.TemplatesView.as_view(), name="pinpoint-templates"),
    re_path(
        rf"^templates/{NAME}/(?P<template_type>[^/]+)/versions$",
        views.TemplateVersionsView.as_view(),
        name="pinpoint-template-versions",
    ),
    re_path(
        rf"^templates/{NAME}/(?P<template_type>[^/]+)/active-version$",
        views.TemplateActiveVersionView.as_view(),
        name="pinpoint-template-active-version",
    ),
    *(
        re_path(
            rf"^templates/{NAME}/{segment}$",
            views.TemplateView.as_view(template_type=kind.value),
            name=f"pinpoint-template-{segment}",
        )
        for kind, segment in PATH_OF_TYPE.items()
    ),
]
