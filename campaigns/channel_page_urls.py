from django.urls import path

from campaigns import channel_pages

urlpatterns = [
    path("channels/", channel_pages.channels, name="channels"),
    path("channels/<slug:slug>/", channel_pages.channel_detail, name="channel"),
    path("channels/<slug:slug>/enable/", channel_pages.channel_enable, name="channel_enable"),
    path("channels/<slug:slug>/delete/", channel_pages.channel_delete_view, name="channel_delete"),
    path("channels/<slug:slug>/test/", channel_pages.channel_test, name="channel_test"),
]
