from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from anymail.signals import tracking

        from audience.signals import events_stored
        from campaigns.templates import template_for_tagging
        from campaigns.tracking_views import anymail_tracking_received
        from campaigns.triggers import events_stored_received
        from projects import tagging

        tagging.register_account("templates", template_for_tagging)
        tracking.connect(anymail_tracking_received, dispatch_uid="engage.anymail_tracking")
        events_stored.connect(events_stored_received, dispatch_uid="engage.campaign_triggers")
