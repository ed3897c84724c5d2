from django.urls import include, path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("campaigns/", views.campaigns, name="campaigns"),
    path("", include("campaigns.template_page_urls")),
    path("", include("campaigns.campaign_page_urls")),
    path("", include("campaigns.channel_page_urls")),
]
