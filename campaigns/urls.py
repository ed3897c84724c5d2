from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("campaigns/", views.campaigns, name="campaigns"),
    path("templates/", views.templates, name="templates"),
]
