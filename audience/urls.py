from django.urls import path

from audience import views

app_name = "audience"
urlpatterns = [
    path("audience/", views.endpoints, name="endpoints"),
    # Endpoint ids may hold any character but $ { }, slashes and spaces included.
    path("audience/endpoints/<path:endpoint_id>", views.endpoint_detail, name="endpoint"),
    path("segments/", views.segments, name="segments"),
]
