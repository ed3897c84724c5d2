"""CSV downloads: formula-like cells are neutralised, numbers stay numbers."""

import csv
import io

from engage.csv_export import csv_response


def test_formula_cells_get_an_apostrophe_and_numbers_stay_numbers():
    response = csv_response(
        "t.csv", ["name", "count"], [['=HYPERLINK("http://x")', 3], ["@SUM(A1)", -2], ["+1", 0.5], ["plain", None]]
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="t.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["name", "count"],
        ['\'=HYPERLINK("http://x")', "3"],
        ["'@SUM(A1)", "-2"],
        ["'+1", "0.5"],
        ["plain", ""],
    ]
