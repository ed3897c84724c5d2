from django.urls import path

from audience.api import kpi_views
from campaigns.api import campaign_views as views
from campaigns.models import Campaign

APP = "apps/<str:application_id>/campaigns"

urlpatterns = [
    path(APP, views.CampaignsView.as_view(), name="pinpoint-campaigns"),
    path(f"{APP}/<str:campaign_id>", views.CampaignView.as_view(), name="pinpoint-campaign"),
    path(f"{APP}/<str:campaign_id>/versions", views.CampaignVersionsView.as_view(), name="pinpoint-campaign-versions"),
    path(
        f"{APP}/<str:campaign_id>/versions/<str:version>",
        views.CampaignVersionView.as_view(),
        name="pinpoint-campaign-version",
    ),
    path(
        f"{APP}/<str:campaign_id>/activities",
        views.CampaignActivitiesView.as_view(),
        name="pinpoint-campaign-activities",
    ),
    path(
        f"{APP}/<str:resource_id>/kpis/daterange/<str:kpi_name>",
        kpi_views.CampaignKpiView.as_view(model=Campaign),
        name="pinpoint-campaign-kpi",
    ),
]
