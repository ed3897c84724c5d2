from django.apps import AppConfig


class AudienceConfig(AppConfig):
    name = "audience"
    verbose_name = "Audience"

    def ready(self) -> None:
        from audience.models import Segment
        from projects import tagging

        tagging.register("segments", lambda project, rest: Segment.objects.filter(project=project, pk=rest).first())
