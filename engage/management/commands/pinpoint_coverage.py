from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from engage.api.coverage import markdown

DEFAULT = Path(settings.BASE_DIR) / "docs" / "pinpoint-api.md"


class Command(BaseCommand):
    help = "Write the table of Pinpoint operations Engage serves (docs/pinpoint-api.md)."

    def add_arguments(self, parser) -> None:
        # Not --stdout: Django's BaseCommand.execute reads options["stdout"] as a stream.
        parser.add_argument(
            "--print", action="store_true", dest="print_only", help="Print instead of writing the file."
        )

    def handle(self, *args, **options) -> None:
        text = markdown()
        if options["print_only"]:
            self.stdout.write(text, ending="")
            return
        DEFAULT.parent.mkdir(exist_ok=True)
        DEFAULT.write_text(text)
        self.stderr.write(f"wrote {DEFAULT}")
