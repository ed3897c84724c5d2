from django.urls import path

from campaigns.api import message_views

urlpatterns = [
    path("apps/<str:application_id>/messages", message_views.MessagesView.as_view(), name="pinpoint-messages"),
    path(
        "apps/<str:application_id>/users-messages",
        message_views.UsersMessagesView.as_view(),
        name="pinpoint-users-messages",
    ),
    path("apps/<str:application_id>/otp", message_views.OtpView.as_view(), name="pinpoint-otp"),
    path("apps/<str:application_id>/verify-otp", message_views.VerifyOtpView.as_view(), name="pinpoint-verify-otp"),
]
