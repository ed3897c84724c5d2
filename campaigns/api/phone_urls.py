from django.urls import path

from campaigns.api import phone_views

urlpatterns = [
    path("phone/number/validate", phone_views.PhoneNumberValidateView.as_view(), name="pinpoint-phone-validate"),
]
