"""Regenerate engage/api/operations.json from botocore's Pinpoint service model.

    .venv/bin/python scripts/pinpoint_operations.py

The table lets Engage tell "an operation Engage has not built" from "no such route"; a test
checks it still matches the installed botocore.
"""

import gzip
import json
import sys
from pathlib import Path

import botocore

MODEL = Path(botocore.__file__).parent / "data" / "pinpoint" / "2016-12-01" / "service-2.json.gz"
OUT = Path(__file__).resolve().parent.parent / "engage" / "api" / "operations.json"


def build() -> list[dict]:
    model = json.loads(gzip.decompress(MODEL.read_bytes()))
    return sorted(
        (
            {"name": name, "method": op["http"]["method"], "uri": op["http"]["requestUri"].split("?")[0]}
            for name, op in model["operations"].items()
        ),
        key=lambda op: (op["uri"], op["method"]),
    )


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    sys.stdout.write(f"wrote {OUT}\n")
