"""CSV downloads of the tables the pages show, safe to open in a spreadsheet.

A cell that a spreadsheet would read as a formula (it starts with =, +, -, @, a tab, a carriage
return or a NUL: OWASP's "CSV injection", ASVS 5.0 1.2.10) is written with a leading apostrophe, so
names, attributes and event types written by users or API clients cannot run in the marketer's
spreadsheet. Numbers are written as numbers (a negative number stays a number).
"""

import csv
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\x00")


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    """A text/csv attachment named `filename`: the header row, then `rows`, every cell made safe."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([csv_cell(name) for name in header])
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return response
