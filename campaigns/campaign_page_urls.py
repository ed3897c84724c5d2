from django.urls import path

from campaigns import campaign_pages, campaign_wizard

# Mounted in campaigns/urls.py; the list itself is campaigns:campaigns (/campaigns/).
urlpatterns = [
    path("campaigns/calendar/", campaign_pages.campaign_calendar, name="campaign_calendar"),
    path("campaigns/new/", campaign_wizard.wizard_start, name="campaign_new"),
    path("campaigns/new/segment-size/", campaign_wizard.wizard_segment_size, name="wizard_segment_size"),
    path("campaigns/new/preview/<int:index>/", campaign_wizard.wizard_preview, name="wizard_preview"),
    path("campaigns/new/<str:step>/", campaign_wizard.wizard_step, name="wizard_step"),
    path("campaigns/<str:campaign_id>/", campaign_pages.campaign_detail, name="campaign"),
    path("campaigns/<str:campaign_id>/daily.csv", campaign_pages.campaign_results_csv, name="campaign_daily_csv"),
    path(
        "campaigns/<str:campaign_id>/treatments.csv",
        campaign_pages.campaign_treatments_csv,
        name="campaign_treatments_csv",
    ),
    path("campaigns/<str:campaign_id>/runs.csv", campaign_pages.campaign_runs_csv, name="campaign_runs_csv"),
    path("campaigns/<str:campaign_id>/pause/", campaign_pages.campaign_pause, name="campaign_pause"),
    path("campaigns/<str:campaign_id>/resume/", campaign_pages.campaign_resume, name="campaign_resume"),
    path("campaigns/<str:campaign_id>/delete/", campaign_pages.campaign_delete_page, name="campaign_delete"),
]
