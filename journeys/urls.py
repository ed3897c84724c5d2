from django.urls import include, path

app_name = "journeys"
urlpatterns = [
    path("", include("journeys.page_urls")),
]
