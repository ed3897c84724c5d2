from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = "Journeys"

    def ready(self) -> None:
        from journeys.models import Journey
        from projects import tagging

        tagging.register("journeys", lambda project, rest: Journey.objects.filter(project=project, pk=rest).first())
