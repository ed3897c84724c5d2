from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = "Journeys"

    def ready(self) -> None:
        from audience.signals import events_stored
        from journeys.engine.triggers import journey_events_received
        from journeys.models import Journey
        from projects import tagging

        tagging.register("journeys", lambda project, rest: Journey.objects.filter(project=project, pk=rest).first())
        events_stored.connect(journey_events_received, dispatch_uid="engage.journey_triggers")
