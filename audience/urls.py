from django.urls import path

from audience import views

app_name = "audience"
urlpatterns = [
    path("audience/", views.endpoints, name="endpoints"),
    path("segments/", views.segments, name="segments"),
]
