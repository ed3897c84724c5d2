from django.urls import include, path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("campaigns/", views.campaigns, name="campaigns"),
    path("templates/", views.templates, name="templates"),
    path("", include("campaigns.channel_page_urls")),
]
