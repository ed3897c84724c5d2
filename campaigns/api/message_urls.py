from django.urls import path

from campaigns.api import message_views

urlpatterns = [
    path("apps/<str:application_id>/messages", message_views.MessagesView.as_view(), name="pinpoint-messages"),
]
