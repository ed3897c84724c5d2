from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from anymail.signals import tracking
        from django.db.models.signals import pre_delete

        from audience.models import Segment
        from audience.signals import events_stored
        from campaigns.campaigns import campaigns_segment_deleted
        from campaigns.metrics import deliveries_today, outbox_backlog
        from campaigns.models import Campaign
        from campaigns.templates import template_for_tagging
        from campaigns.tracking_views import anymail_tracking_received
        from campaigns.triggers import events_stored_received
        from engage.metrics import SCRAPE_GAUGES
        from projects import tagging

        tagging.register_account("templates", template_for_tagging)
        tagging.register("campaigns", lambda project, rest: Campaign.objects.filter(project=project, pk=rest).first())
        # Pinpoint's rule: deleting a segment makes its campaigns DELETED (Campaign.segment is SET_NULL).
        pre_delete.connect(
            lambda sender, instance, **kwargs: campaigns_segment_deleted(instance),
            sender=Segment,
            weak=False,
            dispatch_uid="engage.campaigns_segment_deleted",
        )
        tracking.connect(anymail_tracking_received, dispatch_uid="engage.anymail_tracking")
        events_stored.connect(events_stored_received, dispatch_uid="engage.campaign_triggers")
        for gauge in (outbox_backlog, deliveries_today):
            if gauge not in SCRAPE_GAUGES:
                SCRAPE_GAUGES.append(gauge)
