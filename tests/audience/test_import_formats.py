import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from audience.formats import RecordReader
from audience.validation import MAX_ENDPOINT_BYTES

HEADER = ["Id", "ChannelType", "Address", "Location.Latitude", "Metrics.visits", "User.UserId"]
HEADER += [f"Attributes.a{i}" for i in range(6)] + ["Attributes.a0", "User.UserAttributes.Näme"]


def records(rows: list[list[str]], header: list[str] = HEADER):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return list(RecordReader([out.getvalue().encode()], format="CSV"))


cells = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=400)


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, min_size=len(HEADER) - 3, max_size=len(HEADER) - 3), st.integers(0, 90))
def test_a_row_marked_small_and_clean_serializes_under_15_kb_without_nul(texts, latitude):
    row = ["ep-1", "EMAIL", *texts[:1], str(latitude), "3", *texts[1:]]

    (record,) = records([row])

    if record.small_and_clean:
        serialized = json.dumps(record.body, separators=(",", ":"))
        assert len(serialized.encode()) <= MAX_ENDPOINT_BYTES
        assert "\\u0000" not in serialized


def test_a_short_row_is_small_and_clean_and_a_long_or_nul_one_is_not():
    short = ["ep-1", "EMAIL", "a@example.com", "", "", "", *["x"] * 8]
    long = ["ep-2", "EMAIL", "b@example.com", "", "", "", *["x" * 400] * 8]
    nul = ["ep-3", "EMAIL", "c@example.com", "", "", "", "x\x00y", *["x"] * 7]

    flags = [record.small_and_clean for record in records([short, long, nul])]

    assert flags == [True, False, False]
