"""Public URLs of email links (tracking, unsubscribe) and of email providers' webhooks (anymail's:
/anymail/<esp>/tracking/). Mounted at the site root by engage/urls.py."""

from django.urls import include, path

from campaigns import tracking_views

urlpatterns = [
    path("e/o/<str:token>", tracking_views.email_open, name="email_open"),
    path("e/c/<str:token>", tracking_views.email_click, name="email_click"),
    path("e/u/<str:token>", tracking_views.email_unsubscribe, name="email_unsubscribe"),
    path("anymail/", include("anymail.urls")),
]
