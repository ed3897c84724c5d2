import json
from pathlib import Path

from django.core.management.base import BaseCommand

from engage.api.openapi import document


class Command(BaseCommand):
    help = "Print the OpenAPI document of the /v1/ API (from botocore's Pinpoint model), or write it to a file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", "-o", help="Write to this file instead of printing.")
        parser.add_argument("--server", help="The base URL to name in `servers` (e.g. https://engage.example.com).")

    def handle(self, *args, **options) -> None:
        doc = dict(document())
        if options["server"]:
            doc["servers"] = [{"url": options["server"]}]
        text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        Path(options["output"]).write_text(text)
        self.stderr.write(f"wrote {options['output']}")
