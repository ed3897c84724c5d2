from django.core.management.base import BaseCommand, CommandError

from audience.analytics.rollups import rollup_rebuild
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Recompute the analytics rollup (daily event counts, first opens and clicks, active endpoints) "
        "of projects from their stored events. Needed once after upgrading to a version with analytics; "
        "the counts stay current by themselves afterwards."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("project_ids", nargs="*", help="Project ids (default: every project).")

    def handle(self, *args, project_ids: list[str], **options) -> None:
        projects = Project.objects.order_by("id")
        if project_ids:
            projects = projects.filter(id__in=project_ids)
            missing = set(project_ids) - set(projects.values_list("id", flat=True))
            if missing:
                raise CommandError(f"No such project: {', '.join(sorted(missing))}")
        for project in projects:
            read = rollup_rebuild(project.id)
            self.stdout.write(f"{project.id} ({project.name}): {read} event(s) counted")
