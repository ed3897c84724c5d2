from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from campaigns.templates import template_for_tagging
        from projects import tagging

        tagging.register_account("templates", template_for_tagging)
