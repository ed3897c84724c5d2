from django.core.management.base import BaseCommand

from engage.schedules import sync_schedules


class Command(BaseCommand):
    help = "Create or update Engage's recurring tasks in django-q2 (idempotent)."

    def handle(self, *args, **options) -> None:
        names = sync_schedules()
        self.stdout.write(f"{len(names)} schedule(s) in place: {', '.join(names)}")
